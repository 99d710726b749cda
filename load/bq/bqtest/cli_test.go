package bqtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// credregBinary builds the credreg command once, as a user builds it.
var credregBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "credreg-bqtest-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "credreg")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/credreg")
	cmd.Dir = filepath.Join("..", "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/credreg: %v\n%s", err, out)
	}
	return bin, nil
})

// credreg runs the command with BIGQUERY_EMULATOR_HOST pointing at e, as
// the README shows for a standalone emulator, and returns its output and
// exit status.
func credreg(t *testing.T, e *emulator, args ...string) (string, int) {
	t.Helper()
	bin, err := credregBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Env = append(os.Environ(), "BIGQUERY_EMULATOR_HOST="+strings.TrimPrefix(e.URL, "http://"))
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// manifests reads every published manifest of a local warehouse.
func manifests(t *testing.T, wh string) []pipeline.Manifest {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(wh, "_manifests", "snapshot_date=*", "tenant_id=*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []pipeline.Manifest
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m pipeline.Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// `credreg run --demo --sink parquet,bigquery` for three dates of two
// tenants, and a rerun of one date: every (date, tenant) of every table
// holds in BigQuery exactly the rows of its Parquet files, of the run the
// manifest names; nothing is doubled; load_runs has a row per run and
// tenant.
func TestRunLoadsBigQueryAsTheREADMEShows(t *testing.T) {
	e := newEmulator(t)
	wh := filepath.Join(t.TempDir(), "warehouse")
	dates := []string{"2026-11-18", "2026-11-19", "2026-11-20"}
	run := func(date string) {
		t.Helper()
		out, code := credreg(t, e, "run", "--demo", "--demo-tenants", "2", "--demo-users", "300", "--date", date,
			"--warehouse", wh, "--sink", "parquet,bigquery", "--bq-project", project, "--bq-dataset", dataset)
		if code != 0 {
			t.Fatalf("credreg run --date %s: exit %d\n%s", date, code, out)
		}
		if !strings.Contains(out, "bigquery://"+project+"/"+dataset) {
			t.Errorf("the run does not say where it loaded:\n%s", out)
		}
	}
	for _, d := range dates {
		run(d)
	}
	run(dates[1])

	ms := manifests(t, wh)
	if len(ms) != 6 {
		t.Fatalf("%d manifests, want 6", len(ms))
	}
	for _, table := range schemas.Tables {
		f := table.Name
		counts := e.countsBySlice(t, f)
		for _, m := range ms {
			slice := m.SnapshotDate + " " + m.Tenant
			var want int64
			for _, fi := range m.Files {
				if fi.Table == f {
					want = fi.Rows
				}
			}
			if counts[slice] != want {
				t.Errorf("%s %s: %d rows in BigQuery, %d in the Parquet file", f, slice, counts[slice], want)
			}
			if m.BigQuery == nil || m.BigQuery.Status != "loaded" || len(m.BigQueryJobs) != len(schemas.Tables) {
				t.Errorf("%s: the manifest does not record the load: %+v", slice, m.BigQuery)
			}
		}
		if len(counts) > 6 {
			t.Errorf("%s: %d slices in BigQuery, want 6", f, len(counts))
		}
	}
	rows := e.query(t, fmt.Sprintf("SELECT COUNT(*) FROM `%s.load_runs`", dataset))
	if rows[0][0].(int64) != 8 {
		t.Errorf("load_runs has %v rows, want 8 (6 slices, 2 of them run twice)", rows[0][0])
	}

	// A run into Parquet alone, then a backfill into both: the backfill
	// loads the published files, replaying nothing.
	out, code := credreg(t, e, "run", "--demo", "--demo-tenants", "2", "--demo-users", "300", "--date", dates[1],
		"--warehouse", wh)
	if code != 0 {
		t.Fatalf("credreg run into Parquet alone: exit %d\n%s", code, out)
	}
	out, code = credreg(t, e, "backfill", "--from", dates[0], "--to", dates[2], "--warehouse", wh,
		"--sink", "parquet,bigquery", "--bq-project", project, "--bq-dataset", dataset)
	// The day after the rerun day is replayed: its registration_changes
	// compared with the slice the rerun replaced.
	if code != 0 || !strings.Contains(out, "2 loaded into BigQuery") || !strings.Contains(out, "2 up to date") ||
		!strings.Contains(out, "2 replayed") {
		t.Errorf("backfill --sink parquet,bigquery after a Parquet-only run: exit %d, want 2 loaded, 2 replayed for their changes and 2 up to date\n%s", code, out)
	}
	ms = manifests(t, wh)
	for _, m := range ms {
		if m.SnapshotDate != dates[1] {
			continue
		}
		got := e.query(t, fmt.Sprintf("SELECT DISTINCT run_id FROM `%s.user_registration_details` WHERE tenant_id = '%s' AND snapshot_date = '%s'",
			dataset, m.Tenant, m.SnapshotDate))
		if len(got) != 1 || got[0][0] != m.RunID {
			t.Errorf("%s %s after the rerun: run ids %v, want only %s", m.SnapshotDate, m.Tenant, got, m.RunID)
		}
	}
}

// A run whose BigQuery swap is refused publishes the Parquet slice, says
// so and exits 3 (partial); backfill --sink parquet,bigquery then loads it
// from the published files, without Graph.
func TestRunPublishedButNotLoadedExitsPartial(t *testing.T) {
	e := newEmulator(t)
	wh := filepath.Join(t.TempDir(), "warehouse")
	args := []string{"--warehouse", wh, "--sink", "parquet,bigquery", "--bq-project", project, "--bq-dataset", dataset}
	e.mu.Lock()
	e.refuse = func(r request) bool { return strings.Contains(string(r.Body), "BEGIN TRANSACTION") }
	e.mu.Unlock()
	out, code := credreg(t, e, append([]string{"run", "--demo", "--demo-users", "200", "--date", "2026-11-20"}, args...)...)
	if code != 3 || !strings.Contains(out, "NOT loaded into bigquery://") {
		t.Fatalf("a run whose swap is refused: exit %d, want 3 saying the slice is not loaded\n%s", code, out)
	}
	ms := manifests(t, wh)
	if len(ms) != 1 || ms[0].BigQuery == nil || ms[0].BigQuery.Status != "failed" {
		t.Fatalf("the Parquet slice is not published with a manifest saying the load failed: %+v", ms)
	}
	if n := e.countsBySlice(t, "user_registration_details"); len(n) != 0 {
		t.Errorf("BigQuery holds %v after a refused swap", n)
	}
	e.mu.Lock()
	e.refuse = nil
	e.mu.Unlock()
	out, code = credreg(t, e, append([]string{"backfill", "--from", "2026-11-20"}, args...)...)
	if code != 0 || !strings.Contains(out, "1 loaded into BigQuery") {
		t.Fatalf("backfill after the refused swap: exit %d\n%s", code, out)
	}
	if n := e.countsBySlice(t, "user_registration_details"); n["2026-11-20 "+ms[0].Tenant] != ms[0].Counts.Users {
		t.Errorf("BigQuery after the backfill: %v, want %d users", n, ms[0].Counts.Users)
	}
}
