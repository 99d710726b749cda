package extract

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/credreg/credreg/schemas"
)

// allKeys lists every object of the bucket.
func allKeys(t *testing.T, bucket *blob.Bucket) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	it := bucket.List(nil)
	for {
		obj, err := it.Next(context.Background())
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[obj.Key] = true
	}
}

// ListRawDays lists every day before the date, a tenant's folders that
// differ in case merged, counting every object (runs without an index and
// stray files too); DeleteRawDay deletes exactly those.
func TestPruneRawDays(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	landRun(t, bucket, "tenant-a", "2026-05-01", schemas.UserRegistrationDetails, "r1", "complete")
	landRun(t, bucket, "tenant-a", "2026-05-01", schemas.CredentialUserRegistrationDetails, "r2", "")
	landRun(t, bucket, "TENANT-A", "2026-05-01", schemas.UserRegistrationDetails, "r0", "failed")
	landRun(t, bucket, "tenant-b", "2026-05-02", schemas.UserRegistrationDetails, "r3", "complete")
	landRun(t, bucket, "tenant-a", "2026-05-03", schemas.UserRegistrationDetails, "r4", "complete")
	stray := "tenant_id=tenant-a/snapshot_date=2026-05-01/notes.txt"
	if err := bucket.WriteAll(ctx, stray, []byte("left by a person"), nil); err != nil {
		t.Fatal(err)
	}
	before := allKeys(t, bucket)

	days, err := ListRawDays(ctx, bucket, time.Date(2026, 5, 3, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 2 || days[0].Tenant != "tenant-a" || days[0].Date.Format(time.DateOnly) != "2026-05-01" || days[1].Tenant != "tenant-b" {
		t.Fatalf("ListRawDays = %+v, want tenant-a's 2026-05-01 and tenant-b's 2026-05-02", days)
	}
	// r1: page and index; r2: page; r0: page and index; and the stray file.
	a := days[0]
	if len(a.Folders) != 2 || a.Runs != 3 || a.Objects != 6 || a.Bytes <= 0 {
		t.Errorf("tenant-a's day: %d folders, %d runs, %d objects, %d bytes; want 2, 3, 6, some", len(a.Folders), a.Runs, a.Objects, a.Bytes)
	}

	if err := DeleteRawDay(ctx, bucket, a); err != nil {
		t.Fatal(err)
	}
	if err := DeleteRawDay(ctx, bucket, a); err != nil {
		t.Fatalf("DeleteRawDay again: %v", err)
	}
	after := allKeys(t, bucket)
	for k := range before {
		gone := strings.Contains(strings.ToLower(k), "tenant_id=tenant-a/snapshot_date=2026-05-01/")
		if after[k] == gone {
			t.Errorf("%s: present %v, want %v", k, after[k], !gone)
		}
	}
}
