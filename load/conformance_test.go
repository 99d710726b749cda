package load

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

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
				if fi.Table != table.Name || fi.Path != partKey(table.Name, key) || fi.Rows != tc.wantRowsPerTable[i] {
					t.Errorf("FileInfo[%d] = %+v, want table %s, path %s, %d rows", i, fi, table.Name, partKey(table.Name, key), tc.wantRowsPerTable[i])
				}
				data, err := w.bucket.ReadAll(ctx, fi.Path)
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
				if got.NumRows() != tc.wantRowsPerTable[i] {
					t.Errorf("%s read back %d rows, want %d", table.Name, got.NumRows(), tc.wantRowsPerTable[i])
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

func testAbort(t *testing.T, b backend) {
	cases := []struct {
		name string
		// stop ends the run that must leave no trace.
		stop func(t *testing.T, ctx context.Context, cancel context.CancelFunc, s *SliceWriter, rest [][]arrow.RecordBatch)
	}{
		{"Abort", func(t *testing.T, _ context.Context, _ context.CancelFunc, s *SliceWriter, _ [][]arrow.RecordBatch) {
			s.Abort()
		}},
		{"cancel mid-way, then Abort", func(t *testing.T, ctx context.Context, cancel context.CancelFunc, s *SliceWriter, rest [][]arrow.RecordBatch) {
			cancel()
			if err := s.Write(ctx, schemas.Tables[0], rest[0][0]); !errors.Is(err, context.Canceled) {
				t.Errorf("Write after cancel = %v, want context.Canceled", err)
			}
			s.Abort()
		}},
		{"cancel, then Commit", func(t *testing.T, ctx context.Context, cancel context.CancelFunc, s *SliceWriter, _ [][]arrow.RecordBatch) {
			cancel()
			if _, err := s.Commit(ctx); !errors.Is(err, context.Canceled) {
				t.Errorf("Commit after cancel = %v, want context.Canceled", err)
			}
			// A failed Commit aborts by itself; no Abort here on purpose.
		}},
		{"Commit with a live ctx after Begin's ctx is cancelled", func(t *testing.T, _ context.Context, cancel context.CancelFunc, s *SliceWriter, _ [][]arrow.RecordBatch) {
			cancel()
			if _, err := s.Commit(context.Background()); !errors.Is(err, context.Canceled) {
				t.Errorf("Commit = %v, want context.Canceled from the blob writer", err)
			}
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
			if dir != "" {
				if tmp := countTmp(localFiles(t, dir)); tmp != len(schemas.Tables) {
					t.Errorf("mid-run the folder has %d temporary files, want one per table (%d)", tmp, len(schemas.Tables))
				}
			}
			tc.stop(t, ctx, cancel, s, rest)
			s.Abort() // a second Abort (or one after a failed Commit) is a no-op

			if after := objects(t, w); !maps.Equal(after, before) {
				t.Errorf("warehouse changed by a run that did not commit:\nbefore %v\nafter  %v", before, after)
			}
			if dir != "" {
				want := slices.Sorted(maps.Keys(before))
				if files := localFiles(t, dir); !slices.Equal(files, want) {
					t.Errorf("after the aborted run the folder holds %v, want exactly %v (no temporary files)", files, want)
				}
			}
			if _, err := s.Commit(context.Background()); err == nil {
				t.Error("Commit after Abort succeeded")
			}
		})
	}
}

func countTmp(files []string) int {
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".tmp") {
			n++
		}
	}
	return n
}
