package transform

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// spillUsers adds n users u<from>..u<from+n-1>, one page each.
func spillUsers(t *testing.T, tr *Transformer, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		for _, b := range tr.AddPage(int64(i+1), testReceived, split(t, v1User(fmt.Sprintf("u%d", i), "x@y", ""))) {
			b.Record.Release()
		}
	}
}

// TestSpillThatCannotStartIsAnError checks that a spill whose temporary
// folder cannot be created is reported by Err, naming the folder, and that
// the Transformer then stops remembering ids rather than growing.
func TestSpillThatCannotStartIsAnError(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "missing")
	t.Setenv("TMPDIR", tmp)
	tr := New(Options{Key: testKey, RunID: "r", SeenInMemory: 4})
	defer tr.Release()
	spillUsers(t, tr, 0, 50)
	for _, b := range tr.Finish() {
		b.Record.Release()
	}
	err := tr.Err()
	if err == nil {
		t.Fatal("Err() = nil for a spill whose folder does not exist")
	}
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), tmp) {
		t.Fatalf("Err() = %v; want fs.ErrNotExist naming %s", err, tmp)
	}
	if n := tr.seen.len(); n > 5 {
		t.Fatalf("%d ids in memory past SeenInMemory 4 with no spill: memory grows", n)
	}
}

// TestSpillThatCannotWriteIsAnErrorAndStaysBounded checks that a write
// error of the runs file is reported by Err, naming the folder, and that
// the buffer does not keep growing with what can no longer be written.
func TestSpillThatCannotWriteIsAnErrorAndStaysBounded(t *testing.T) {
	tr := New(Options{Key: testKey, RunID: "r", SeenInMemory: 4})
	defer tr.Release()
	spillUsers(t, tr, 0, 10)
	if tr.spill == nil || tr.Err() != nil {
		t.Fatalf("no spill past SeenInMemory 4 (err %v)", tr.Err())
	}
	good := tr.spill.runs
	ro, err := os.Open(good.Name()) // read only: writes fail
	if err != nil {
		t.Fatal(err)
	}
	tr.spill.runs = ro
	defer func() { ro.Close(); tr.spill.runs = good }()
	spillUsers(t, tr, 10, 100)
	err = tr.Err()
	if err == nil {
		t.Fatal("Err() = nil after the runs file refused a write")
	}
	if !strings.Contains(err.Error(), tr.spill.dir) {
		t.Fatalf("Err() = %v; want it to name %s", err, tr.spill.dir)
	}
	if n := len(tr.spill.buf); n > tr.spill.runEntries {
		t.Fatalf("%d entries buffered after the write error (a run is %d): memory grows", n, tr.spill.runEntries)
	}
}

// TestFailedMergeIsNotTakenForTheAnswer checks that a merge that fails
// part-way neither replaces the last resolution nor marks it up to date:
// a partial count of superseded copies would skip the second pass.
func TestFailedMergeIsNotTakenForTheAnswer(t *testing.T) {
	tr := New(Options{Key: testKey, RunID: "r", SeenInMemory: 2})
	defer tr.Release()
	// u0 read again later, with a later lastUpdatedDateTime: superseded.
	recs := func(i int) []string {
		return []string{v1User(fmt.Sprintf("u%d", i), "x@y", "2026-11-27T01:00:00Z")}
	}
	for i := range 8 {
		tr.AddShardPage(int64(i+1), "a", testReceived, split(t, recs(i)...))
	}
	tr.AddShardPage(9, "b", testReceived, split(t, v1User("u0", "x@y", "2026-11-27T02:00:00Z")))
	if tr.spill == nil {
		t.Fatal("no spill past SeenInMemory 2")
	}
	good := tr.spill.runs
	wo, err := os.OpenFile(good.Name(), os.O_WRONLY, 0) // write only: the merge's reads fail
	if err != nil {
		t.Fatal(err)
	}
	tr.spill.runs = wo
	defer func() { wo.Close(); tr.spill.runs = good }()
	tr.Finish()
	if tr.Err() == nil {
		t.Fatal("Err() = nil after the merge could not read the runs")
	}
	if sp := tr.spill; sp.merged == sp.version || sp.mergedRuns == len(sp.list) {
		t.Fatalf("a failed merge marked itself up to date (merged %d of %d entries, %d of %d runs)", sp.merged, sp.version, sp.mergedRuns, len(sp.list))
	}
	// Nothing retries a broken spill, but nothing hangs either.
	tr.Superseded()
	tr.Winners()
	tr.Has("u1")
	if tr.spill.merges != 1 {
		t.Fatalf("%d merges begun; want 1 (no retry once Err is set)", tr.spill.merges)
	}
}

