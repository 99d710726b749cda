package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// The erase tests' warehouse: three past days of two simulated tenants,
// each made by `credreg run --demo --date`.
const (
	eraseFrom  = "2026-11-18"
	eraseTo    = "2026-11-20"
	eraseDays  = 3
	eraseUsers = 60
)

// eraseBase makes the warehouse, of the range's first days days.
func eraseBase(t *testing.T, days int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "wh")
	day, _ := time.Parse(time.DateOnly, eraseFrom)
	for i := range days {
		d := day.AddDate(0, 0, i).Format(time.DateOnly)
		out, err := credregCmd(context.Background(), nil, "run", "--demo", "--demo-tenants", "2", "--demo-users", fmt.Sprint(eraseUsers),
			"--date", d, "--warehouse", dir, "--progress", "none", "--shards", "off").CombinedOutput()
		if err != nil {
			t.Fatalf("run --date %s: %v\n%s", d, err, out)
		}
	}
	return dir
}

// someUser picks a user of the default tenant's first slice: its id and
// user principal name.
func someUser(t *testing.T, dir string) (id, upn string) {
	t.Helper()
	ctx := context.Background()
	wh, err := load.OpenWarehouse(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	day, _ := time.Parse(time.DateOnly, eraseFrom)
	tbl, err := wh.ReadSlice(ctx, schemas.UserRegistrationDetailsTable, schemas.Key{Date: day, Tenant: graphsim.DefaultTenantID})
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 0)
	defer tr.Release()
	tr.Next()
	rec := tr.RecordBatch()
	i := int(rec.NumRows()) / 2
	id = rec.Column(rec.Schema().FieldIndices("user_id")[0]).(*array.String).Value(i)
	upn = rec.Column(rec.Schema().FieldIndices("user_principal_name")[0]).(*array.String).Value(i)
	if id == "" || upn == "" {
		t.Fatal("no user to erase")
	}
	return id, upn
}

// rawBodies returns every object of the raw zone, pages decompressed.
func rawBodies(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(filepath.Join(dir, "_raw"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		out[p] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// treeSums maps every file of dir but the leases and staging, the raw
// zone included, to its sha256.
func treeSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (d.Name() == "_staging" || d.Name() == "_leases") {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			b, _ := os.ReadFile(p)
			out[p] = fmt.Sprintf("%x", sha256.Sum256(b))
		}
		return nil
	})
	return out
}

// mentions reports whether s holds any of the needles, in any case.
func mentions(s string, needles ...string) bool {
	s = strings.ToLower(s)
	for _, n := range needles {
		if strings.Contains(s, strings.ToLower(n)) {
			return true
		}
	}
	return false
}

// without drops from rows those that mention the person.
func without(rows map[string][]string, needles ...string) map[string][]string {
	out := map[string][]string{}
	for table, rs := range rows {
		out[table] = []string{}
		for _, r := range rs {
			if !mentions(r, needles...) {
				out[table] = append(out[table], r)
			}
		}
	}
	return out
}

