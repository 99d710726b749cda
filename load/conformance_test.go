package load

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/schemas"
)

// TestSinkConformance is what any sink of the warehouse must do: publish
// one complete file per table and slice, read back exactly what was
// written, replace a slice on rerun, and leave it untouched on abort.
func TestSinkConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, b) })
			t.Run("Rerun", func(t *testing.T) { testRerun(t, b) })
			t.Run("Abort", func(t *testing.T) { testAbort(t, b) })
			t.Run("PublishNotInterrupted", func(t *testing.T) { testPublishNotInterrupted(t, b) })
		})
	}
}

func testRoundTrip(t *testing.T, b backend) {
	cases := []struct {
		name             string
		tenant           string
		users, rejects   int
		batch            int
		wantRowsPerTable [3]int64
	}{
		{"no rejects", "tenant-a", 25, 0, 7, [3]int64{25, 50, 0}},
		{"one batch", "contoso.onmicrosoft.com", 4, 3, 100, [3]int64{4, 8, 3}},
		{"many batches", "tenant-c", 300, 41, 16, [3]int64{300, 600, 41}},
		{"nothing at all", "tenant-empty", 0, 0, 1, [3]int64{0, 0, 0}},
	}
	w, _ := b.open(t)
	ctx := context.Background()
	var wantKeys []schemas.Key
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := checkedAllocator(t)
			key := schemas.Key{Date: day("2025-03-04"), Tenant: tc.tenant}
			wantKeys = append(wantKeys, key)
			d := makeSlice(key, "run-1", tc.users, tc.rejects, 1)
			recs := d.records(mem, tc.batch)
			defer release(recs)

			infos := commitRecords(t, w, key, "run-1", recs, WriterOptions{Allocator: mem}, nil)
			stored := objects(t, w)
			for i, table := range schemas.Tables {
				fi := infos[i]
				if fi.Table != table.Name || fi.Path != partKey(table.Name, key) || fi.Rows != rowsAt(tc.wantRowsPerTable, i) {
					t.Errorf("FileInfo[%d] = %+v, want table %s, path %s, %d rows", i, fi, table.Name, partKey(table.Name, key), rowsAt(tc.wantRowsPerTable, i))
				}
				data, err := w.bucket.ReadAll(ctx, w.prefix+fi.Path)
				if err != nil {
					t.Fatalf("stored %s: %v", fi.Path, err)
				}
				if stored[fi.Path] != fi.SHA256 || int64(len(data)) != fi.Bytes {
					t.Errorf("%s: FileInfo says %d bytes sha256 %s; stored object has %d bytes sha256 %s", fi.Path, fi.Bytes, fi.SHA256, len(data), stored[fi.Path])
				}

				got, err := w.ReadSlice(ctx, table, key)
				if err != nil {
					t.Fatalf("ReadSlice(%s): %v", table.Name, err)
				}
				want := array.NewTableFromRecords(table.Arrow(), recs[i])
				if got.NumRows() != rowsAt(tc.wantRowsPerTable, i) {
					t.Errorf("%s read back %d rows, want %d", table.Name, got.NumRows(), rowsAt(tc.wantRowsPerTable, i))
				}
				if !got.Schema().Equal(table.Arrow()) {
					t.Errorf("%s read back with schema\n%s\nwant\n%s", table.Name, got.Schema(), table.Arrow())
				}
				compareTables(t, table.Name, got, want)
				want.Release()
				got.Release()
			}
			if tc.users > 0 {
				checkUserValues(t, w, key)
			}
		})
	}

	gotKeys, err := w.Slices(ctx, schemas.RejectedRecordsTable)
	if err != nil {
		t.Fatalf("Slices: %v", err)
	}
	slices.SortFunc(wantKeys, func(a, b schemas.Key) int { return strings.Compare(a.Tenant, b.Tenant) })
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("Slices = %v, want %v (every table has a file, even with no rows)", gotKeys, wantKeys)
	}
}

// compareTables reports the first column whose values differ.
func compareTables(t *testing.T, name string, got, want arrow.Table) {
	t.Helper()
	if array.TableEqual(got, want) {
		return
	}
	for i := range int(want.NumCols()) {
		if !array.ChunkedEqual(got.Column(i).Data(), want.Column(i).Data()) {
			t.Errorf("%s.%s read back differs:\n got %v\nwant %v", name, want.Schema().Field(i).Name, got.Column(i).Data(), want.Column(i).Data())
			return
		}
	}
	t.Errorf("%s read back differs in its fields: got %s, want %s", name, got.Schema(), want.Schema())
}

