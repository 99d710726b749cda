package load

import (
	"bytes"
	"encoding/base64"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"

	"github.com/credreg/credreg/schemas"
)

// columnEncoding is how one column is written: with a dictionary or
// plain, and with statistics or without.
type columnEncoding struct {
	dictionary bool
	stats      bool
}

// encodingOf decides a top-level column of table t's encoding from its
// name and Arrow type. Dictionary encoding hashes every value (arrow-go
// also allocates per value to do it), which pays only where values repeat
// and the dictionary saves more bytes than zstd would on the plain values.
// Measured column by column on a 1M-user replay (bench/replay/NOTES.md):
//
//   - the slice's constant strings (tenant_id, source, run_id) get a
//     dictionary of their one value, which the writer hands over with its
//     indices already made (constantColumn), so nothing is hashed: plain,
//     the same value went through page building and zstd once per row,
//     170 MB of a 1M-user replay; as indices, a run of zeros;
//   - snapshot_date, the constant date, is written plain with its
//     statistics, 4 bytes a row that zstd crushes: as a one-value
//     dictionary, arrow casts a date dictionary to int32 on every batch,
//     so it never sees the chunk's dictionary again and pays a
//     compute.UniqueArray over each batch's indices for the statistics:
//     0.13-0.18 CPU s for 2.65M rows in batches of 16384 where plain took
//     0.03 s, for 1.7 KB more per file;
//   - user_id and user_principal_name are unique per user (repeated only
//     per method or change row in the other tables): the dictionary
//     overflows and falls back to plain after spending the hashing, and
//     plain came out smaller; their minimum and maximum (random GUIDs,
//     unordered names) would let no reader skip a row group, so they carry
//     no statistics either (nothing in credreg reads Parquet statistics);
//   - timestamps are all but unique per user (last_updated_at) or constant
//     per page (extracted_at): plain was several times faster and smaller
//     too;
//   - the enum-like strings schemas.Vocabulary knows values for
//     (auth_method, method_family, user_type, default_mfa_method, and
//     the elements of system_preferred_methods) get a
//     dictionary of the file's vocabulary, whose indices the writer
//     computes itself (vocabularyColumn) instead of arrow hashing each
//     value (0.7 of a 1M-user replay's 3.4 writer CPU s went to that
//     hashing). They carry NO statistics (nor, with them, a null count):
//     from a dictionary array arrow takes min/max from the dictionary
//     values a batch references, found by a compute.UniqueArray and a Take
//     over every batch's indices (the per-value pass this path exists to
//     avoid); it leaves empty strings out of min/max, so a row group
//     holding "" would get a wrong minimum; and, were one dictionary array
//     object handed over twice, it would take the whole vocabulary's
//     bounds, values the row group lacks included. Exact ones are not
//     worth that: every common value is in every row group, so min/max
//     would prune nothing, and nothing in credreg (nor BigQuery's load)
//     reads them, the argument made for user_id above;
//   - everything else (display names, counts) repeats a small
//     vocabulary, and arrow's dictionary made those columns 2.5-4 times
//     smaller.
func encodingOf(t *schemas.Table, f arrow.Field) columnEncoding {
	if sliceConstant(f) {
		return columnEncoding{dictionary: true, stats: true}
	}
	if vocabularyColumnOK(t, f) {
		return columnEncoding{dictionary: true, stats: false}
	}
	switch f.Name {
	case "user_id", "user_principal_name":
		return columnEncoding{dictionary: false, stats: false}
	}
	switch f.Type.ID() {
	case arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
		return columnEncoding{dictionary: false, stats: true}
	}
	return columnEncoding{dictionary: true, stats: true}
}

// sliceConstant reports whether f is one of the columns that hold one
// value on every row of a slice (schemas.IsConstantColumn: the partition
// keys, the report and the run). Only required strings qualify: the
// writer's shortcut (constantColumn) covers that type, a NULL is never
// constant, and snapshot_date, a date, is cheaper plain (encodingOf).
func sliceConstant(f arrow.Field) bool {
	return schemas.IsConstantColumn(f.Name) && !f.Nullable && f.Type.ID() == arrow.STRING
}

