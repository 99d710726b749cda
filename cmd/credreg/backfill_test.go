package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// The backfill tests' range: ten consecutive past days, each snapshotted
// by a demo run of two simulated tenants whose data evolves day by day.
const (
	backfillFrom    = "2026-11-11"
	backfillTo      = sliceDate // 2026-11-20
	backfillDays    = 10
	backfillTenants = 2
)

// backfillBase runs `credreg run --demo` for every day of the range into
// a new warehouse and returns it with every table's rows but run_id.
func backfillBase(t *testing.T) (string, map[string][]string) {
	t.Helper()
	base := filepath.Join(t.TempDir(), "base")
	day, _ := time.Parse(time.DateOnly, backfillFrom)
	for i := range backfillDays {
		d := day.AddDate(0, 0, i).Format(time.DateOnly)
		out, err := credregCmd(context.Background(), nil, "run", "--demo", "--demo-tenants", fmt.Sprint(backfillTenants),
			"--demo-users", "150", "--date", d, "--warehouse", base, "--progress", "none", "--shards", "off").CombinedOutput()
		if err != nil {
			t.Fatalf("run --date %s: %v\n%s", d, err, out)
		}
	}
	rows := warehouseRows(t, base, "run_id")
	if n := len(rows["user_registration_details"]); n != backfillDays*backfillTenants*150 {
		t.Fatalf("the runs wrote %d users, want %d", n, backfillDays*backfillTenants*150)
	}
	return base, rows
}

