package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// credreg runs the test binary as credreg and returns its exit status,
// stdout and stderr.
func credreg(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCmd(t, credregCmd(context.Background(), nil, args...))
}

// 30 demo days, then trends: its JSON is the summary table, whose numbers
// are those of the snapshots themselves; the HTML report is written; a
// missing day is listed.
func TestDemoDaysThenTrends(t *testing.T) {
	t.Parallel() // most of its time is Graph's throttle: it sleeps
	dir := t.TempDir()
	wh := filepath.Join(dir, "warehouse")
	code, out, errOut := credreg(t, "run", "--demo", "--demo-days", "30", "--demo-users", "400", "--shards", "off",
		"--warehouse", wh, "--progress", "none")
	if code != 0 {
		t.Fatalf("run --demo-days: status %d\n%s\n%s", code, out, errOut)
	}
	if n := strings.Count(out, "demo day "); n != 30 {
		t.Errorf("%d demo days announced, want 30", n)
	}

	code, out, errOut = credreg(t, "trends", "--warehouse", wh, "--format", "json")
	if code != 0 {
		t.Fatalf("trends: status %d\n%s", code, errOut)
	}
	w, err := load.OpenWarehouse(context.Background(), wh)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	sc := bufio.NewScanner(strings.NewReader(out))
	lines := 0
	users, mfa := map[string]float64{}, map[string]float64{}
	for sc.Scan() {
		var got map[string]any
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		day, _ := time.Parse(time.DateOnly, got["snapshot_date"].(string))
		key := schemas.Key{Date: day, Tenant: got["tenant_id"].(string)}
		checkSummaryJSON(t, w, key, got)
		users[key.DateString()] = got["users"].(float64)
		mfa[key.DateString()] = got["mfa_registered_share"].(float64)
		lines++
	}
	// graphsim's tenant runs an MFA campaign: the month shows it rising.
	first := time.Now().UTC().AddDate(0, 0, -29).Format(time.DateOnly)
	if rise := mfa[time.Now().UTC().Format(time.DateOnly)] - mfa[first]; rise < 0.015 {
		t.Errorf("the MFA share rose %.3f over the 30 days, want at least 0.015: %v", rise, mfa)
	}
	if lines != 30 {
		t.Errorf("%d JSON lines, want 30", lines)
	}
	// One simulator anchor for every day: --demo-users today, and a
	// tenant that evolved (users joined and left) before.
	today := users[time.Now().UTC().Format(time.DateOnly)]
	evolved := false
	for _, n := range users {
		evolved = evolved || n != today
	}
	if today != 400 || !evolved {
		t.Errorf("users per day %v: want 400 today and other counts before", users)
	}

	report := filepath.Join(dir, "report.html")
	code, out, errOut = credreg(t, "trends", "--warehouse", wh, "--html", report)
	if code != 0 || !strings.Contains(out, "30 of 30 days") || !strings.Contains(errOut, "wrote "+report) {
		t.Fatalf("trends --html: status %d\n%s\n%s", code, out, errOut)
	}
	page, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(report); err != nil || fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("the report, which names users, is readable by others: %v %v", fi.Mode(), err)
	}
	for _, id := range []string{"t1-shares", "t1-families", "t1-weekly", "t1-users"} {
		if !strings.Contains(string(page), `<svg id="`+id+`"`) {
			t.Errorf("the report has no chart %s", id)
		}
	}

	// A day whose slice never completed (no manifest) is a gap, listed.
	gap := time.Now().UTC().AddDate(0, 0, -10).Format(time.DateOnly)
	manifests, _ := filepath.Glob(filepath.Join(wh, "_manifests", "snapshot_date="+gap, "*.json"))
	if len(manifests) != 1 {
		t.Fatalf("manifests of %s: %v", gap, manifests)
	}
	if err := os.Remove(manifests[0]); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = credreg(t, "trends", "--warehouse", wh, "--format", "csv")
	if code != 0 || strings.Count(out, "\n") != 30 || !strings.Contains(errOut, "missing days: "+gap) {
		t.Errorf("trends --format csv with a missing day: status %d, %d lines\n%s", code, strings.Count(out, "\n"), errOut)
	}
}

