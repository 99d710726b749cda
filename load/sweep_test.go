package load

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/schemas"
)

// A process killed mid-write leaves its staged files in _staging (and an
// earlier version left part-00000.parquet.<hex>.tmp in the partition). The
// next Begin on the warehouse removes them once they are stale, and leaves
// fresh ones (a write that may still be in progress) and the published
// part file alone, however old it is.
func TestBeginSweepsStaleFiles(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, dir)
	key := schemas.Key{Date: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), Tenant: "t1"}
	slice := filepath.Join(dir, "user_registration_details", "snapshot_date=2026-11-20", "tenant_id=t1")
	staging := filepath.Join(dir, stagingDir)
	for _, d := range []string{slice, staging} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleTemp)
	files := []struct {
		path  string
		stale bool
		want  bool // still there after Begin
	}{
		// Any slice's staged file: a killed run never comes back for it.
		{filepath.Join(staging, "run-0-user_auth_methods-0123456789abcdef.parquet.tmp"), true, false},
		{filepath.Join(staging, "run-0-rejected_records-fedcba9876543210.parquet.tmp"), false, true},
		{filepath.Join(slice, "part-00000.parquet.18a3f.tmp"), true, false},
		{filepath.Join(slice, "part-00000.parquet.18a40.tmp"), false, true},
		{filepath.Join(slice, partFile), true, true},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, []byte("PAR1 half"), 0o644); err != nil {
			t.Fatal(err)
		}
		if f.stale {
			if err := os.Chtimes(f.path, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	s, err := w.Begin(context.Background(), key, "run-1", WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Abort()
	for _, f := range files {
		_, err := os.Stat(f.path)
		switch {
		case f.want && err != nil:
			t.Errorf("%s removed (stale: %v): %v", f.path, f.stale, err)
		case !f.want && !os.IsNotExist(err):
			t.Errorf("%s still there: %v", f.path, err)
		}
	}
}

// A live slice keeps its staged files fresh, so that a run longer than
// staleTemp does not lose them to another Begin on the warehouse. The
// heartbeat's ticker is not waited for: touch is what it runs.
func TestHeartbeatKeepsStagedFiles(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, dir)
	ctx := context.Background()
	key := schemas.Key{Date: day("2026-11-21"), Tenant: "long"}
	d := makeSlice(key, "run-long", 20, 2, 1)
	recs := d.records(memory.DefaultAllocator, 7)
	defer release(recs)

	s, err := w.Begin(ctx, key, "run-long", WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	if s.beat == nil {
		t.Fatal("a local slice has no heartbeat")
	}
	writeAll(t, ctx, s, recs)
	// The run has lasted longer than staleTemp, with its last beat just now.
	old := time.Now().Add(-2 * staleTemp)
	for _, p := range s.beat.paths {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	s.beat.touch(time.Now())

	other := schemas.Key{Date: key.Date, Tenant: "other"}
	o, err := w.Begin(ctx, other, "run-other", WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o.Abort()
	wantStaged(t, dir, "run-long")
	infos, err := s.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit after another slice's Begin: %v", err)
	}
	for _, fi := range infos {
		if got := sha256File(t, filepath.Join(dir, fi.Path)); got != fi.SHA256 {
			t.Errorf("%s has sha256 %s, FileInfo says %s", fi.Path, got, fi.SHA256)
		}
	}
}