// erase runs `credreg erase` and returns its combined output and status.
func erase(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := credregCmd(context.Background(), nil, append([]string{"erase"}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// An erasure by UPN, given in another case than the one stored: a dry
// run changes nothing; the erasure takes every row of the person out of
// every table and every record out of the raw zone, leaves every other
// row as it was, names the person nowhere (output, log), and a backfill
// afterwards finds the slices up to date, or, forced, rebuilds them from
// the rewritten raw zone without the person.
func TestEraseByUPN(t *testing.T) {
	dir := eraseBase(t, eraseDays)
	id, upn := someUser(t, dir)
	before := warehouseRows(t, dir)
	summaryBefore := before[schemas.RegistrationDailySummaryTable.Name]
	for _, table := range []string{schemas.UserRegistrationDetailsTable.Name, schemas.UserAuthMethodsTable.Name} {
		if n := len(before[table]) - len(without(before, id, upn)[table]); n < eraseDays {
			t.Fatalf("%s holds %d rows of the person, want at least one per day", table, n)
		}
	}
	failed := keepAsFailed(t, dir, "20261118T000000Z-failed")
	sums := treeSums(t, dir)

	out, code := erase(t, "--warehouse", dir, "--user", strings.ToUpper(upn), "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "dry run") || mentions(out, id, upn) {
		t.Errorf("dry run output says no dry run, or names the person:\n%s", out)
	}
	if got := treeSums(t, dir); !maps.Equal(got, sums) {
		t.Error("the dry run changed the warehouse or the raw zone")
	}

	out, code = erase(t, "--warehouse", dir, "--user", strings.ToUpper(upn))
	if code != 0 {
		t.Fatalf("erase: exit %d\n%s", code, out)
	}
	if mentions(out, id, upn) {
		t.Errorf("the output names the person:\n%s", out)
	}
	after := warehouseRows(t, dir)
	want := without(before, id, upn)
	want[schemas.RegistrationDailySummaryTable.Name] = summaryBefore // counts, no names: kept
	sameRows(t, after, want)
	for name, body := range rawBodies(t, dir) {
		if mentions(string(body), id, upn) {
			t.Errorf("the raw zone still names the person in %s", name)
		}
	}

	if n := failedRowsOf(t, dir, failed, id); n != 0 {
		t.Errorf("the slice kept in %s still holds %d rows of the person", failed, n)
	}

	logs, _ := filepath.Glob(filepath.Join(dir, "_erasures", "*.json"))
	if len(logs) != 1 {
		t.Fatalf("%d erasure logs, want 1", len(logs))
	}
	data, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		UserSHA256 []string `json:"user_sha256"`
		Slices     []struct {
			Folder           string           `json:"folder"`
			RowsRemoved      map[string]int64 `json:"rows_removed"`
			RawDigestUpdated bool             `json:"raw_digest_updated"`
		} `json:"slices"`
		RawRuns []json.RawMessage `json:"raw_runs"`
	}
	if err := json.Unmarshal(data, &log); err != nil {
		t.Fatal(err)
	}
	if mentions(string(data), id, upn) {
		t.Errorf("the erasure log names the person:\n%s", data)
	}
	if sum := fmt.Sprintf("%x", sha256.Sum256([]byte(id))); len(log.UserSHA256) != 1 || log.UserSHA256[0] != sum {
		t.Errorf("the log's user_sha256 is %v, want [%s]", log.UserSHA256, sum)
	}
	if len(log.Slices) != eraseDays+1 || len(log.RawRuns) != eraseDays {
		t.Errorf("the log lists %d slices and %d raw runs, want %d (one kept in _failed) and %d", len(log.Slices), len(log.RawRuns), eraseDays+1, eraseDays)
	}
	for _, s := range log.Slices {
		if s.RowsRemoved[schemas.UserRegistrationDetailsTable.Name] != 1 || !s.RawDigestUpdated && s.Folder == "" {
			t.Errorf("a slice of the log: %+v, want one user removed and the raw digest updated", s)
		}
	}

	// A backfill over the range finds every slice up to date: the
	// manifests match the rewritten raw runs.
	erased := treeSums(t, dir)
	bf, err := credregCmd(context.Background(), nil, "backfill", "--from", eraseFrom, "--to", eraseTo,
		"--warehouse", dir, "--progress", "none").CombinedOutput()
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, bf)
	}
	if !strings.Contains(string(bf), fmt.Sprintf("0 replayed, %d up to date", eraseDays*2)) {
		t.Errorf("the backfill after the erasure did not find every slice up to date:\n%s", bf)
	}
	if got := treeSums(t, dir); !maps.Equal(got, erased) {
		t.Error("the backfill changed the erased warehouse")
	}
	// Forced, it replays the rewritten raw runs: the person stays out.
	bf, err = credregCmd(context.Background(), nil, "backfill", "--from", eraseFrom, "--to", eraseTo,
		"--warehouse", dir, "--progress", "none", "--force").CombinedOutput()
	if err != nil {
		t.Fatalf("backfill --force: %v\n%s", err, bf)
	}
	replayed := warehouseRows(t, dir, "run_id")
	for _, table := range []string{schemas.UserRegistrationDetailsTable.Name, schemas.UserAuthMethodsTable.Name, schemas.RejectedRecordsTable.Name} {
		if g, w := len(replayed[table]), len(want[table]); g != w {
			t.Errorf("%s: %d rows after a forced backfill, want %d", table, g, w)
		}
		for _, r := range replayed[table] {
			if mentions(r, id, upn) {
				t.Errorf("the forced backfill brought the person back into %s", table)
				break
			}
		}
	}
}