// columnProperties are the writer properties that give each top-level
// column of t its encoding; nested columns (lists) keep the defaults,
// dictionary and statistics on, except a vocabulary column's elements,
// which have no statistics (encodingOf).
func columnProperties(t *schemas.Table) []parquet.WriterProperty {
	var props []parquet.WriterProperty
	for _, f := range t.Arrow().Fields() {
		if f.Type.ID() == arrow.LIST {
			if vocabularyColumnOK(t, f) {
				props = append(props, parquet.WithStatsFor(f.Name+".list.element", false))
			}
			continue
		}
		enc := encodingOf(t, f)
		props = append(props, parquet.WithDictionaryFor(f.Name, enc.dictionary), parquet.WithStatsFor(f.Name, enc.stats))
	}
	return props
}

// batchValuesOf is how many values t's column writers encode between
// checks of the page size: writeBatchValues, except where a value can be
// large (rejected_records' raw_json), which keeps arrow's default.
func batchValuesOf(t *schemas.Table) int64 {
	if t.Name == schemas.RejectedRecordsTable.Name {
		return rejectBatchValues
	}
	return writeBatchValues
}

// constantColumn hands one of a table's sliceConstant columns to arrow's
// writer as a dictionary array. Arrow writes such an array's indices as
// they are, checking only that its dictionary equals the one the column
// chunk started with (pqarrow's writeDictionaryArrow), where a dense
// string column is hashed value by value. A batch whose values are all
// the same becomes a one-entry dictionary, reused while the value stays,
// and indices read from a shared buffer of zeros: no per-row work beyond
// the check that the values are equal.
type constantColumn struct {
	index int    // in the table's schema
	name  string // the column's, for errors
	typ   *arrow.DictionaryType
	// dict is the one-entry dictionary of the last constant batch, nil
	// before the first.
	dict arrow.Array
}

// dictionaryWriteSchema is t's schema with each sliceConstant column and
// each vocabulary column typed as a dictionary of its values, the schema
// arrow's writer is given. Parquet has no dictionary type (it is an
// encoding), so the file's Parquet schema is t's; its stored Arrow schema
// is t's too (storedSchema).
func dictionaryWriteSchema(t *schemas.Table) (*arrow.Schema, []constantColumn, []vocabularyColumn) {
	s := t.Arrow()
	fields := s.Fields() // a copy
	var consts []constantColumn
	var vocabs []vocabularyColumn
	for i, f := range fields {
		if v, ok := vocabularyColumnOf(t, i, f); ok {
			fields[i].Type = v.writeType
			vocabs = append(vocabs, v)
			continue
		}
		if !sliceConstant(f) {
			continue
		}
		typ := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: f.Type}
		fields[i].Type = typ
		consts = append(consts, constantColumn{index: i, name: f.Name, typ: typ})
	}
	if consts == nil && vocabs == nil {
		return s, nil, nil
	}
	md := s.Metadata()
	return arrow.NewSchema(fields, &md), consts, vocabs
}

// encode returns col as a dictionary array. A constant batch (the
// transformer's, always) is a one-entry dictionary, cached while the
// value stays, over shared zero indices: nothing per row. Any other batch
// (a NULL, values that differ: rows read back and rewritten by erase) is
// hashed into a dictionary of its own by arrow's builder, which reads each
// value through its offsets, so a sliced column is right too; arrow then
// sees the chunk's dictionary change and writes the rest of it plain.
// An empty string is refused: arrow's dictionary path leaves it out of the
// column's min/max, so the statistics would lie about it, and a slice's
// source and run_id are never empty.
func (c *constantColumn) encode(mem memory.Allocator, col arrow.Array, idx *indexBuffers) (arrow.Array, error) {
	n := col.Len()
	same := sameValues(col)
	if s, ok := col.(*array.String); ok {
		for i := range n {
			if s.IsValid(i) && s.ValueLen(i) == 0 {
				return nil, fmt.Errorf("load: row %d has an empty %s; a slice's constant columns are never empty", i, c.name)
			}
			if same {
				break // every value is the first
			}
		}
	}
	if !same {
		b := array.NewDictionaryBuilder(mem, c.typ)
		defer b.Release()
		if err := b.AppendArray(col); err != nil {
			return nil, err
		}
		return b.NewArray(), nil
	}
	if c.dict == nil || !sameFirstValue(c.dict, col) {
		first := array.NewSlice(col, 0, 1)
		defer first.Release()
		// a copy: a slice would keep the whole batch alive with it
		dict, err := array.Concatenate([]arrow.Array{first}, mem)
		if err != nil {
			return nil, err
		}
		if c.dict != nil {
			c.dict.Release()
		}
		c.dict = dict
	}
	return dictionaryOf(c.typ, idx.zeros(n), c.dict), nil
}