// checkUserValues spells out what TableEqual already checks for the values
// that are easiest to lose in Parquet: NULL against empty lists, NULL
// booleans, and UTC microsecond timestamps.
func checkUserValues(t *testing.T, w *Warehouse, key schemas.Key) {
	t.Helper()
	tbl, err := w.ReadSlice(context.Background(), schemas.UserRegistrationDetailsTable, key)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	col := func(name string) arrow.Array {
		idx := tbl.Schema().FieldIndices(name)
		return tbl.Column(idx[0]).Data().Chunk(0)
	}
	lists := col("system_preferred_methods").(*array.List)
	if got := lists.ValueStr(0); got != `["push","sms"]` {
		t.Errorf("row 0 system_preferred_methods = %s, want [push sms]", got)
	}
	if start, end := lists.ValueOffsets(1); !lists.IsValid(1) || start != end {
		t.Errorf("row 1 system_preferred_methods should be an empty list, is %s", lists.ValueStr(1))
	}
	if lists.IsValid(2) {
		t.Errorf("row 2 system_preferred_methods should be NULL, is %s", lists.ValueStr(2))
	}
	if col("is_admin").IsValid(2) || !col("is_registered").IsValid(2) {
		t.Error("row 2 (beta) should have NULL is_admin and a non-NULL is_registered")
	}
	if col("user_display_name").IsValid(1) {
		t.Error("row 1 user_display_name should be NULL")
	}
	ts := col("last_updated_at").(*array.Timestamp)
	typ := ts.DataType().(*arrow.TimestampType)
	if typ.TimeZone != "UTC" || typ.Unit != arrow.Microsecond {
		t.Errorf("last_updated_at is %s, want timestamp[us, tz=UTC]", typ)
	}
	wantTS := time.Date(2024, 12, 31, 23, 59, 59, 123456000, time.UTC)
	if got := ts.Value(0).ToTime(arrow.Microsecond); !got.Equal(wantTS) {
		t.Errorf("row 0 last_updated_at = %s, want %s", got, wantTS)
	}
	if ts.IsValid(1) {
		t.Error("row 1 last_updated_at should be NULL")
	}
}

func testRerun(t *testing.T, b backend) {
	w, dir := b.open(t)
	ctx := context.Background()
	key := schemas.Key{Date: day("2025-03-05"), Tenant: "tenant-r"}
	first := commitSlice(t, w, key, "run-1", makeSlice(key, "run-1", 40, 9, 1), WriterOptions{})
	second := commitSlice(t, w, key, "run-2", makeSlice(key, "run-2", 12, 0, 2), WriterOptions{})

	for i, table := range schemas.Tables {
		if first[i].SHA256 == second[i].SHA256 {
			t.Errorf("%s: the rerun published the same bytes as the first run", table.Name)
		}
		got, err := w.ReadSlice(ctx, table, key)
		if err != nil {
			t.Fatal(err)
		}
		if got.NumRows() != second[i].Rows {
			t.Errorf("%s after rerun has %d rows, want the second run's %d", table.Name, got.NumRows(), second[i].Rows)
		}
		runIDs := got.Column(got.Schema().FieldIndices("run_id")[0]).Data()
		for _, c := range runIDs.Chunks() {
			for j := range c.Len() {
				if v := c.(*array.String).Value(j); v != "run-2" {
					t.Fatalf("%s still holds a row of %s after the rerun", table.Name, v)
				}
			}
		}
		got.Release()
	}
	wantObjects := []string{}
	for _, fi := range second {
		wantObjects = append(wantObjects, fi.Path)
	}
	slices.Sort(wantObjects)
	if got := slices.Sorted(maps.Keys(objects(t, w))); !slices.Equal(got, wantObjects) {
		t.Errorf("after the rerun the warehouse holds %v, want exactly %v", got, wantObjects)
	}
	if dir != "" {
		if got := localFiles(t, dir); !slices.Equal(got, wantObjects) {
			t.Errorf("after the rerun the folder holds %v, want exactly %v", got, wantObjects)
		}
	}
}