// warehouseRows reads every slice of every table back, one JSON line per
// row, prefixed by its slice and table and sorted, without the columns
// named in drop.
func warehouseRows(t *testing.T, dir string, drop ...string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	wh, err := load.OpenWarehouse(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	for _, c := range drop {
		if !slices.ContainsFunc(schemas.Tables, func(t *schemas.Table) bool { return t.Arrow().FieldIndices(c) != nil }) {
			t.Fatalf("no table has a column %s to leave out", c)
		}
	}
	out := map[string][]string{}
	for _, table := range schemas.Tables {
		keys, err := wh.Slices(ctx, table)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range keys {
			tbl, err := wh.ReadSlice(ctx, table, key)
			if err != nil {
				t.Fatal(err)
			}
			tr := array.NewTableReader(tbl, 0)
			for tr.Next() {
				var buf bytes.Buffer
				if err := array.RecordToJSON(tr.RecordBatch(), &buf); err != nil {
					t.Fatal(err)
				}
				sc := bufio.NewScanner(&buf)
				sc.Buffer(nil, 1<<24)
				for sc.Scan() {
					var row map[string]any
					dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
					dec.UseNumber()
					if err := dec.Decode(&row); err != nil {
						t.Fatal(err)
					}
					for _, c := range drop {
						delete(row, c)
					}
					b, _ := json.Marshal(row) // sorted keys
					out[table.Name] = append(out[table.Name], sliceName(key)+" "+string(b))
				}
			}
			tr.Release()
			tbl.Release()
		}
		slices.Sort(out[table.Name])
	}
	return out
}

// sameRows reports the first difference between two warehouses' rows.
func sameRows(t *testing.T, got, want map[string][]string) {
	t.Helper()
	for _, table := range schemas.Tables {
		g, w := got[table.Name], want[table.Name]
		if len(g) != len(w) {
			t.Errorf("%s: %d rows, want %d", table.Name, len(g), len(w))
			continue
		}
		for i := range g {
			if g[i] != w[i] {
				t.Errorf("%s: row %d differs:\n got %s\nwant %s", table.Name, i, g[i], w[i])
				break
			}
		}
	}
}

// dropSlices deletes every table and manifest of the warehouse at dir —
// everything but the raw zone.
func dropSlices(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "_raw" {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// copyWarehouse copies the warehouse at from into a new folder.
func copyWarehouse(t *testing.T, from string) string {
	t.Helper()
	wh := filepath.Join(t.TempDir(), "wh")
	if err := os.CopyFS(wh, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
	return wh
}

// treeHashes maps every file and folder under dir to its sha256 ("dir"
// for a folder).
func treeHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[p] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		out[p] = fmt.Sprintf("%x", sha256.Sum256(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// backfill runs `credreg backfill` with the binary bin and returns its
// exit status, stdout and stderr.
func backfill(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := credregCmd(context.Background(), env, append([]string{"backfill"}, args...)...)
	cmd.Path, cmd.Args[0] = bin, bin
	return runCmd(t, cmd)
}

// runCmd runs a credreg process and returns its exit status, stdout and
// stderr; one killed by a signal fails the test.
func runCmd(t *testing.T, cmd *exec.Cmd) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("%v: %v\n%s%s", cmd.Args, err, stdout.String(), stderr.String())
	return 0, "", ""
}

// totals is the report's last line for the counts given.
func totals(replayed, upToDate, noRaw, failed int) string {
	return fmt.Sprintf("%d replayed, %d up to date (skipped), %d no raw data, %d failed\n", replayed, upToDate, noRaw, failed)
}

// Ten days of runs of two tenants, then every table and manifest deleted,
// the raw zone kept: backfills rebuild them (see backfillRebuilds and
// backfillResumes).
func TestBackfillFromTheRawZone(t *testing.T) {
	t.Parallel() // most of its time is Graph's throttle: it sleeps
	if testing.Short() {
		t.Skip("runs a dozen processes")
	}
	base, want := backfillBase(t)
	t.Run("rebuild", func(t *testing.T) { backfillRebuilds(t, base, want) })
	t.Run("killed", func(t *testing.T) { backfillResumes(t, base, want) })
	t.Run("killed mid-publish", func(t *testing.T) { backfillResumesMidPublish(t, base, want) })
}

// The first "Done when": a backfill of the range rebuilds the
// same rows (all but run_id) as the runs wrote. A dry run first writes
// nothing. Run again with the same build, the backfill replays nothing;
// with another build (the test binary with bytes appended, which ELF
// ignores), it replays every slice.
func backfillRebuilds(t *testing.T, base string, want map[string][]string) {
	slicesInRange := backfillDays * backfillTenants
	// The simulated tenants change from day to day: a backfill that
	// replayed one day's pages into every day would not pass.
	day1, day10 := rowsOf(want["user_auth_methods"], backfillFrom), rowsOf(want["user_auth_methods"], backfillTo)
	if slices.Equal(day1, day10) {
		t.Fatal("the first and the last day have the same methods: the test cannot tell days apart")
	}

	wh := copyWarehouse(t, base)
	dropSlices(t, wh)
	before := treeHashes(t, wh)
	self := os.Args[0]
	// One day before the range has no raw data: reported, not a failure.
	dayBefore := "2026-11-10"
	args := []string{"--from", dayBefore, "--to", backfillTo, "--warehouse", wh, "--progress", "none"}
	code, out, errs := backfill(t, self, nil, append(args, "--dry-run")...)
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errs)
	}
	t.Logf("dry run:\n%s", out)
	if want := fmt.Sprintf("%d to replay (", slicesInRange); !strings.Contains(out, want) ||
		!strings.Contains(out, fmt.Sprintf("0 up to date (skipped), %d no raw data\n", backfillTenants)) {
		t.Errorf("the plan does not count %d slices to replay and %d without raw data:\n%s", slicesInRange, backfillTenants, out)
	}
	if !sameHashes(before, treeHashes(t, wh)) {
		t.Error("--dry-run changed the warehouse")
	}
	// Into a warehouse not made yet, from the raw zone of another: every
	// slice to replay, and still nothing made.
	fresh := filepath.Join(t.TempDir(), "not-yet")
	code, out, errs = backfill(t, self, nil, "--from", backfillFrom, "--to", backfillTo, "--warehouse", fresh,
		"--raw", filepath.Join(wh, "_raw"), "--dry-run")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d to replay (", slicesInRange)) || !strings.Contains(out, "(not made yet)") {
		t.Errorf("dry run into a warehouse not made yet: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("--dry-run made the warehouse folder: %v", err)
	}

	code, out, errs = backfill(t, self, nil, args...)
	if code != 0 {
		t.Fatalf("backfill: exit %d\n%s%s", code, out, errs)
	}
	t.Logf("backfill:\n%s", out)
	if !strings.HasSuffix(out, totals(slicesInRange, 0, backfillTenants, 0)) {
		t.Errorf("report:\n%s", out)
	}
	sameRows(t, warehouseRows(t, wh, "run_id"), want)
	checkReplayedManifests(t, wh)

	// The same build again: every slice is up to date.
	code, out, errs = backfill(t, self, nil, args...)
	if code != 0 || !strings.HasSuffix(out, totals(0, slicesInRange, backfillTenants, 0)) {
		t.Errorf("second backfill: exit %d\n%s%s", code, out, errs)
	}

	// Another build: every slice is replayed.
	if b := pipeline.CurrentBuild(); b.Binary == "" {
		t.Fatalf("the test binary's build %s is pinned by VCS, not by its checksum: a copy with bytes appended is the same build", b)
	}
	other := filepath.Join(t.TempDir(), "credreg-rebuilt")
	exe, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, append(exe, "another build"...), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, errs = backfill(t, other, nil, append(args, "--parallel", "3")...)
	if code != 0 || !strings.HasSuffix(out, totals(slicesInRange, 0, backfillTenants, 0)) {
		t.Errorf("backfill by another build: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "built by another credreg build") {
		t.Errorf("the report does not say why it replays:\n%s", out)
	}
	sameRows(t, warehouseRows(t, wh, "run_id"), want)
}

// rowsOf keeps the rows of one day.
func rowsOf(rows []string, day string) []string {
	var out []string
	for _, r := range rows {
		if strings.HasPrefix(r, "snapshot_date="+day+"/") {
			out = append(out, r[strings.Index(r, " "):])
		}
	}
	return out
}

func sameHashes(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkReplayedManifests checks that every manifest of the warehouse says
// which raw run it was replayed from, and that the slice's tables are of
// the manifest's run.
func checkReplayedManifests(t *testing.T, wh string) {
	t.Helper()
	ms, _ := filepath.Glob(filepath.Join(wh, "_manifests", "snapshot_date=*", "tenant_id=*.json"))
	if len(ms) != backfillDays*backfillTenants {
		t.Errorf("%d manifests, want %d", len(ms), backfillDays*backfillTenants)
	}
	for _, p := range ms {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m pipeline.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m.ReplayedFrom == nil || m.ReplayedFrom.RunID == "" || m.ReplayedFrom.RunID == m.RunID {
			t.Errorf("%s: replayed_from %+v, run %s", p, m.ReplayedFrom, m.RunID)
		}
		day, _ := time.Parse(time.DateOnly, m.SnapshotDate)
		for _, table := range schemas.Tables {
			part := filepath.Join(wh, table.Name, sliceName(schemas.Key{Date: day, Tenant: m.Tenant}), "part-00000.parquet")
			if run := parquetRunID(t, part); run != m.RunID {
				t.Errorf("%s is of run %s, its manifest of %s", part, run, m.RunID)
			}
		}
	}
}

// A backfill killed (SIGKILL) as its third slice ends, run again, skips
// the three finished slices, counted as up to date, and replays the rest;
// the tables end as the runs wrote them. The second backfill logs JSON:
// one record per slice and a summary, nothing on stdout.
func backfillResumes(t *testing.T, base string, want map[string][]string) {
	wh := copyWarehouse(t, base)
	dropSlices(t, wh)
	args := []string{"backfill", "--from", backfillFrom, "--to", backfillTo, "--warehouse", wh, "--progress", "none", "--parallel", "1"}
	killedRun(t, nil, args, backfillSlicePoint(3))

	code, out, errs := backfill(t, os.Args[0], nil, append(args[1:], "--log-format", "json")...)
	if code != 0 {
		t.Fatalf("backfill after the kill: exit %d\n%s%s", code, out, errs)
	}
	if out != "" {
		t.Errorf("JSON mode wrote to stdout:\n%s", out)
	}
	outcomes := map[string]int{}
	var summary map[string]any
	for _, line := range strings.Split(strings.TrimSpace(errs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		switch rec["msg"] {
		case "backfill slice":
			outcomes[rec["outcome"].(string)]++
		case "backfill summary":
			summary = rec
		}
	}
	n := backfillDays * backfillTenants
	if outcomes[string(pipeline.OutcomeUpToDate)] != 3 || outcomes[string(pipeline.OutcomeReplayed)] != n-3 {
		t.Errorf("slices after the kill: %v, want 3 up to date and %d replayed\n%s", outcomes, n-3, errs)
	}
	if summary == nil || summary["up_to_date"] != 3.0 || summary["replayed"] != float64(n-3) || summary["failed"] != 0.0 {
		t.Errorf("summary record: %v", summary)
	}
	sameRows(t, warehouseRows(t, wh, "run_id"), want)
	checkReplayedManifests(t, wh)
}

// A backfill killed (SIGKILL) in the middle of a slice's publish, between
// two tables' renames, run again, finishes or undoes that publish under
// the slice's lease and ends with every table as the runs wrote it.
func backfillResumesMidPublish(t *testing.T, base string, want map[string][]string) {
	wh := copyWarehouse(t, base)
	dropSlices(t, wh)
	args := []string{"backfill", "--from", backfillFrom, "--to", backfillTo, "--warehouse", wh, "--progress", "none", "--parallel", "1"}
	killedRun(t, nil, args, load.StepPublishedMethods)
	if code, out, errs := backfill(t, os.Args[0], nil, args[1:]...); code != 0 {
		t.Fatalf("backfill after the kill: exit %d\n%s%s", code, out, errs)
	}
	sameRows(t, warehouseRows(t, wh, "run_id"), want)
	checkReplayedManifests(t, wh)
}

// A slice another writer holds (a lease the test takes): a backfill of it
// alone fails with exit status 7 naming the holder; a backfill of it and
// another day replays the other and fails it (exit status 3); with
// --lock-wait, it waits for the lease and publishes the slice whole.
func TestBackfillOfAHeldSlice(t *testing.T) {
	base := filepath.Join(t.TempDir(), "base")
	for _, d := range []string{"2026-11-19", sliceDate} {
		out, err := credregCmd(context.Background(), nil, "run", "--demo", "--demo-users", "100", "--date", d, "--shards", "off",
			"--warehouse", base, "--progress", "none").CombinedOutput()
		if err != nil {
			t.Fatalf("run: %v\n%s", err, out)
		}
	}
	want := warehouseRows(t, base, "run_id")
	wh := copyWarehouse(t, base)
	dropSlices(t, wh)
	ctx := context.Background()
	lease := holdSlice(t, wh)
	self := os.Args[0]
	code, out, errs := backfill(t, self, nil, "--from", sliceDate, "--warehouse", wh, "--progress", "none")
	if code != exitLeaseHeld {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitLeaseHeld, out, errs)
	}
	for _, want := range []string{`held-by-the-test`, "--lock-wait", totals(0, 0, 0, 1)} {
		if !strings.Contains(out+errs, want) {
			t.Errorf("output lacks %q:\n%s%s", want, out, errs)
		}
	}
	if s := readSlice(t, wh); !s.empty() {
		t.Errorf("a refused backfill wrote %+v", s)
	}

	args := []string{"--from", "2026-11-19", "--to", sliceDate, "--warehouse", wh, "--progress", "none"}
	code, out, errs = backfill(t, self, nil, args...)
	if code != exitPartial || !strings.HasSuffix(out, totals(1, 0, 0, 1)) || !strings.Contains(out, "held-by-the-test") {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitPartial, out, errs)
	}
	t.Logf("report of a backfill with a held slice:\n%s", out)

	// Interrupted while it waits for the lease: exit status 130, the
	// slice untouched.
	interruptWhileWaiting(t, credregCmd(ctx, nil, "backfill", "--lock-wait", "1m", "--log-level", "debug",
		"--from", sliceDate, "--warehouse", wh, "--progress", "none"))
	if s := readSlice(t, wh); !s.empty() {
		t.Errorf("an interrupted backfill wrote %+v", s)
	}

	cmd := credregCmd(ctx, nil, append([]string{"backfill", "--lock-wait", "1m"}, args...)...)
	if out, err := runReleasing(t, cmd, lease); err != nil || !strings.Contains(out, totals(1, 1, 0, 0)) {
		t.Fatalf("backfill with --lock-wait: %v\n%s", err, out)
	}
	if s := readSlice(t, wh); !s.whole() {
		t.Errorf("slice after the waiting backfill: %+v", s)
	}
	sameRows(t, warehouseRows(t, wh, "run_id"), want)
}

// interruptWhileWaiting starts a backfill of a held slice, sends it
// SIGINT once it has started the slice (its debug line says so), and
// expects exit status 130.
func interruptWhileWaiting(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var said strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		said.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "replaying a slice") {
			cmd.Process.Signal(os.Interrupt)
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Errorf("interrupted backfill: %v, want exit status %d\n%s", err, exitInterrupted, said.String())
	}
}

// Bad flags and a raw zone that is not there are usage errors, found
// before any slice (or folder) is touched.
func TestBackfillRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	d := []string{"--warehouse", missing, "--from", sliceDate}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--warehouse", missing}, "--from is required"},
		{[]string{"--from", "2026-13-01"}, `--from "2026-13-01": want YYYY-MM-DD`},
		{[]string{"--from", sliceDate, "--to", "20261121"}, `--to "20261121": want YYYY-MM-DD`},
		{[]string{"--from", sliceDate, "--to", "2026-11-19"}, "--from 2026-11-20 is after --to 2026-11-19"},
		{[]string{"--from", sliceDate, "--to", "2999-01-01"}, "a range in the future"},
		{[]string{"--from", "2999-01-01"}, "--to 2999-01-01: a range in the future"},
		{append(d, "--endpoint", "users"), "unknown endpoint"},
		{append(d, "--tenant", "contoso.onmicrosoft.com"), `--tenant "contoso.onmicrosoft.com": the tenant id is not a GUID`},
		{append(d, "--tenant", tenantA, "--tenant", strings.ToUpper(tenantA)), "listed twice"},
		{append(d, "--parallel", "0"), "--parallel 0: want 1 or more"},
		{append(d, "--sink", "bigtable"), `--sink "bigtable": want parquet`},
		{append(d, "--lock-wait", "-1s"), "--lock-wait -1s"},
		{append(d, "--max-reject-ratio", "1.5"), "between 0 and 1"},
		{append(d, "--log-format", "xml"), "--log-format"},
		{append(d, "--to", "2026-11-21", "--raw-run", "20261120T000000Z-00000000"), "--raw-run names a run of one day"},
		{append(d, "--raw-run", "run_id=x"), "want the run id alone"},
		{append(d, "extra"), "takes no arguments"},
		{d, "--warehouse: " + missing + " does not exist"},
		{[]string{"--from", sliceDate, "--warehouse", empty, "--raw", missing}, "--raw: " + missing + " does not exist"},
		{[]string{"--from", sliceDate, "--warehouse", empty}, "is empty: it holds no raw run"},
		{[]string{"--from", sliceDate, "--warehouse", "file://" + missing + "?bogus=s3cr3t"}, "--warehouse"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errs := backfill(t, os.Args[0], nil, c.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d\n%s%s", code, exitUsage, out, errs)
			}
			if !strings.Contains(errs, c.want) {
				t.Errorf("stderr does not say %q:\n%s", c.want, errs)
			}
			if strings.Contains(errs, "s3cr3t") {
				t.Errorf("stderr shows a secret of the command line:\n%s", errs)
			}
			if _, err := os.Stat(missing); err == nil {
				t.Errorf("the refused backfill created %s", missing)
			}
		})
	}
}

// A backfill and a `credreg run` of the same slice at the same time, in
// two processes: the backfill finds the run holding the slice and fails
// naming it (exit 7); the run publishes its slice whole.
func TestBackfillWhileARunWritesTheSlice(t *testing.T) {
	t.Parallel() // most of its time is Graph's throttle: it sleeps
	if testing.Short() {
		t.Skip("slow pages on purpose")
	}
	url, ca := startSimulator(t, "--users", "300", "--date", "2026-11-20", "--latency", "1s")
	wh := filepath.Join(t.TempDir(), "wh")
	args := []string{"run", "--date", "2026-11-20", "--warehouse", wh, "--progress", "none", "--shards", "off", "--force"}
	if out, err := credregCmd(context.Background(), simEnv(url, ca), args...).CombinedOutput(); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	// The second run reads six slow pages: the backfill comes while it
	// holds the slice.
	args = append(args, "--page-size", "50")
	runs := func() int {
		m, _ := filepath.Glob(filepath.Join(wh, "_raw", "tenant_id=*", "snapshot_date=2026-11-20", "*", "run_id=*"))
		return len(m)
	}
	second := credregCmd(context.Background(), simEnv(url, ca), args...)
	var out bytes.Buffer
	second.Stdout, second.Stderr = &out, &out
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	// The run holds the slice's lease before its first request, and its
	// raw run folder appears with its first page.
	deadline := time.Now().Add(30 * time.Second)
	for runs() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	code, bout, berrs := backfill(t, os.Args[0], nil, "--from", "2026-11-20", "--warehouse", wh, "--force", "--progress", "none")
	if err := second.Wait(); err != nil {
		t.Fatalf("the run: %v\n%s", err, out.String())
	}
	if code != exitLeaseHeld || !strings.Contains(bout+berrs, "is being written by run") {
		t.Errorf("backfill while the run holds the slice: exit %d, want %d naming the holder\n%s%s", code, exitLeaseHeld, bout, berrs)
	}
	m, err := os.ReadFile(filepath.Join(wh, "_manifests", "snapshot_date=2026-11-20", "tenant_id="+graphsim.DefaultTenantID+".json"))
	if err != nil || strings.Contains(string(m), `"replayed_from"`) {
		t.Errorf("the slice is not the run's: %v\n%s", err, m)
	}
}