// TestStatsMidRunDoesNotMerge checks that progress (Stats per page) does
// not merge the spill, and that Stats after Finish is exact.
func TestStatsMidRunDoesNotMerge(t *testing.T) {
	pages := func(tr *Transformer, stats bool) {
		for i := range 200 {
			id := fmt.Sprintf("u%d", i%150) // 50 ids read twice
			shard := "a"
			if i >= 150 {
				shard = "b"
			}
			for _, b := range tr.AddShardPage(int64(i+1), shard, testReceived, split(t, v1User(id, "x@y", "2026-11-27T01:00:00Z"))) {
				b.Record.Release()
			}
			if stats {
				tr.Stats()
			}
		}
		for _, b := range tr.Finish() {
			b.Record.Release()
		}
	}
	exact := New(Options{Key: testKey, RunID: "r", SeenInMemory: -1})
	defer exact.Release()
	pages(exact, false)
	tr := New(Options{Key: testKey, RunID: "r", SeenInMemory: 8})
	defer tr.Release()
	pages(tr, true)
	if tr.spill == nil {
		t.Fatal("no spill past SeenInMemory 8")
	}
	if n := tr.spill.merges; n != 1 {
		t.Fatalf("%d merges for 200 pages with Stats after each; want 1, Finish's", n)
	}
	got, want := tr.Stats(), exact.Stats()
	if firstCounts(got) != firstCounts(want) {
		t.Fatalf("Stats after Finish %v; want %v", firstCounts(got), firstCounts(want))
	}
	if n := tr.spill.merges; n != 1 {
		t.Fatalf("Stats after Finish merged again (%d merges)", n)
	}
}

// TestLookupReadsTheSpillOnce checks that Lookup answers loaded and
// rejected with one lookup of the spill, for an id loaded and for one
// never read (the reconciliation asks of every previous user).
func TestLookupReadsTheSpillOnce(t *testing.T) {
	tr := New(Options{Key: testKey, RunID: "r", SeenInMemory: 2})
	defer tr.Release()
	spillUsers(t, tr, 0, 20)
	tr.AddPage(100, testReceived, split(t, `{"id":"bad","userPrincipalName":7}`))
	tr.Finish()
	for _, c := range []struct {
		id               string
		loaded, rejected bool
	}{{"u1", true, false}, {"u19", true, false}, {"bad", false, true}, {"never", false, false}} {
		before := tr.spill.lookups
		loaded, rejected := tr.Lookup(c.id)
		if loaded != c.loaded || rejected != c.rejected {
			t.Errorf("Lookup(%q) = %v, %v; want %v, %v", c.id, loaded, rejected, c.loaded, c.rejected)
		}
		if n := tr.spill.lookups - before; n != 1 {
			t.Errorf("Lookup(%q) looked in the spill %d times; want 1", c.id, n)
		}
		if tr.Has(c.id) != (c.loaded || c.rejected) || tr.Loaded(c.id) != c.loaded {
			t.Errorf("Has/Loaded(%q) disagree with Lookup", c.id)
		}
	}
}

// TestSpillEntrySizeIsDocumented keeps maxSpillRun's doc (64 bytes an
// entry in memory, 56 in the file) true.
func TestSpillEntrySizeIsDocumented(t *testing.T) {
	if n := unsafe.Sizeof(spillEntry{}); n != spillEntrySize {
		t.Fatalf("a spillEntry is %d bytes in memory; maxSpillRun's doc says %d", n, spillEntrySize)
	}
	if seenEntrySize != 56 {
		t.Fatalf("an encoded spillEntry is %d bytes; maxSpillRun's doc says 56", seenEntrySize)
	}
}