// keepAsFailed copies the default tenant's first slice into the folder
// where a run that breached the data contract keeps it, as that run
// would: _failed/run_id=<run>/<table>/…, the manifest beside them.
func keepAsFailed(t *testing.T, dir, run string) string {
	t.Helper()
	folder := filepath.Join("_failed", "run_id="+run)
	part := filepath.Join("snapshot_date="+eraseFrom, "tenant_id="+graphsim.DefaultTenantID)
	copies := map[string]string{filepath.Join("_manifests", part+".json"): filepath.Join(folder, "_manifests", part+".json")}
	for _, table := range schemas.Tables {
		p := filepath.Join(table.Name, part, "part-00000.parquet")
		copies[p] = filepath.Join(folder, p)
	}
	for from, to := range copies {
		b, err := os.ReadFile(filepath.Join(dir, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, to)), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if n := failedRowsOf(t, dir, run, ""); n == 0 {
		t.Fatal("the failed run's slice holds no rows")
	}
	return run
}

// failedRowsOf counts the user_registration_details rows of the failed
// run's slice whose user_id is id (every row for "").
func failedRowsOf(t *testing.T, dir, run, id string) int {
	t.Helper()
	ctx := context.Background()
	wh, err := load.OpenWarehouse(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	sub, err := wh.Failed(run)
	if err != nil {
		t.Fatal(err)
	}
	day, _ := time.Parse(time.DateOnly, eraseFrom)
	tbl, err := sub.ReadSlice(ctx, schemas.UserRegistrationDetailsTable, schemas.Key{Date: day, Tenant: graphsim.DefaultTenantID})
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 0)
	defer tr.Release()
	n := 0
	for tr.Next() {
		c := tr.RecordBatch().Column(tr.Schema().FieldIndices("user_id")[0]).(*array.String)
		for i := range c.Len() {
			if id == "" || strings.EqualFold(c.Value(i), id) {
				n++
			}
		}
	}
	return n
}

// A slice another process is writing is skipped and reported, with exit
// status 7, after every other slice was erased; so is a slice that cannot
// be read, with exit status 1; run again once the lease is free and the
// slice mended, erase finishes the job.
func TestEraseSkipsHeldSlice(t *testing.T) {
	dir := eraseBase(t, 2)
	id, upn := someUser(t, dir)
	ctx := context.Background()
	wh, err := load.OpenWarehouse(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	day, _ := time.Parse(time.DateOnly, eraseFrom)
	day = day.AddDate(0, 0, 1)
	lease, err := wh.Lease(ctx, schemas.Key{Date: day, Tenant: graphsim.DefaultTenantID}, load.LeaseOptions{RunID: "held-by-the-test"})
	if err != nil {
		t.Fatal(err)
	}
	out, code := erase(t, "--warehouse", dir, "--user", id)
	if code != exitLeaseHeld {
		t.Fatalf("exit %d, want %d\n%s", code, exitLeaseHeld, out)
	}
	// A damaged file of the other tenant's first slice (which the person
	// is not in, but an erasure reads every slice).
	broken := filepath.Join(dir, schemas.UserAuthMethodsTable.Name, "snapshot_date="+eraseFrom)
	parts, _ := filepath.Glob(filepath.Join(broken, "tenant_id=*", "part-00000.parquet"))
	var damaged string
	for _, p := range parts {
		if !strings.Contains(p, graphsim.DefaultTenantID) {
			damaged = p
		}
	}
	good, err := os.ReadFile(damaged)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(damaged, good[:len(good)/2], 0o640); err != nil {
		t.Fatal(err)
	}
	out2, code := erase(t, "--warehouse", dir, "--user", id)
	lease.Release()
	if code != exitFailure || !strings.Contains(out2, "could not be erased") || !strings.Contains(out2, "skipped "+eraseFrom) {
		t.Fatalf("with a damaged slice: exit %d, want %d, naming it\n%s", code, exitFailure, out2)
	}
	if err := os.WriteFile(damaged, good, 0o640); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "skipped "+day.Format(time.DateOnly)) || !strings.Contains(out, "held-by-the-test") || mentions(out, id, upn) {
		t.Errorf("the output does not name the skipped slice and its holder, or names the person:\n%s", out)
	}
	rows := warehouseRows(t, dir)[schemas.UserRegistrationDetailsTable.Name]
	var left []string
	for _, r := range rows {
		if mentions(r, id) {
			slice, _, _ := strings.Cut(r, " ")
			left = append(left, slice)
		}
	}
	if len(left) != 1 || !strings.HasPrefix(left[0], "snapshot_date="+day.Format(time.DateOnly)+"/") {
		t.Errorf("the person is left in slices %v, want only the held one, %s", left, day.Format(time.DateOnly))
	}

	out, code = erase(t, "--warehouse", dir, "--user", id)
	if code != 0 {
		t.Fatalf("second erase: exit %d\n%s", code, out)
	}
	for _, r := range warehouseRows(t, dir)[schemas.UserRegistrationDetailsTable.Name] {
		if mentions(r, id) {
			t.Fatal("the second erasure left the person in the held slice")
		}
	}
	if logs, _ := filepath.Glob(filepath.Join(dir, "_erasures", "*.json")); len(logs) != 3 {
		t.Errorf("%d erasure logs, want one per erasure", len(logs))
	}
}

// What erase refuses, before it writes anything, and without repeating
// the person's id or name.
func TestEraseRefuses(t *testing.T) {
	dir := eraseBase(t, 1)
	id, upn := someUser(t, dir)
	// Pseudonymize one manifest as helper P's flag records it.
	day, _ := time.Parse(time.DateOnly, eraseFrom)
	mpath := filepath.Join(dir, "_manifests", "snapshot_date="+day.Format(time.DateOnly), "tenant_id="+graphsim.DefaultTenantID+".json")
	m, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	pseudo := bytes.Replace(m, []byte("{"), []byte(`{"pseudonymization": {"key_fingerprint": "0123456789abcdef"},`), 1)
	if err := os.WriteFile(mpath, pseudo, 0o640); err != nil {
		t.Fatal(err)
	}
	sums := treeSums(t, dir)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no user", []string{"--warehouse", dir}, "--user is required"},
		{"neither id nor UPN", []string{"--warehouse", dir, "--user", "adele vance"}, "want an object id"},
		{"UPN of a pseudonymized warehouse", []string{"--warehouse", dir, "--user", upn}, "give the person's object id"},
		{"no warehouse", []string{"--warehouse", filepath.Join(t.TempDir(), "none"), "--user", id}, "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := erase(t, tc.args...)
			if code != exitUsage || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d, with %q:\n%s", code, exitUsage, tc.want, out)
			}
			if mentions(out, id, upn, "adele vance") {
				t.Errorf("the error repeats the person:\n%s", out)
			}
		})
	}
	if got := treeSums(t, dir); !maps.Equal(got, sums) {
		t.Error("a refused erasure changed the warehouse")
	}
	// By id, the pseudonymized warehouse is erased all the same.
	if out, code := erase(t, "--warehouse", dir, "--user", id); code != 0 {
		t.Fatalf("erase by id: exit %d\n%s", code, out)
	}
	for _, r := range warehouseRows(t, dir)[schemas.UserRegistrationDetailsTable.Name] {
		if mentions(r, id) {
			t.Fatal("the erasure by id left the person in the pseudonymized warehouse")
		}
	}
	// Asked again, nothing is left to find: said, exit 0.
	if out, code := erase(t, "--warehouse", dir, "--user", id); code != 0 || !strings.Contains(out, "nothing of that person was found") {
		t.Errorf("a second erasure: exit %d\n%s", code, out)
	}
	// The rewritten manifest keeps the field it did not know of.
	if m, err := os.ReadFile(mpath); err != nil || !bytes.Contains(m, []byte("0123456789abcdef")) {
		t.Errorf("the erased slice's manifest lost its pseudonymization field (%v)", err)
	}
}