// indexBuffers are int32 indices shared by every batch of a file's
// constant columns, grown as batches need: n zeros.
// Arrays over them are only read (arrow copies indices into its encoder),
// so the buffers are never written once made.
type indexBuffers struct {
	z []byte
}

func (b *indexBuffers) zeros(n int) []byte {
	if len(b.z) < n*arrow.Int32SizeBytes {
		b.z = make([]byte, n*arrow.Int32SizeBytes)
	}
	return b.z[:n*arrow.Int32SizeBytes]
}

// dictionaryOf is the dictionary array of typ with the int32 indices in
// indices (read, never written) into dict.
func dictionaryOf(typ *arrow.DictionaryType, indices []byte, dict arrow.Array) arrow.Array {
	data := array.NewData(arrow.PrimitiveTypes.Int32, len(indices)/arrow.Int32SizeBytes, []*memory.Buffer{nil, memory.NewBufferBytes(indices)}, nil, 0, 0)
	defer data.Release()
	idx := array.NewInt32Data(data)
	defer idx.Release()
	return array.NewDictionaryArray(typ, idx, dict)
}

// release drops the cached dictionary.
func (c *constantColumn) release() {
	if c.dict != nil {
		c.dict.Release()
		c.dict = nil
	}
}

// sameValues reports whether col holds at least one value, no NULL, and
// every value equal to the first. For strings that is two cheap checks:
// all offsets step by the first value's length, and the value bytes equal
// themselves shifted by that length (so each byte equals the one a value
// earlier, and by induction the first value's).
func sameValues(col arrow.Array) bool {
	if col.Len() == 0 || col.NullN() > 0 {
		return false
	}
	a, ok := col.(*array.String)
	if !ok {
		return false
	}
	offs := a.ValueOffsets()
	l := offs[1] - offs[0]
	for i := 1; i < len(offs); i++ {
		if offs[i]-offs[i-1] != l {
			return false
		}
	}
	b := a.ValueBytes()
	return bytes.Equal(b[l:], b[:len(b)-int(l)])
}

// sameFirstValue reports whether a and b, strings (a sliceConstant's),
// start with the same value.
func sameFirstValue(a, b arrow.Array) bool {
	as, ok := a.(*array.String)
	if !ok {
		return false
	}
	bs, ok := b.(*array.String)
	return ok && as.Value(0) == bs.Value(0)
}

// storedSchema is s as pqarrow's WithStoreSchema would store it in the
// file's ARROW:schema metadata (base64 of the IPC schema), list elements
// renamed "element" as in the Parquet schema. The writer is given
// dictionaryWriteSchema, so it cannot store s itself; readers (pqarrow,
// DuckDB) take the column types from this. Nested types other than a
// list of a primitive are refused: no table has one, and pqarrow's
// renaming of them would have to be copied here first.
func storedSchema(s *arrow.Schema, mem memory.Allocator) (string, error) {
	fields := s.Fields()
	for i, f := range fields {
		if !arrow.IsNested(f.Type.ID()) {
			continue
		}
		lt, ok := f.Type.(*arrow.ListType)
		if !ok || arrow.IsNested(lt.Elem().ID()) {
			return "", fmt.Errorf("load: column %s: storing nested type %s is not supported", f.Name, f.Type)
		}
		elem := lt.ElemField()
		elem.Name = "element"
		fields[i].Type = arrow.ListOfField(elem)
	}
	md := s.Metadata()
	return base64.StdEncoding.EncodeToString(flight.SerializeSchema(arrow.NewSchema(fields, &md), mem)), nil
}
