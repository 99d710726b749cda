package load

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/credreg/credreg/schemas"
)

// A process killed mid-write leaves part-00000.parquet.<hex>.tmp behind;
// the next Begin of the slice removes it once it is stale, and leaves a
// fresh one (a write that may still be in progress) alone.
func TestBeginSweepsStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, dir)
	key := schemas.Key{Date: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), Tenant: "t1"}
	slice := filepath.Join(dir, "user_registration_details", "snapshot_date=2026-11-20", "tenant_id=t1")
	if err := os.MkdirAll(slice, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(slice, "part-00000.parquet.18a3f.tmp")
	fresh := filepath.Join(slice, "part-00000.parquet.18a40.tmp")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("PAR1 half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleTemp)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	s, err := w.Begin(context.Background(), key, "run-1", WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Abort()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp file still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temp file removed: %v", err)
	}
}