// A day the raw zone holds but the warehouse has no slice of (never
// published, or its slice deleted): its raw runs are erased all the same,
// and a backfill then publishes the slice without the person.
func TestEraseRawOnlyDay(t *testing.T) {
	dir := eraseBase(t, 1)
	id, upn := someUser(t, dir)
	part := filepath.Join("snapshot_date="+eraseFrom, "tenant_id="+graphsim.DefaultTenantID)
	for _, table := range schemas.Tables {
		if err := os.RemoveAll(filepath.Join(dir, table.Name, part)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "_manifests", part+".json")); err != nil {
		t.Fatal(err)
	}
	out, code := erase(t, "--warehouse", dir, "--user", id)
	if code != 0 || !strings.Contains(out, "1 raw record(s)") {
		t.Fatalf("exit %d, want 0 and one raw record erased\n%s", code, out)
	}
	for name, body := range rawBodies(t, dir) {
		if mentions(string(body), id, upn) {
			t.Errorf("the raw zone still names the person in %s", name)
		}
	}
	bf, err := credregCmd(context.Background(), nil, "backfill", "--from", eraseFrom,
		"--warehouse", dir, "--progress", "none").CombinedOutput()
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, bf)
	}
	rows := warehouseRows(t, dir)
	if n := len(rows[schemas.UserRegistrationDetailsTable.Name]); n != 2*eraseUsers-1 {
		t.Errorf("%d users after the backfill, want %d", n, 2*eraseUsers-1)
	}
	for table, rs := range rows {
		for _, r := range rs {
			if mentions(r, id, upn) {
				t.Errorf("the backfill brought the person back into %s", table)
				break
			}
		}
	}
}
