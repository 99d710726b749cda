package load

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/credreg/credreg/schemas"
)

// SlicesBefore lists exactly the slices before the date, with their
// objects; DeleteSlice needs the slice's lease, and deletes the slice's
// files and manifest and nothing else.
func TestPruneSlices(t *testing.T) {
	for _, b := range rootBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			w, dir := b.open(t)
			ctx := context.Background()
			var keys []schemas.Key
			for _, d := range []string{"2026-03-01", "2026-03-02", "2026-03-03"} {
				for _, tenant := range []string{"tenant-a", "tenant-b"} {
					key := schemas.Key{Date: day(d), Tenant: tenant}
					keys = append(keys, key)
					commitSlice(t, w, key, "run-1", makeSlice(key, "run-1", 5, 1, 1), WriterOptions{})
					if err := w.WriteManifest(ctx, key, []byte(`{"run_id":"run-1"}`)); err != nil {
						t.Fatal(err)
					}
				}
			}
			before := objects(t, w)

			old, err := w.SlicesBefore(ctx, day("2026-03-02"))
			if err != nil {
				t.Fatal(err)
			}
			if len(old) != 2 || old[0].Key != keys[0] || old[1].Key != keys[1] {
				t.Fatalf("SlicesBefore = %+v, want the two slices of 2026-03-01", old)
			}
			var wantBytes int64
			for k := range before {
				if strings.Contains(k, "snapshot_date=2026-03-01/tenant_id=tenant-a") {
					wantBytes += objectSize(t, w, k)
				}
			}
			if old[0].Objects != len(schemas.Tables)+1 || old[0].Bytes != wantBytes {
				t.Errorf("SlicesBefore counts %d objects, %d bytes, want %d (tables and manifest), %d", old[0].Objects, old[0].Bytes, len(schemas.Tables)+1, wantBytes)
			}

			if err := w.DeleteSlice(ctx, keys[0], nil); !errors.Is(err, ErrNoLease) {
				t.Fatalf("DeleteSlice without the lease = %v, want ErrNoLease", err)
			}
			other, err := w.Lease(ctx, keys[1], LeaseOptions{RunID: "prune"})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.DeleteSlice(ctx, keys[0], other); !errors.Is(err, ErrNoLease) {
				t.Fatalf("DeleteSlice under another slice's lease = %v, want ErrNoLease", err)
			}
			other.Release()
			lease, err := w.Lease(ctx, keys[0], LeaseOptions{RunID: "prune"})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.DeleteSlice(ctx, keys[0], lease); err != nil {
				t.Fatal(err)
			}
			if err := w.DeleteSlice(ctx, keys[0], lease); err != nil {
				t.Fatalf("DeleteSlice again: %v", err)
			}
			lease.Release()

			after := objects(t, w)
			for k, sum := range before {
				gone := strings.Contains(k, "snapshot_date=2026-03-01/tenant_id=tenant-a")
				if _, ok := after[k]; ok == gone {
					t.Errorf("%s: present %v after DeleteSlice, want %v", k, ok, !gone)
				} else if ok && after[k] != sum {
					t.Errorf("%s changed", k)
				}
			}
			if _, err := w.ReadManifest(ctx, keys[0]); !errors.Is(err, ErrNotFound) {
				t.Errorf("the manifest is still there: %v", err)
			}
			if got, _ := w.SlicesBefore(ctx, day("2026-03-02")); len(got) != 1 || got[0].Key != keys[1] {
				t.Errorf("SlicesBefore after the delete = %+v, want only %v", got, keys[1])
			}
			if dir != "" {
				for _, table := range schemas.Tables {
					p := filepath.Join(dir, table.Name, "snapshot_date=2026-03-01", "tenant_id=tenant-a")
					if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("the emptied folder %s is left", p)
					}
				}
			}
		})
	}
}

func objectSize(t *testing.T, w *Warehouse, key string) int64 {
	t.Helper()
	a, err := w.bucket.Attributes(context.Background(), w.prefix+key)
	if err != nil {
		t.Fatal(err)
	}
	return a.Size
}

// A local publish a killed writer left unfinished is settled before the
// slice is deleted: nothing rolls the deleted slice forward later.
func TestDeleteSliceSettlesAnUnfinishedPublish(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, dir)
	ctx := context.Background()
	key := schemas.Key{Date: day("2026-03-01"), Tenant: "tenant-k"}
	commitWith(t, w, key, "run-1", 1, "")
	// A second run dies midway through its publish, its intent written.
	commitWith(t, w, key, "run-2", 2, publishedStep(schemas.UserRegistrationDetailsTable.Name))
	lease, err := w.Lease(ctx, key, LeaseOptions{RunID: "prune"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.DeleteSlice(ctx, key, lease); err != nil {
		t.Fatal(err)
	}
	lease.Release()
	// The next writer of the slice finds nothing to recover.
	s, err := w.Begin(ctx, key, "run-3", WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := s.Recovered()
	s.Abort()
	if rec != NothingToRecover {
		t.Errorf("after DeleteSlice the next Begin recovered %q, want nothing", rec)
	}
	var left []string
	for k := range objects(t, w) {
		if !strings.HasPrefix(k, leaseDir+"/") {
			left = append(left, k)
		}
	}
	slices.Sort(left)
	if len(left) != 0 {
		t.Errorf("left after DeleteSlice: %v", left)
	}
}