// checkSummaryJSON compares a JSON line with the slice's summary row, and
// its counts with the slice's users.
func checkSummaryJSON(t *testing.T, w *load.Warehouse, key schemas.Key, got map[string]any) {
	t.Helper()
	ctx := context.Background()
	tbl, err := w.ReadSlice(ctx, schemas.RegistrationDailySummaryTable, key)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	if tbl.NumRows() != 1 {
		t.Fatalf("%s: %d summary rows", key.DateString(), tbl.NumRows())
	}
	for i, f := range tbl.Schema().Fields() {
		if i < 2 {
			continue
		}
		col := tbl.Column(i).Data().Chunk(0)
		var want any
		switch c := col.(type) {
		case *array.Int64:
			if c.IsValid(0) {
				want = float64(c.Value(0))
			}
		case *array.Float64:
			if c.IsValid(0) {
				want = c.Value(0)
			}
		case *array.String:
			want = c.Value(0)
		}
		if got[f.Name] != want {
			t.Errorf("%s %s: JSON %v, summary %v", key.DateString(), f.Name, got[f.Name], want)
		}
	}
	// The summary's counts are the snapshot's: count the users directly.
	users, err := w.ReadSlice(ctx, schemas.UserRegistrationDetailsTable, key)
	if err != nil {
		t.Fatal(err)
	}
	defer users.Release()
	var n, mfa, sspr float64
	r := array.NewTableReader(users, 0)
	defer r.Release()
	for r.Next() {
		rec := r.RecordBatch()
		m := column[*array.Boolean](rec, "is_mfa_registered")
		s := column[*array.Boolean](rec, "is_sspr_registered")
		for i := range int(rec.NumRows()) {
			n++
			if m.IsValid(i) && m.Value(i) {
				mfa++
			}
			if s.IsValid(i) && s.Value(i) {
				sspr++
			}
		}
	}
	if got["users"] != n || got["mfa_registered"] != mfa || got["sspr_registered"] != sspr || got["mfa_registered_share"] != mfa/n {
		t.Errorf("%s: JSON users %v, MFA %v (%v), SSPR %v; the snapshot has %v users, %v MFA, %v SSPR", key.DateString(),
			got["users"], got["mfa_registered"], got["mfa_registered_share"], got["sspr_registered"], n, mfa, sspr)
	}
}

func column[T arrow.Array](rec arrow.RecordBatch, name string) T {
	return rec.Column(rec.Schema().FieldIndices(name)[0]).(T)
}

func TestTrendsRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad format", []string{"trends", "--warehouse", empty, "--format", "xml"}, exitUsage, `--format "xml"`},
		{"bad date", []string{"trends", "--warehouse", empty, "--from", "2026-13-01"}, exitUsage, "--from"},
		{"from after to", []string{"trends", "--warehouse", empty, "--from", "2026-11-02", "--to", "2026-11-01"}, exitUsage, "after --to"},
		{"no warehouse", []string{"trends", "--warehouse", filepath.Join(dir, "nothing")}, exitUsage, "no warehouse there"},
		{"empty warehouse", []string{"trends", "--warehouse", empty}, exitFailure, "the warehouse holds no published snapshot yet"},
		{"demo days without demo", []string{"run", "--demo-days", "3", "--tenant", "00000000-0000-4000-8000-000000000001"}, exitUsage, "--demo-days goes with --demo"},
		{"demo days zero", []string{"run", "--demo", "--demo-days", "0", "--warehouse", empty}, exitUsage, "--demo-days 0"},
		{"demo days and date", []string{"run", "--demo", "--demo-days", "2", "--date", "2026-11-01", "--warehouse", empty}, exitUsage, "--date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := credreg(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Errorf("status %d, want %d; stderr %q, want %q", code, tc.code, errOut, tc.msg)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing")); !os.IsNotExist(err) {
		t.Errorf("trends made the warehouse it was asked to read: %v", err)
	}
}
