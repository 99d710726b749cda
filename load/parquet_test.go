package load

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/credreg/credreg/schemas"
)

// parquetFile opens a published file with the low-level Parquet reader, to
// see what BigQuery and DuckDB see rather than what Arrow makes of it.
func parquetFile(t *testing.T, w *Warehouse, fi FileInfo) *file.Reader {
	t.Helper()
	data, err := w.bucket.ReadAll(context.Background(), w.prefix+fi.Path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s is not a Parquet file: %v", fi.Path, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestParquetFormat(t *testing.T) {
	w := openTest(t, "mem://")
	key := schemas.Key{Date: day("2025-03-07"), Tenant: "tenant-p"}
	infos := commitSlice(t, w, key, "run-format", makeSlice(key, "run-format", 20, 4, 1), WriterOptions{})

	for i, table := range schemas.Tables {
		r := parquetFile(t, w, infos[i])
		md := r.MetaData()
		sc := md.Schema

		// Logical types, as the Parquet schema states them.
		for c := range sc.NumColumns() {
			col := sc.Column(c)
			lt := col.LogicalType()
			switch col.Path() {
			case schemas.ColSnapshotDate:
				if _, ok := lt.(schema.DateLogicalType); !ok {
					t.Errorf("%s.%s has logical type %s, want DATE", table.Name, col.Path(), lt)
				}
			case "last_updated_at", "extracted_at":
				ts, ok := lt.(schema.TimestampLogicalType)
				if !ok || !ts.IsAdjustedToUTC() || ts.TimeUnit() != schema.TimeUnitMicros {
					t.Errorf("%s.%s has logical type %s, want TIMESTAMP(isAdjustedToUTC=true, MICROS)", table.Name, col.Path(), lt)
				}
			}
		}
		if table == schemas.UserRegistrationDetailsTable {
			if idx := sc.ColumnIndexByName("extracted_at"); idx < 0 {
				t.Error("users file has no extracted_at column")
			}
			if idx := sc.ColumnIndexByName("system_preferred_methods.list.element"); idx < 0 {
				t.Error("system_preferred_methods is not a standard 3-level LIST (list.element), which BigQuery's list inference needs")
			}
		}

		// Compression, dictionary encoding and statistics of every chunk.
		for rg := range md.NumRowGroups() {
			for c := range sc.NumColumns() {
				cc, err := md.RowGroup(rg).ColumnChunk(c)
				if err != nil {
					t.Fatal(err)
				}
				if cc.Compression() != compress.Codecs.Zstd {
					t.Errorf("%s column %s is %s-compressed, want zstd", table.Name, sc.Column(c).Path(), cc.Compression())
				}
				col := sc.Column(c)
				want := wantEncoding(col)
				// makeSlice mixes both reports in the users and their
				// methods, so there source is not constant: a dictionary
				// or not, as arrow decides (TestConstantColumns).
				mixed := col.Path() == "source" && table != schemas.RejectedRecordsTable
				if got := cc.HasDictionaryPage(); got != want.dictionary && !mixed {
					t.Errorf("%s column %s: dictionary page %v, want %v", table.Name, col.Path(), got, want.dictionary)
				}
				if ok, err := cc.StatsSet(); err != nil || ok != want.stats {
					t.Errorf("%s column %s: statistics %v (err %v), want %v", table.Name, col.Path(), ok, err, want.stats)
				}
			}
		}

		kv := md.KeyValueMetadata()
		for k, want := range map[string]string{
			"credreg.table":          table.Name,
			"credreg.schema_version": schemas.Version,
			"credreg.run_id":         "run-format",
		} {
			if got := kv.FindValue(k); got == nil || *got != want {
				t.Errorf("%s key-value metadata %s = %v, want %q", table.Name, k, got, want)
			}
		}
		if kv.FindValue("ARROW:schema") == nil {
			t.Errorf("%s does not store its Arrow schema", table.Name)
		}
	}
}

// wantEncoding is the encoding policy of parquet_columns.go, restated from
// the Parquet side so that a change to the policy shows here.
func wantEncoding(col *schema.Column) columnEncoding {
	switch col.Path() {
	case "user_id", "user_principal_name":
		// unique per user: a dictionary and min/max buy nothing
		return columnEncoding{}
	case "tenant_id", "run_id", "source":
		// the slice's constant strings: a dictionary of their one value
		return columnEncoding{dictionary: true, stats: true}
	case "auth_method", "method_family", "user_type", "default_mfa_method", "system_preferred_methods.list.element":
		// enum-like: a dictionary of the file's vocabulary, no
		// statistics (encodingOf says why)
		return columnEncoding{dictionary: true}
	}
	switch col.LogicalType().(type) {
	case schema.TimestampLogicalType, schema.DateLogicalType:
		return columnEncoding{stats: true}
	}
	// Parquet has no dictionary encoding for booleans.
	return columnEncoding{dictionary: col.PhysicalType() != parquet.Types.Boolean, stats: true}
}

func TestRowGroups(t *testing.T) {
	t.Parallel()
	key := schemas.Key{Date: day("2025-03-08"), Tenant: "tenant-g"}
	// wide rejects whose raw_json neither compresses nor repeats, so the
	// encoders emit pages as they go
	wide := makeSlice(key, "run-g", 0, 64, 1)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range wide.rejects {
		b := make([]byte, 64<<10)
		for j := range b {
			b[j] = byte(rnd.UintN(256))
		}
		wide.rejects[i].RawJSON = hex.EncodeToString(b)
	}
	cases := []struct {
		name     string
		opts     WriterOptions
		maxBytes int64 // 0: the package's cap
		data     sliceData
		batch    int
		table    int     // index in schemas.Tables
		want     []int64 // rows per row group, when exact
		check    func([]int64) bool
	}{
		{name: "small batches join one row group", data: makeSlice(key, "run-g", 1000, 0, 1), batch: 10,
			want: []int64{1000}},
		{name: "RowGroupRows caps and splits batches", opts: WriterOptions{RowGroupRows: 300},
			data: makeSlice(key, "run-g", 1000, 0, 1), batch: 70, want: []int64{300, 300, 300, 100}},
		{name: "no rows, no row group", data: makeSlice(key, "run-g", 0, 0, 1), batch: 1, want: nil},
		{name: "encoded size cuts a row group", maxBytes: 1 << 20, data: wide, batch: 4, table: 2,
			check: func(groups []int64) bool { return len(groups) > 2 && slices.Max(groups) <= 32 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := openTest(t, "mem://")
			mem := checkedAllocator(t)
			tc.opts.Allocator = mem
			recs := tc.data.records(mem, tc.batch)
			defer release(recs)
			infos := commitRecords(t, w, key, "run-g", recs, tc.opts, func(s *SliceWriter) {
				if tc.maxBytes > 0 {
					for _, f := range s.files {
						f.maxBytes = tc.maxBytes
					}
				}
			})
			md := parquetFile(t, w, infos[tc.table]).MetaData()
			var got []int64
			var total int64
			for rg := range md.NumRowGroups() {
				got = append(got, md.RowGroup(rg).NumRows())
				total += md.RowGroup(rg).NumRows()
			}
			if total != infos[tc.table].Rows {
				t.Errorf("row groups hold %d rows, FileInfo says %d", total, infos[tc.table].Rows)
			}
			if tc.check != nil {
				if !tc.check(got) {
					t.Errorf("row groups of %v rows", got)
				}
			} else if !slices.Equal(got, tc.want) {
				t.Errorf("row groups of %v rows, want %v", got, tc.want)
			}
		})
	}
}

// TestColumnEncodings pins the encoding of the columns the policy was
// measured on, and reads a slice written with it back value for value.
func TestColumnEncodings(t *testing.T) {
	t.Parallel()
	w := openTest(t, "mem://")
	key := schemas.Key{Date: day("2025-03-09"), Tenant: "tenant-e"}
	mem := checkedAllocator(t)
	recs := makeSlice(key, "run-e", 3000, 10, 1).records(mem, 999)
	defer release(recs)
	infos := commitRecords(t, w, key, "run-e", recs, WriterOptions{Allocator: mem}, nil)

	cases := []struct {
		table  int // index in schemas.Tables
		column string
		want   columnEncoding
	}{
		{0, "user_id", columnEncoding{}},
		{0, "user_principal_name", columnEncoding{}},
		{0, "tenant_id", columnEncoding{dictionary: true, stats: true}},
		{0, "run_id", columnEncoding{dictionary: true, stats: true}},
		{0, schemas.ColSnapshotDate, columnEncoding{stats: true}},
		{0, "last_updated_at", columnEncoding{stats: true}},
		{0, "extracted_at", columnEncoding{stats: true}},
		{0, "user_display_name", columnEncoding{dictionary: true, stats: true}},
		{0, "user_type", columnEncoding{dictionary: true}},
		{0, "default_mfa_method", columnEncoding{dictionary: true}},
		{0, "auth_method_count", columnEncoding{dictionary: true, stats: true}},
		{0, "system_preferred_methods.list.element", columnEncoding{dictionary: true}},
		{0, "is_admin", columnEncoding{stats: true}},
		{1, "user_id", columnEncoding{}},
		{1, "user_principal_name", columnEncoding{}},
		{1, "auth_method", columnEncoding{dictionary: true}},
		{1, "method_family", columnEncoding{dictionary: true}},
		{1, "tenant_id", columnEncoding{dictionary: true, stats: true}},
	}
	for _, tc := range cases {
		table := schemas.Tables[tc.table]
		md := parquetFile(t, w, infos[tc.table]).MetaData()
		c := md.Schema.ColumnIndexByName(tc.column)
		if c < 0 {
			t.Errorf("%s has no column %s", table.Name, tc.column)
			continue
		}
		for rg := range md.NumRowGroups() {
			cc, err := md.RowGroup(rg).ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			dict := cc.HasDictionaryPage() || slices.Contains(cc.Encodings(), parquet.Encodings.RLEDict)
			if dict != tc.want.dictionary {
				t.Errorf("%s.%s row group %d: dictionary %v (encodings %v), want %v", table.Name, tc.column, rg, dict, cc.Encodings(), tc.want.dictionary)
			}
			if ok, err := cc.StatsSet(); err != nil || ok != tc.want.stats {
				t.Errorf("%s.%s row group %d: statistics %v (err %v), want %v", table.Name, tc.column, rg, ok, err, tc.want.stats)
			}
		}
	}

	for i, table := range schemas.Tables {
		got, err := w.ReadSlice(context.Background(), table, key)
		if err != nil {
			t.Fatalf("ReadSlice(%s): %v", table.Name, err)
		}
		want := array.NewTableFromRecords(table.Arrow(), recs[i])
		compareTables(t, table.Name, got, want)
		want.Release()
		got.Release()
	}
}

func TestSameValues(t *testing.T) {
	mem := checkedAllocator(t)
	strs := func(vs ...string) arrow.Array { return stringArray(mem, vs...) }
	sliced := func(a arrow.Array, i, j int64) arrow.Array {
		defer a.Release()
		return array.NewSlice(a, i, j)
	}
	cases := []struct {
		name string
		col  arrow.Array
		want bool
	}{
		{"one value", strs("t1"), true},
		{"constant", strs("tenant", "tenant", "tenant"), true},
		{"empty strings", strs("", "", ""), true},
		{"last differs", strs("tenant", "tenant", "tenanu"), false},
		{"first differs", strs("tenanu", "tenant", "tenant"), false},
		{"same bytes, other cuts", strs("ab", "ab", "a", "bab"), false},
		{"periodic bytes, other length", strs("abab", "ab"), false},
		{"rotated value", strs("ab", "ba"), false},
		{"a NULL", strs("tenant", "<null>", "tenant"), false},
		{"only NULLs", strs("<null>", "<null>"), false},
		{"no rows", strs(), false},
		{"slice of a constant run", sliced(strs("x", "tenant", "tenant", "y"), 1, 3), true},
		{"slice that differs", sliced(strs("tenant", "tenant", "y"), 1, 3), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.col.Release()
			if got := sameValues(tc.col); got != tc.want {
				t.Errorf("sameValues(%v) = %v, want %v", tc.col, got, tc.want)
			}
		})
	}
}

