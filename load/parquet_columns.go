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

// encodingOf decides a top-level column's encoding from its name and
// Arrow type. Dictionary encoding hashes every value (arrow-go also
// allocates per value to do it), which pays only where values repeat and
// the dictionary saves more bytes than zstd would on the plain values.
// Measured column by column on a 1M-user replay (bench/replay/NOTES.md):
//
//   - the slice's constants (snapshot_date, tenant_id, source, run_id)
//     get a dictionary of their one value, which the writer hands over
//     with its indices already made (constantColumn), so nothing is
//     hashed: plain, the same value went through page building and zstd
//     once per row, 170 MB of a 1M-user replay; as indices, a run of
//     zeros;
//   - user_id and user_principal_name are unique per user (repeated only
//     per method or change row in the other tables): the dictionary
//     overflows and falls back to plain after spending the hashing, and
//     plain came out smaller; their minimum and maximum (random GUIDs,
//     unordered names) would let no reader skip a row group, so they carry
//     no statistics either (nothing in credreg reads Parquet statistics);
//   - timestamps are all but unique per user (last_updated_at) or constant
//     per page (extracted_at): plain was several times faster and smaller
//     too;
//   - everything else (auth_method, method_family, display names,
//     user_type, default_mfa_method, counts) repeats a small vocabulary,
//     and the dictionary made those columns 2.5-4 times smaller.
func encodingOf(f arrow.Field) columnEncoding {
	if sliceConstant(f) {
		return columnEncoding{dictionary: true, stats: true}
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
// keys, the report and the run). Only required strings and dates qualify:
// the writer's shortcut (constantColumn) covers those types, and a NULL is
// never constant.
func sliceConstant(f arrow.Field) bool {
	if !schemas.IsConstantColumn(f.Name) || f.Nullable {
		return false
	}
	switch f.Type.ID() {
	case arrow.STRING, arrow.DATE32:
		return true
	}
	return false
}

// columnProperties are the writer properties that give each top-level
// column of s its encoding; nested columns (lists) keep the defaults,
// dictionary and statistics on.
func columnProperties(s *arrow.Schema) []parquet.WriterProperty {
	var props []parquet.WriterProperty
	for _, f := range s.Fields() {
		if f.Type.ID() == arrow.LIST {
			continue
		}
		enc := encodingOf(f)
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

// dictionaryWriteSchema is s with each sliceConstant column typed as a
// dictionary of its values, the schema arrow's writer is given. Parquet
// has no dictionary type (it is an encoding), so the file's Parquet schema
// is s's; its stored Arrow schema is s itself (storedSchema).
func dictionaryWriteSchema(s *arrow.Schema) (*arrow.Schema, []constantColumn) {
	fields := s.Fields() // a copy
	var consts []constantColumn
	for i, f := range fields {
		if !sliceConstant(f) {
			continue
		}
		typ := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: f.Type}
		fields[i].Type = typ
		consts = append(consts, constantColumn{index: i, name: f.Name, typ: typ})
	}
	if consts == nil {
		return s, nil
	}
	md := s.Metadata()
	return arrow.NewSchema(fields, &md), consts
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
	switch a := col.(type) {
	case *array.String:
		offs := a.ValueOffsets()
		l := offs[1] - offs[0]
		for i := 1; i < len(offs); i++ {
			if offs[i]-offs[i-1] != l {
				return false
			}
		}
		b := a.ValueBytes()
		return bytes.Equal(b[l:], b[:len(b)-int(l)])
	case *array.Date32:
		vs := a.Date32Values()
		for _, v := range vs[1:] {
			if v != vs[0] {
				return false
			}
		}
		return true
	}
	return false
}

// sameFirstValue reports whether a and b, of one type (a sliceConstant's),
// start with the same value.
func sameFirstValue(a, b arrow.Array) bool {
	switch a := a.(type) {
	case *array.String:
		return a.Value(0) == b.(*array.String).Value(0)
	case *array.Date32:
		return a.Value(0) == b.(*array.Date32).Value(0)
	}
	return false
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
