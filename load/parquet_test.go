package load

import (
	"bytes"
	"context"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
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
				if got := cc.HasDictionaryPage(); got != want.dictionary {
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
	case "tenant_id", "run_id", "source", schemas.ColSnapshotDate:
		// the slice's constants
		return columnEncoding{stats: true}
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
		{0, "tenant_id", columnEncoding{stats: true}},
		{0, "run_id", columnEncoding{stats: true}},
		{0, "source", columnEncoding{stats: true}},
		{0, schemas.ColSnapshotDate, columnEncoding{stats: true}},
		{0, "last_updated_at", columnEncoding{stats: true}},
		{0, "extracted_at", columnEncoding{stats: true}},
		{0, "user_display_name", columnEncoding{dictionary: true, stats: true}},
		{0, "user_type", columnEncoding{dictionary: true, stats: true}},
		{0, "default_mfa_method", columnEncoding{dictionary: true, stats: true}},
		{0, "auth_method_count", columnEncoding{dictionary: true, stats: true}},
		{0, "system_preferred_methods.list.element", columnEncoding{dictionary: true, stats: true}},
		{0, "is_admin", columnEncoding{stats: true}},
		{1, "user_id", columnEncoding{}},
		{1, "user_principal_name", columnEncoding{}},
		{1, "auth_method", columnEncoding{dictionary: true, stats: true}},
		{1, "method_family", columnEncoding{dictionary: true, stats: true}},
		{1, "tenant_id", columnEncoding{stats: true}},
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