// A constant batch becomes a one-entry dictionary, the same one while the
// value stays, with zero indices; anything else becomes a dictionary of
// its own values. Either way the values are the column's.
func TestConstantColumnEncode(t *testing.T) {
	mem := checkedAllocator(t)
	strs := func(vs ...string) arrow.Array {
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.AppendValues(vs, nil)
		return b.NewArray()
	}
	c := constantColumn{typ: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}}
	defer c.release()
	var idx indexBuffers
	withNull := func() arrow.Array {
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.AppendValues([]string{"run-b", "", "run-b"}, []bool{true, false, true})
		return b.NewArray()
	}
	steps := []struct {
		col     arrow.Array
		entries int  // dictionary entries
		reused  bool // the previous step's dictionary
	}{
		{strs("run-a", "run-a", "run-a"), 1, false},
		{strs("run-a", "run-a"), 1, true},
		{strs("run-b", "run-b"), 1, false},
		{strs("run-b", "run-a", "run-b"), 2, false}, // hashed into its own
		{strs("run-b"), 1, true},                    // the cached one, not the mixed batch's
		{withNull(), 1, false},                      // hashed: run-b, and a NULL index
	}
	var prev arrow.ArrayData
	for i, st := range steps {
		got, err := c.encode(mem, st.col, &idx)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		d := got.(*array.Dictionary)
		if d.Dictionary().Len() != st.entries {
			t.Errorf("step %d: %d dictionary entries, want %d", i, d.Dictionary().Len(), st.entries)
		}
		if reused := d.Data().Dictionary() == prev; reused != st.reused {
			t.Errorf("step %d: dictionary reused %v, want %v", i, reused, st.reused)
		}
		if st.entries == 1 {
			for j, v := range d.Indices().(*array.Int32).Int32Values() {
				if v != 0 {
					t.Errorf("step %d: index %d is %d, want 0", i, j, v)
				}
			}
		}
		if c.dict != nil {
			prev = c.dict.Data()
		}
		want := st.col.(*array.String)
		for j := range d.Len() {
			if d.IsNull(j) != want.IsNull(j) {
				t.Errorf("step %d row %d: NULL %v, want %v", i, j, d.IsNull(j), want.IsNull(j))
				continue
			}
			if want.IsNull(j) {
				continue
			}
			if got := d.Dictionary().(*array.String).Value(d.GetValueIndex(j)); got != want.Value(j) {
				t.Errorf("step %d row %d: %q, want %q", i, j, got, want.Value(j))
			}
		}
		got.Release()
		st.col.Release()
	}
	for i, b := range idx.zeros(3) {
		if b != 0 {
			t.Fatalf("zeros[%d] = %d: the shared indices were written", i, b)
		}
	}
	// An empty value is refused: arrow's dictionary statistics leave it
	// out of min/max.
	for _, col := range []arrow.Array{strs("", ""), strs("run-a", "")} {
		if got, err := c.encode(mem, col, &idx); err == nil {
			got.Release()
			t.Errorf("%v encoded, want an error for the empty value", col)
		}
		col.Release()
	}
}

