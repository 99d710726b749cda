package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/pipeline/metrics"
)

// A warehouse with a missed night and a failed run, both made by real
// runs: demo snapshots four, three and one day ago (two days ago is
// missed), then a run of today that breaches the data contract.
func TestStatus(t *testing.T) {
	t.Parallel() // most of its time is Graph's throttle: it sleeps
	now := time.Now().UTC()
	ago := func(n int) string { return now.AddDate(0, 0, -n).Format(time.DateOnly) }
	wh := filepath.Join(t.TempDir(), "wh")
	for _, n := range []int{4, 3, 1} {
		code, stdout, stderr := runCmd(t, credregCmd(context.Background(), nil, "run", "--demo", "--demo-users", "150",
			"--shards", "off", "--date", ago(n), "--warehouse", wh, "--progress", "none"))
		if code != exitOK {
			t.Fatalf("demo run of %s: exit %d\n%s%s", ago(n), code, stdout, stderr)
		}
	}
	url, ca := startSimulator(t, "--users", "200", "--bad-records-after", "10", "--no-throttle")
	code, stdout, stderr := runCmd(t, credregCmd(context.Background(), simEnv(url, ca), "run", "--warehouse", wh,
		"--progress", "none", "--shards", "off", "--tenant-rate", "100/1s"))
	if code != exitContract {
		t.Fatalf("breaching run: exit %d, want %d\n%s%s", code, exitContract, stdout, stderr)
	}
	tenant := graphsim.TenantID(0) // the demo's tenant and the simulator's
	last := readManifestFile(t, filepath.Join(wh, "_manifests", "snapshot_date="+ago(1), "tenant_id="+tenant+".json"))

	// JSON, for machines.
	code, stdout, stderr = runCmd(t, credregCmd(context.Background(), nil, "status", "--warehouse", wh, "--format", "json", "--days", "30"))
	if code != exitOK {
		t.Fatalf("status: exit %d\n%s%s", code, stdout, stderr)
	}
	var got []metrics.TenantStatus
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(got) != 1 || got[0].Tenant != tenant {
		t.Fatalf("tenants: %+v", got)
	}
	st := got[0]
	if st.Last == nil || st.Last.Date != ago(1) || st.Last.RunID != last.RunID || st.DaysSinceLastSlice != 1 {
		t.Errorf("last slice %+v, %d days ago; want %s of run %s, 1 day ago", st.Last, st.DaysSinceLastSlice, ago(1), last.RunID)
	}
	if want := []string{ago(2)}; !slices.Equal(st.Gaps, want) {
		t.Errorf("gaps %v, want %v", st.Gaps, want)
	}
	f := st.LastFailure
	if f == nil || f.Status != pipeline.StatusContractBreached || f.Date != ago(0) ||
		!strings.Contains(f.Error, "records rejected") || !strings.Contains(f.Where, "_failed") {
		t.Errorf("last failure: %+v", f)
	}

	// The table, for people.
	code, stdout, stderr = runCmd(t, credregCmd(context.Background(), nil, "status", "--warehouse", wh))
	if code != exitOK {
		t.Fatalf("status: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"tenant " + tenant, "last slice     " + ago(1) + ", 1 day ago (run " + last.RunID,
		"gaps           1 in the last 90 days: " + ago(2), "last failure   " + ago(0) + ", run ", "contract_breached: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, stdout)
		}
	}

	// --stale: exit 3 once the newest slice is older than that.
	for _, c := range []struct {
		stale string
		want  int
	}{{"1h", exitOK}, {"1ms", exitPartial}} {
		code, stdout, stderr = runCmd(t, credregCmd(context.Background(), nil, "status", "--warehouse", wh, "--stale", c.stale))
		if code != c.want {
			t.Errorf("--stale %s: exit %d, want %d\n%s%s", c.stale, code, c.want, stdout, stderr)
		}
		if c.want == exitPartial && !strings.Contains(stderr, tenant+" ("+ago(1)+")") {
			t.Errorf("--stale %s does not name the tenant:\n%s", c.stale, stderr)
		}
	}
}

// readManifestFile reads a manifest JSON file.
func readManifestFile(t *testing.T, path string) pipeline.Manifest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m pipeline.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestStatusRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		o    statusOptions
		want string
	}{
		{statusOptions{Warehouse: dir, Days: 90, Format: "yaml"}, "want table or json"},
		{statusOptions{Warehouse: dir, Days: 0, Format: "table"}, "--days 0"},
		{statusOptions{Warehouse: dir, Days: 90, Format: "table", Stale: -time.Hour}, "--stale"},
		{statusOptions{Warehouse: filepath.Join(dir, "nowhere"), Days: 90, Format: "table"}, "does not exist"},
	} {
		err := runStatus(context.Background(), c.o, &bytes.Buffer{}, time.Now())
		if exitCode(context.Background(), err) != exitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want a usage error with %q", c.o, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nowhere")); err == nil {
		t.Error("status made the warehouse it was pointed at")
	}
	var out bytes.Buffer
	if err := runStatus(context.Background(), statusOptions{Warehouse: dir, Days: 90, Format: "table"}, &out, time.Now()); err != nil ||
		!strings.Contains(out.String(), "holds no published slice") {
		t.Errorf("an empty warehouse: %v\n%s", err, out.String())
	}
	err := runStatus(context.Background(), statusOptions{Warehouse: dir, Days: 90, Format: "table", Stale: time.Hour}, &out, time.Now())
	if exitCode(context.Background(), err) != exitPartial {
		t.Errorf("an empty warehouse with --stale: %v, want exit status %d", err, exitPartial)
	}
}

func TestDayRanges(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"2026-11-01"}, "2026-11-01"},
		{[]string{"2026-11-30", "2026-12-01", "2026-12-02", "2026-12-05"}, "2026-11-30..2026-12-02, 2026-12-05"},
		{[]string{"2026-11-01", "2026-11-03"}, "2026-11-01, 2026-11-03"},
	} {
		if got := dayRanges(c.in); got != c.want {
			t.Errorf("dayRanges(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestAgo(t *testing.T) {
	for _, c := range []struct {
		in   time.Duration
		want string
	}{{30 * time.Second, "under a minute"}, {time.Minute, "1m"}, {26*time.Hour + 5*time.Minute + 20*time.Second, "26h5m"}, {49 * time.Hour, "49h"}} {
		if got := ago(c.in); got != c.want {
			t.Errorf("ago(%s) = %q, want %q", c.in, got, c.want)
		}
	}
}
