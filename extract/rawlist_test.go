package extract

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

// landRun lands a one-page run; finish says whether, and how, its index
// is written: "complete", "failed", or "" for a run without an index.
func landRun(t *testing.T, bucket *blob.Bucket, tenant, day string, e schemas.Endpoint, runID, finish string) {
	t.Helper()
	ctx := context.Background()
	date, err := time.Parse(time.DateOnly, day)
	if err != nil {
		t.Fatal(err)
	}
	key := schemas.Key{Tenant: tenant, Date: date}
	z := NewRawZone(bucket, key, e, runID)
	p := Page{URL: "https://g/x", Body: []byte(`{"value":[{"id":"a"}]}`), Records: []odata.Record{{}}, ReceivedAt: date}
	if _, err := z.Land(ctx, 1, "all", p); err != nil {
		t.Fatal(err)
	}
	if finish == "" {
		return
	}
	if err := z.Finish(ctx, RawIndex{Tenant: tenant, SnapshotDate: day, Endpoint: e, RunID: runID}, finish == "complete"); err != nil {
		t.Fatal(err)
	}
}

func runIDs(runs []RawIndex) string {
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.RunID)
	}
	return strings.Join(ids, ",")
}

// Slices of a range merge a tenant's folders that differ in case, skip
// days outside the range, and list runs without an index and failed runs
// (which Newest passes over).
func TestListRawSlices(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	const (
		users = schemas.UserRegistrationDetails
		creds = schemas.CredentialUserRegistrationDetails
	)
	landRun(t, bucket, "t1", "2026-11-20", users, "20261120T080000Z-a", "complete")
	landRun(t, bucket, "t1", "2026-11-20", creds, "20261120T090000Z-b", "complete")
	landRun(t, bucket, "t1", "2026-11-20", users, "20261120T110000Z-c", "") // crashed
	landRun(t, bucket, "T1", "2026-11-20", users, "20261120T100000Z-d", "failed")
	landRun(t, bucket, "T1", "2026-11-21", users, "20261121T080000Z-e", "complete")
	landRun(t, bucket, "t2", "2026-11-21", creds, "20261121T080000Z-f", "complete")
	landRun(t, bucket, "t2", "2026-11-19", users, "20261119T080000Z-g", "complete") // before the range
	landRun(t, bucket, "t2", "2026-11-22", users, "20261122T080000Z-h", "complete") // after it
	// Objects that are no tenant or day folder are passed over.
	for _, k := range []string{"README.txt", "other/x.json", "tenant_id=t2/snapshot_date=junk/x.json"} {
		if err := bucket.WriteAll(ctx, k, []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
	}

	from := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC) // a day counts whole
	to := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	got, err := ListRawSlices(ctx, bucket, from, to, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ tenant, day, runs string }{
		{"t1", "2026-11-20", "20261120T110000Z-c,20261120T100000Z-d,20261120T090000Z-b,20261120T080000Z-a"},
		{"t1", "2026-11-21", "20261121T080000Z-e"},
		{"t2", "2026-11-21", "20261121T080000Z-f"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d slices: %+v", len(got), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Tenant != w.tenant || g.Date.Format(time.DateOnly) != w.day || g.Date.Location() != time.UTC ||
			g.Date.Hour() != 0 || runIDs(g.Runs) != w.runs {
			t.Errorf("slice %d: %s %s %s, want %+v", i, g.Tenant, g.Date, runIDs(g.Runs), w)
		}
	}

	day := got[0]
	if !day.Runs[0].NoIndex || day.Runs[0].Complete || day.Runs[1].Complete {
		t.Errorf("runs %+v", day.Runs)
	}
	// Each run's prefix is its folder, in the folder's case, and reads.
	wantPrefix := "tenant_id=T1/snapshot_date=2026-11-20/userRegistrationDetails/run_id=20261120T100000Z-d/"
	if day.Runs[1].Prefix != wantPrefix {
		t.Errorf("prefix %q, want %q", day.Runs[1].Prefix, wantPrefix)
	}
	if day.Runs[0].Prefix != "tenant_id=t1/snapshot_date=2026-11-20/userRegistrationDetails/run_id=20261120T110000Z-c/" {
		t.Errorf("prefix of the run without index %q", day.Runs[0].Prefix)
	}
	if idx, err := ReadRawIndex(ctx, bucket, got[1].Runs[0].Prefix); err != nil || idx.RunID != "20261121T080000Z-e" {
		t.Errorf("read %+v, %v", idx, err)
	}

	for _, tc := range []struct {
		e    schemas.Endpoint
		want string
	}{{"", "20261120T090000Z-b"}, {users, "20261120T080000Z-a"}, {creds, "20261120T090000Z-b"}} {
		if r, ok := day.Newest(tc.e); !ok || r.RunID != tc.want {
			t.Errorf("Newest(%q) = %s, %t; want %s", tc.e, r.RunID, ok, tc.want)
		}
	}
	if r, ok := got[1].Newest(creds); ok {
		t.Errorf("Newest(creds) of a day without one: %s", r.RunID)
	}
	if _, ok := (RawSlice{Runs: day.Runs[:2]}).Newest(""); ok {
		t.Error("Newest found a complete run among a crashed and a failed one")
	}

	// Tenants are filtered in lowercase, whatever the case given.
	only, err := ListRawSlices(ctx, bucket, from, to, []string{"T2"})
	if err != nil || len(only) != 1 || only[0].Tenant != "t2" || runIDs(only[0].Runs) != "20261121T080000Z-f" {
		t.Errorf("tenant T2: %+v, %v", only, err)
	}
	upper, err := ListRawSlices(ctx, bucket, to, to, []string{"t1"})
	if err != nil || len(upper) != 1 || runIDs(upper[0].Runs) != "20261121T080000Z-e" {
		t.Errorf("tenant t1 on 21 Nov: %+v, %v", upper, err)
	}

	tenants, err := RawTenants(ctx, bucket)
	if err != nil || strings.Join(tenants, ",") != "t1,t2" {
		t.Errorf("tenants %q, %v", tenants, err)
	}
}

// A run marked incomplete keeps everything else of its index, and is no
// longer the newest complete run of its day; a folder without an index
// cannot be marked.
func TestMarkIncomplete(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	const users = schemas.UserRegistrationDetails
	landRun(t, bucket, "t1", "2026-11-20", users, "20261120T080000Z-a", "complete")
	z := NewRawZone(bucket, schemas.Key{Tenant: "t1", Date: testDay}, users, "20261120T090000Z-im")
	p := Page{URL: "import:a.json#1", Body: []byte(`{"value":[]}`), ReceivedAt: testDay}
	if _, err := z.Land(ctx, 1, "all", p); err != nil {
		t.Fatal(err)
	}
	if err := z.Finish(ctx, RawIndex{Tenant: "t1", SnapshotDate: "2026-11-20", Endpoint: users, RunID: "20261120T090000Z-im",
		Listing: "unsharded", Imported: true, Sources: []string{"a.json"}}, true); err != nil {
		t.Fatal(err)
	}
	before, err := ReadRawIndex(ctx, bucket, z.Prefix())
	if err != nil || !before.Complete {
		t.Fatalf("before: %+v, %v", before, err)
	}
	for range 2 { // marking twice changes nothing more
		if err := MarkIncomplete(ctx, bucket, z.Prefix()); err != nil {
			t.Fatal(err)
		}
	}
	after, err := ReadRawIndex(ctx, bucket, z.Prefix())
	if err != nil || after.Complete {
		t.Fatalf("after: %+v, %v", after, err)
	}
	after.Complete = true
	if !reflect.DeepEqual(before, after) {
		t.Errorf("index changed beyond Complete:\n%+v\n%+v", before, after)
	}
	got, err := ListRawSlices(ctx, bucket, testDay, testDay, nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("slices %+v, %v", got, err)
	}
	if r, ok := got[0].Newest(users); !ok || r.RunID != "20261120T080000Z-a" {
		t.Errorf("newest %s, %t; want the run before the marked one", r.RunID, ok)
	}

	landRun(t, bucket, "t1", "2026-11-20", users, "20261120T100000Z-c", "") // crashed
	crashed := RawPrefix(schemas.Key{Tenant: "t1", Date: testDay}, users) + "run_id=20261120T100000Z-c/"
	for _, prefix := range []string{crashed, RawPrefix(schemas.Key{Tenant: "t1", Date: testDay}, users) + "run_id=none/"} {
		if err := MarkIncomplete(ctx, bucket, prefix); !errors.Is(err, ErrNoRawIndex) {
			t.Errorf("%s: err %v, want ErrNoRawIndex", prefix, err)
		}
	}
	if _, err := bucket.Attributes(ctx, crashed+"_index.json"); err == nil {
		t.Error("MarkIncomplete wrote an index for a run that had none")
	}
}

// A run whose index cannot be decoded is listed like a run without one,
// saying why, and hides neither its day's other runs nor other days; a
// failure to read the bucket still fails the listing.
func TestListRawSlicesDamagedIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bucket, err := fileblob.OpenBucket(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	const users = schemas.UserRegistrationDetails
	landRun(t, bucket, "t1", "2026-11-20", users, "20261120T080000Z-a", "complete")
	landRun(t, bucket, "t1", "2026-11-20", users, "20261120T090000Z-b", "complete")
	landRun(t, bucket, "t1", "2026-11-20", users, "20261120T100000Z-c", "complete")
	landRun(t, bucket, "t1", "2026-11-21", users, "20261121T080000Z-d", "complete")
	day := "tenant_id=t1/snapshot_date=2026-11-20/userRegistrationDetails/"
	for run, index := range map[string]string{
		"run_id=20261120T090000Z-b/": `{"run_id":"20261120T090000Z-b","complete":tr`, // cut short
		"run_id=20261120T100000Z-c/": `{"run_id":"20261120T100000Z-c","complete":"yes"}`,
	} {
		if err := bucket.WriteAll(ctx, day+run+"_index.json", []byte(index), nil); err != nil {
			t.Fatal(err)
		}
	}
	to := testDay.AddDate(0, 0, 1)
	got, err := ListRawSlices(ctx, bucket, testDay, to, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || runIDs(got[0].Runs) != "20261120T100000Z-c,20261120T090000Z-b,20261120T080000Z-a" ||
		runIDs(got[1].Runs) != "20261121T080000Z-d" {
		t.Fatalf("slices %+v", got)
	}
	for _, r := range got[0].Runs[:2] {
		if !r.NoIndex || r.Complete || !strings.HasPrefix(r.Damaged, "_index.json is not a valid run index: ") ||
			r.Endpoint != users || r.Tenant != "t1" || r.SnapshotDate != "2026-11-20" || r.Prefix != day+"run_id="+r.RunID+"/" {
			t.Errorf("damaged run %+v", r)
		}
	}
	if a := got[0].Runs[2]; a.NoIndex || a.Damaged != "" || !a.Complete {
		t.Errorf("good run %+v", a)
	}
	if r, ok := got[0].Newest(users); !ok || r.RunID != "20261120T080000Z-a" {
		t.Errorf("newest %s, %t", r.RunID, ok)
	}

	// An _index.json that is a symbolic link to itself cannot be read
	// at all (the file system says so, whoever runs the test).
	if err := bucket.WriteAll(ctx, day+"run_id=20261120T110000Z-e/page-000001.json.gz", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	loop := filepath.Join(dir, filepath.FromSlash(day+"run_id=20261120T110000Z-e/_index.json"))
	if err := os.Symlink(loop, loop); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	if got, err := ListRawSlices(ctx, bucket, testDay, to, nil); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("listed a run whose index cannot be read: %+v, %v", got, err)
	}
}