// The constant columns, written as dictionaries, must come out of the file
// as arrow would write them dense: the same values, the same Parquet and
// stored Arrow schemas, the same statistics per row group; and as a
// dictionary of one value when the batches are constant. Batches are cut
// across row groups, and a batch with one row off makes run_id not
// constant mid-file.
func TestConstantColumns(t *testing.T) {
	t.Parallel()
	key := schemas.Key{Date: day("2025-03-11"), Tenant: "tenant-c"}
	const rowGroup = 300
	constant := func(n int) []schemas.MethodRow {
		rows := makeSlice(key, "run-c", n, 0, 1).methods
		for i := range rows {
			rows[i].Source = schemas.UserRegistrationDetails
		}
		return rows
	}
	oneOff := constant(500)
	oneOff[437].RunID = "run-b" // in the 7th batch of 70, the 2nd row group
	firstOff := constant(500)
	firstOff[0].RunID = "run-b" // the first batch: repeats, no dictionary
	distinct := constant(500)
	for i := range 70 { // the first batch: a dictionary of 70, then plain
		distinct[i].RunID = fmt.Sprintf("run-%02d", i)
	}

	cases := []struct {
		name string
		rows []schemas.MethodRow
		// dictionary: the columns written as a dictionary of one value,
		// per row group
		dictionary [][]string
		// sliced: each batch is its rows past the first (a slice, as
		// erase writes), so its values start past its buffers' start
		sliced bool
	}{
		{"constant", constant(500), [][]string{
			{schemas.ColTenantID, "source", "run_id"},
			{schemas.ColTenantID, "source", "run_id"},
			{schemas.ColTenantID, "source", "run_id"},
			{schemas.ColTenantID, "source", "run_id"},
		}, false},
		{"one row off", oneOff, [][]string{
			{schemas.ColTenantID, "source", "run_id"},
			{schemas.ColTenantID, "source"},
			{schemas.ColTenantID, "source", "run_id"},
			{schemas.ColTenantID, "source", "run_id"},
		}, false},
		{"first row off", firstOff, [][]string{
			{schemas.ColTenantID, "source"},
			{schemas.ColTenantID, "source", "run_id"},
			{schemas.ColTenantID, "source", "run_id"},
			{schemas.ColTenantID, "source", "run_id"},
		}, false},
		{"sliced, distinct", distinct[:210], [][]string{
			{schemas.ColTenantID, "source"},
		}, true},
		{"distinct first batch", distinct, [][]string{
			{schemas.ColTenantID, "source"},
			{schemas.ColTenantID, "source", "run_id"},
			{schemas.ColTenantID, "source", "run_id"},
			{schemas.ColTenantID, "source", "run_id"},
		}, false},
	}
	table := schemas.UserAuthMethodsTable
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := openTest(t, "mem://")
			mem := checkedAllocator(t)
			recs := batches(mem, table, tc.rows, 70)
			if tc.sliced {
				dropFirstRows(recs)
			}
			defer release([][]arrow.RecordBatch{recs})
			infos := commitTable(t, w, key, "run-c", 1, recs, WriterOptions{Allocator: mem, RowGroupRows: rowGroup})
			got := parquetFile(t, w, infos[1]).MetaData()
			want := denseParquet(t, table, recs, rowGroup)

			if !got.Schema.Equals(want.Schema) {
				t.Errorf("Parquet schema\n%s\nwant\n%s", got.Schema, want.Schema)
			}
			if g, w := got.KeyValueMetadata().FindValue(metaArrowSchema), want.KeyValueMetadata().FindValue(metaArrowSchema); g == nil || w == nil || *g != *w {
				t.Error("the stored Arrow schema is not the one pqarrow stores for the table")
			}
			if got.NumRowGroups() != want.NumRowGroups() || got.NumRowGroups() != len(tc.dictionary) {
				t.Fatalf("%d row groups, pqarrow wrote %d, want %d", got.NumRowGroups(), want.NumRowGroups(), len(tc.dictionary))
			}
			for rg := range got.NumRowGroups() {
				for _, f := range table.Arrow().Fields() {
					if !sliceConstant(f) {
						continue
					}
					c := got.Schema.ColumnIndexByName(f.Name)
					gc, err := got.RowGroup(rg).ColumnChunk(c)
					if err != nil {
						t.Fatal(err)
					}
					wc, err := want.RowGroup(rg).ColumnChunk(c)
					if err != nil {
						t.Fatal(err)
					}
					if g, w := chunkStats(t, gc), chunkStats(t, wc); g != w {
						t.Errorf("row group %d %s: statistics %+v, want %+v", rg, f.Name, g, w)
					}
					oneValue := gc.HasDictionaryPage() && slices.Equal(gc.Encodings(), []parquet.Encoding{parquet.Encodings.RLEDict, parquet.Encodings.Plain, parquet.Encodings.RLE})
					if want := slices.Contains(tc.dictionary[rg], f.Name); oneValue != want {
						t.Errorf("row group %d %s: dictionary-encoded %v (encodings %v), want %v", rg, f.Name, oneValue, gc.Encodings(), want)
					}
				}
			}

			read, err := w.ReadSlice(context.Background(), table, key)
			if err != nil {
				t.Fatal(err)
			}
			defer read.Release()
			wantTable := array.NewTableFromRecords(table.Arrow(), recs)
			defer wantTable.Release()
			compareTables(t, table.Name, read, wantTable)
		})
	}
}