// testAbort runs a slice that stops half-way, over a published one. Only
// Abort (or a failed Commit) discards it: a cancelled ctx makes Write and
// Commit refuse, but the slice stays open until Commit or Abort.
func testAbort(t *testing.T, b backend) {
	cases := []struct {
		name string
		// stop ends the run; it returns what Commit published, if it did.
		stop func(t *testing.T, ctx context.Context, cancel context.CancelFunc, s *SliceWriter, rest [][]arrow.RecordBatch) []FileInfo
	}{
		{"Abort", func(t *testing.T, _ context.Context, _ context.CancelFunc, s *SliceWriter, _ [][]arrow.RecordBatch) []FileInfo {
			s.Abort()
			return nil
		}},
		{"cancel mid-way, then Abort", func(t *testing.T, ctx context.Context, cancel context.CancelFunc, s *SliceWriter, rest [][]arrow.RecordBatch) []FileInfo {
			cancel()
			if err := s.Write(ctx, schemas.Tables[0], rest[0][0]); !errors.Is(err, context.Canceled) {
				t.Errorf("Write after cancel = %v, want context.Canceled", err)
			}
			s.Abort()
			return nil
		}},
		{"cancel, then Commit", func(t *testing.T, ctx context.Context, cancel context.CancelFunc, s *SliceWriter, _ [][]arrow.RecordBatch) []FileInfo {
			cancel()
			if _, err := s.Commit(ctx); !errors.Is(err, context.Canceled) {
				t.Errorf("Commit after cancel = %v, want context.Canceled", err)
			}
			// A failed Commit aborts by itself; no Abort here on purpose.
			return nil
		}},
		{"Abort's cancel, then Commit", func(t *testing.T, ctx context.Context, _ context.CancelFunc, s *SliceWriter, _ [][]arrow.RecordBatch) []FileInfo {
			// What Abort does before it waits for a Commit in progress:
			// the Commit that then gets the lock must not publish.
			s.interrupt()
			if _, err := s.Commit(ctx); err == nil || !strings.Contains(err.Error(), "aborted") {
				t.Errorf("Commit after Abort's cancel = %v, want an error saying the slice was aborted", err)
			}
			return nil
		}},
		{"Commit with a live ctx after Begin's ctx is cancelled", func(t *testing.T, ctx context.Context, cancel context.CancelFunc, s *SliceWriter, rest [][]arrow.RecordBatch) []FileInfo {
			cancel()
			if err := s.Write(ctx, schemas.Tables[0], rest[0][0]); !errors.Is(err, context.Canceled) {
				t.Errorf("Write with Begin's cancelled ctx = %v, want context.Canceled", err)
			}
			live := context.Background()
			writeAll(t, live, s, rest)
			infos, err := s.Commit(live)
			if err != nil {
				t.Fatalf("Commit = %v; cancelling Begin's ctx must not abort the slice", err)
			}
			return infos
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, dir := b.open(t)
			key := schemas.Key{Date: day("2025-03-06"), Tenant: "tenant-x"}
			prev := commitSlice(t, w, key, "run-1", makeSlice(key, "run-1", 30, 5, 1), WriterOptions{})
			before := objects(t, w)
			for _, fi := range prev {
				if before[fi.Path] != fi.SHA256 {
					t.Fatalf("%s stored sha256 %s, FileInfo %s", fi.Path, before[fi.Path], fi.SHA256)
				}
			}
			beforeFiles := slices.Sorted(maps.Keys(before))

			mem := checkedAllocator(t)
			recs := makeSlice(key, "run-2", 200, 20, 2).records(mem, 20)
			defer release(recs)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := w.Begin(ctx, key, "run-2", WriterOptions{Allocator: mem, RowGroupRows: 64})
			if err != nil {
				t.Fatal(err)
			}
			half := make([][]arrow.RecordBatch, len(recs))
			rest := make([][]arrow.RecordBatch, len(recs))
			for i, rs := range recs {
				half[i], rest[i] = rs[:len(rs)/2], rs[len(rs)/2:]
			}
			writeAll(t, ctx, s, half)
			if mid := objects(t, w); dir == "" && !maps.Equal(mid, before) {
				t.Errorf("mid-run the warehouse shows %v, want only the previous snapshot %v", mid, before)
			}
			if dir != "" {
				if got := publishedFiles(t, dir); !slices.Equal(got, beforeFiles) {
					t.Errorf("mid-run the partitions hold %v, want exactly the previous snapshot %v", got, beforeFiles)
				}
				for _, fi := range prev {
					if got := sha256File(t, filepath.Join(dir, fi.Path)); got != fi.SHA256 {
						t.Errorf("mid-run %s has sha256 %s, want the previous file's %s", fi.Path, got, fi.SHA256)
					}
				}
				wantStaged(t, dir, "run-2")
			}
			published := tc.stop(t, ctx, cancel, s, rest)
			s.Abort() // a second Abort (or one after Commit) is a no-op

			want := before
			if published != nil {
				want = map[string]string{}
				for _, fi := range published {
					want[fi.Path] = fi.SHA256
				}
				for i, table := range schemas.Tables {
					got, err := w.ReadSlice(context.Background(), table, key)
					if err != nil {
						t.Fatal(err)
					}
					var rows int64
					for _, r := range recs[i] {
						rows += r.NumRows()
					}
					if got.NumRows() != rows || published[i].Rows != rows {
						t.Errorf("%s holds %d rows, FileInfo says %d; want the run's %d", table.Name, got.NumRows(), published[i].Rows, rows)
					}
					got.Release()
				}
			}
			if after := objects(t, w); !maps.Equal(after, want) {
				t.Errorf("after the run the warehouse holds\n%v\nwant\n%v", after, want)
			}
			if dir != "" {
				if files := localFiles(t, dir); !slices.Equal(files, slices.Sorted(maps.Keys(want))) {
					t.Errorf("after the run the folder holds %v, want exactly %v (nothing staged)", files, slices.Sorted(maps.Keys(want)))
				}
			}
			if _, err := s.Commit(context.Background()); err == nil {
				t.Error("Commit after Abort or Commit succeeded")
			}
		})
	}
}

