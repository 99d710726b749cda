package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// The prune tests' warehouse: four past days of two demo tenants.
const (
	pruneFrom    = "2026-11-17"
	pruneDays    = 4
	pruneTenants = 2
)

// pruneBase makes the warehouse with a run per day, as a nightly job
// would have.
func pruneBase(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "wh")
	day, _ := time.Parse(time.DateOnly, pruneFrom)
	for i := range pruneDays {
		d := day.AddDate(0, 0, i).Format(time.DateOnly)
		out, err := credregCmd(context.Background(), nil, "run", "--demo", "--demo-tenants", fmt.Sprint(pruneTenants), "--demo-users", "40",
			"--date", d, "--warehouse", dir, "--progress", "none", "--shards", "off").CombinedOutput()
		if err != nil {
			t.Fatalf("run --date %s: %v\n%s", d, err, out)
		}
	}
	return dir
}

func prune(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCmd(t, credregCmd(context.Background(), nil, append([]string{"prune", "--progress", "none"}, args...)...))
}

// pruneTree is the warehouse's files (not folders, not leases), each with
// its hash, split into raw and tables, by date.
type pruneTree struct {
	raw, tables map[string]map[string]string // date -> path -> sha256
}

func readPruneTree(t *testing.T, dir string) pruneTree {
	t.Helper()
	tr := pruneTree{raw: map[string]map[string]string{}, tables: map[string]map[string]string{}}
	for p, h := range treeHashes(t, dir) {
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if h == "dir" || strings.HasPrefix(rel, "_leases/") || strings.HasPrefix(rel, "_staging/") {
			continue
		}
		_, rest, ok := strings.Cut(rel, "snapshot_date=")
		if !ok {
			t.Fatalf("a file outside any slice: %s", rel)
		}
		date := rest[:len("2006-01-02")]
		m := tr.tables
		if strings.HasPrefix(rel, "_raw/") {
			m = tr.raw
		}
		if m[date] == nil {
			m[date] = map[string]string{}
		}
		m[date][rel] = h
	}
	return tr
}

// dates are the days of the base, oldest first.
func pruneDates() []string {
	day, _ := time.Parse(time.DateOnly, pruneFrom)
	var out []string
	for i := range pruneDays {
		out = append(out, day.AddDate(0, 0, i).Format(time.DateOnly))
	}
	return out
}

// checkPruned fails unless the raw zone kept exactly the days from
// rawFrom on and the tables the days from tablesFrom on, untouched.
func checkPruned(t *testing.T, before, after pruneTree, rawFrom, tablesFrom string) {
	t.Helper()
	for _, d := range pruneDates() {
		for _, k := range []struct {
			name          string
			before, after map[string]map[string]string
			from          string
		}{{"raw", before.raw, after.raw, rawFrom}, {"tables", before.tables, after.tables, tablesFrom}} {
			switch {
			case len(k.before[d]) == 0:
				t.Fatalf("the base has no %s files of %s", k.name, d)
			case d < k.from && len(k.after[d]) != 0:
				t.Errorf("%s of %s kept %d files, want none", k.name, d, len(k.after[d]))
			case d >= k.from && !sameHashes(k.before[d], k.after[d]):
				t.Errorf("%s of %s changed: %d files, had %d", k.name, d, len(k.after[d]), len(k.before[d]))
			}
		}
	}
}