// statsOf is what a column chunk's statistics say, comparable.
type statsOf struct {
	min, max          string
	nulls, values     int64
	hasMinMax, hasSet bool
}

func chunkStats(t *testing.T, cc *metadata.ColumnChunkMetaData) statsOf {
	t.Helper()
	s, err := cc.Statistics()
	if err != nil {
		t.Fatal(err)
	}
	if s == nil {
		return statsOf{}
	}
	return statsOf{min: string(s.EncodeMin()), max: string(s.EncodeMax()), nulls: s.NullCount(), values: cc.NumValues(),
		hasMinMax: s.HasMinMax(), hasSet: true}
}

// denseParquet writes recs as plain pqarrow does, every column dense, and
// returns the file's metadata: what the constant columns must match.
func denseParquet(t *testing.T, table *schemas.Table, recs []arrow.RecordBatch, rowGroup int64) *metadata.FileMetaData {
	t.Helper()
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithStats(true), parquet.WithMaxRowGroupLength(rowGroup))
	fw, err := pqarrow.NewFileWriter(table.Arrow(), &buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := fw.WriteBuffered(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return r.MetaData()
}

// The stored Arrow schema of every table is the one pqarrow would store.
func TestStoredSchema(t *testing.T) {
	for _, table := range schemas.Tables {
		md := denseParquet(t, table, nil, 1)
		want := md.KeyValueMetadata().FindValue(metaArrowSchema)
		got, err := storedSchema(table.Arrow(), memory.DefaultAllocator)
		if err != nil {
			t.Fatalf("%s: %v", table.Name, err)
		}
		if want == nil || got != *want {
			t.Errorf("%s: stored schema differs from pqarrow's", table.Name)
		}
	}
	nested := arrow.NewSchema([]arrow.Field{{Name: "l", Type: arrow.ListOf(arrow.ListOf(arrow.BinaryTypes.String))}}, nil)
	if _, err := storedSchema(nested, memory.DefaultAllocator); err == nil {
		t.Error("storedSchema took a list of lists, whose renaming it does not copy")
	}
}