// testPublishNotInterrupted cancels everything that could stop Commit once
// it has published its first file: the rest must be published too, or the
// slice would be half new, half old.
func testPublishNotInterrupted(t *testing.T, b backend) {
	cases := []struct {
		name string
		// interrupt runs after the first file is published.
		interrupt func(s *SliceWriter, cancelCommit, cancelBegin context.CancelFunc)
	}{
		{"Commit's and Begin's ctx cancelled", func(_ *SliceWriter, cancelCommit, cancelBegin context.CancelFunc) {
			cancelCommit()
			cancelBegin()
		}},
		{"Abort", func(s *SliceWriter, _, _ context.CancelFunc) {
			// What Abort does before it waits for Commit to finish (a real
			// Abort would block here, as Commit holds the lock).
			s.interrupt()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, dir := b.open(t)
			key := schemas.Key{Date: day("2025-03-08"), Tenant: "tenant-i"}
			commitSlice(t, w, key, "run-1", makeSlice(key, "run-1", 30, 5, 1), WriterOptions{})

			recs := makeSlice(key, "run-2", 50, 7, 2).records(memory.DefaultAllocator, 10)
			defer release(recs)
			beginCtx, cancelBegin := context.WithCancel(context.Background())
			defer cancelBegin()
			commitCtx, cancelCommit := context.WithCancel(context.Background())
			defer cancelCommit()
			s, err := w.Begin(beginCtx, key, "run-2", WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Abort()
			writeAll(t, beginCtx, s, recs)
			var published []string
			s.afterPublish = func(table string) {
				if published = append(published, table); len(published) == 1 {
					tc.interrupt(s, cancelCommit, cancelBegin)
				}
			}
			infos, err := s.Commit(commitCtx)
			if err != nil {
				t.Fatalf("Commit = %v after publishing %v; once publishing has started it must finish", err, published)
			}
			want := map[string]string{}
			for _, fi := range infos {
				want[fi.Path] = fi.SHA256
			}
			if got := objects(t, w); !maps.Equal(got, want) {
				t.Errorf("the warehouse holds\n%v\nwant the new files\n%v", got, want)
			}
			if dir != "" {
				if got := stagingFiles(t, dir); len(got) != 0 {
					t.Errorf("after Commit _staging still holds %v", got)
				}
			}
		})
	}
}

// rowsAt is the rows wanted of the i-th table: the three the cases give,
// none for the derived tables.
func rowsAt(want [3]int64, i int) int64 {
	if i < len(want) {
		return want[i]
	}
	return 0
}