// Prune against a warehouse that nightly runs made: a dry run deletes
// nothing; raw and tables are pruned independently, each exactly before
// its date; a slice being written is skipped (exit status 7) and pruned
// by the next prune.
func TestPrune(t *testing.T) {
	t.Parallel() // most of its time is Graph's throttle: it sleeps
	base := pruneBase(t)
	orig := readPruneTree(t, base)
	dates := pruneDates()

	t.Run("dry run", func(t *testing.T) {
		wh := copyWarehouse(t, base)
		code, out, errs := prune(t, "--warehouse", wh, "--raw-before", dates[2], "--tables-before", dates[1], "--dry-run")
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		checkPruned(t, orig, readPruneTree(t, wh), "", "")
		for _, want := range []string{"would delete (dry run)", dates[0], dates[1]} {
			if !strings.Contains(out, want) {
				t.Errorf("the report lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, dates[2]) {
			t.Errorf("the report lists %s, which is kept:\n%s", dates[2], out)
		}
		// Two raw days and one slice day of two tenants.
		if !regexpLine(out, `total\s+4\s+4\s+\d+\s+\S+ \S+\s+2\s+\d+\s+\S+ \S+\s+0`) {
			t.Errorf("the total line is not 4 raw tenant-days, 4 runs, 2 slices:\n%s", out)
		}
		if !strings.Contains(errs, "can no longer be rebuilt with backfill") {
			t.Errorf("no warning that pruned raw days cannot be backfilled:\n%s", errs)
		}
		// For a scheduler: stdout empty, one JSON record per item and a
		// summary on stderr.
		code, out, errs = prune(t, "--warehouse", wh, "--raw-before", dates[2], "--tables-before", dates[1], "--dry-run", "--log-format", "json")
		if code != 0 || out != "" {
			t.Fatalf("exit %d, stdout %q\n%s", code, out, errs)
		}
		for _, want := range []string{`"msg":"prune summary"`, `"dry_run":true`, `"raw_runs":4`, `"slices":2`, `"skipped":0`, `"outcome":"would delete"`} {
			if !strings.Contains(errs, want) {
				t.Errorf("the JSON records lack %s:\n%s", want, errs)
			}
		}
		checkPruned(t, orig, readPruneTree(t, wh), "", "")
	})

	t.Run("tables only", func(t *testing.T) {
		wh := copyWarehouse(t, base)
		code, out, errs := prune(t, "--warehouse", wh, "--tables-before", dates[2])
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		checkPruned(t, orig, readPruneTree(t, wh), "", dates[2])
		if strings.Contains(errs, "backfill") {
			t.Errorf("a tables-only prune warns about the raw zone:\n%s", errs)
		}
		// The raw zone rebuilds what was pruned.
		code, out, errs = backfill(t, os.Args[0], nil, "--from", dates[0], "--to", dates[1], "--warehouse", wh, "--progress", "none")
		if code != 0 || !strings.HasSuffix(out, totals(4, 0, 0, 0)) {
			t.Errorf("backfill of the pruned tables: exit %d\n%s%s", code, out, errs)
		}
	})

	t.Run("raw only", func(t *testing.T) {
		wh := copyWarehouse(t, base)
		code, out, errs := prune(t, "--warehouse", wh, "--raw-before", dates[1])
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		checkPruned(t, orig, readPruneTree(t, wh), dates[1], "")
		code, out, errs = backfill(t, os.Args[0], nil, "--from", dates[0], "--to", dates[1], "--warehouse", wh, "--progress", "none", "--force")
		if !strings.HasSuffix(out, totals(2, 0, 2, 0)) {
			t.Errorf("backfill of a pruned raw day: exit %d, want it to find no raw data\n%s%s", code, out, errs)
		}
	})

	t.Run("held slice", func(t *testing.T) {
		wh := copyWarehouse(t, base)
		ctx := context.Background()
		w, err := load.OpenWarehouse(ctx, wh)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		keys, err := w.Slices(ctx, schemas.UserRegistrationDetailsTable)
		if err != nil || len(keys) != pruneDays*pruneTenants {
			t.Fatalf("slices %v, %v", keys, err)
		}
		held := keys[0]
		lease, err := w.Lease(ctx, held, load.LeaseOptions{RunID: "held-by-the-test"})
		if err != nil {
			t.Fatal(err)
		}
		code, out, errs := prune(t, "--warehouse", wh, "--raw-before", dates[1], "--tables-before", dates[1])
		lease.Release()
		if code != exitLeaseHeld {
			t.Fatalf("exit %d, want %d\n%s%s", code, exitLeaseHeld, out, errs)
		}
		if !strings.Contains(out, "held-by-the-test") || !strings.Contains(out, sliceName(held)) {
			t.Errorf("the report does not name the held slice and its holder:\n%s", out)
		}
		after := readPruneTree(t, wh)
		for _, tr := range []map[string]map[string]string{after.raw, after.tables} {
			for p := range tr[dates[0]] {
				if !strings.Contains(p, "tenant_id="+held.Tenant) {
					t.Errorf("%s of another tenant is left", p)
				}
			}
		}
		if !sameHashes(keep(orig.tables[dates[0]], held.Tenant), after.tables[dates[0]]) ||
			!sameHashes(keep(orig.raw[dates[0]], held.Tenant), after.raw[dates[0]]) {
			t.Errorf("the held slice was touched")
		}
		// Once it is free, a second prune deletes it.
		if code, out, errs := prune(t, "--warehouse", wh, "--raw-before", dates[1], "--tables-before", dates[1]); code != 0 {
			t.Fatalf("second prune: exit %d\n%s%s", code, out, errs)
		}
		checkPruned(t, orig, readPruneTree(t, wh), dates[1], dates[1])
	})
}

// keep is the files of m under the tenant's folders.
func keep(m map[string]string, tenant string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if strings.Contains(k, "tenant_id="+tenant) {
			out[k] = v
		}
	}
	return out
}

// What prune refuses, before it opens anything.
func TestPruneRejectsBadInput(t *testing.T) {
	wh := filepath.Join(t.TempDir(), "wh")
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	cases := []struct {
		args []string
		want string
	}{
		{nil, "give --raw-before, --tables-before or both"},
		{[]string{"--raw-before", "2026-13-01"}, "want YYYY-MM-DD"},
		{[]string{"--tables-before", tomorrow}, "after today"},
		{[]string{"--raw-before", tomorrow, "--dry-run"}, "after today"},
		{[]string{"--tables-before", "2026-01-01", "--lock-wait", "-1s"}, "--lock-wait"},
		{[]string{"--tables-before", "2026-01-01"}, "no such file or directory"},
		{[]string{"--raw-before", "2026-01-01", "--dry-run"}, "no such file or directory"},
	}
	for _, c := range cases {
		code, out, errs := prune(t, append([]string{"--warehouse", wh}, c.args...)...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("prune %v: exit %d, want %d and %q\n%s%s", c.args, code, exitUsage, c.want, out, errs)
		}
	}
	if _, err := os.Stat(wh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused prunes made the warehouse folder: %v", err)
	}
}

// regexpLine reports whether a line of s is the pattern, less leading
// and trailing spaces.
func regexpLine(s, pattern string) bool {
	return regexp.MustCompile(`(?m)^\s*` + pattern + `\s*$`).MatchString(s)
}
