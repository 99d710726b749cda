package load

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/schemas"
)

// maxVocabulary caps the values a file's vocabularyColumn learns. Past it
// (or past maxVocabularyBytes) each batch gets a dictionary of its own
// values (and the column is written plain, as its dictionary keeps
// changing): a
// tenant whose "enum" holds thousands of values is not what the shortcut
// is for, and the map would otherwise grow with the file.
const maxVocabulary = 1024

// maxVocabularyBytes caps the bytes of a vocabulary's values, so that its
// dictionary page stays well under arrow's 1 MiB dictionary page limit
// (which the indices path does not check).
const maxVocabularyBytes = 256 << 10

// vocabularyColumn hands one of a table's enum-like string columns (those
// schemas.Vocabulary knows values for) to arrow's writer as a dictionary
// array whose indices it computes itself. Arrow's own dictionary encoder
// hashes every value through a memo table that allocates per value (a
// 1M-user replay spent 0.7 CPU s there, bench/replay/NOTES.md); here a
// value costs a comparison with the previous one or a Go map lookup,
// neither of which allocates.
//
// The dictionary is the file's vocabulary: seeded with the values the
// catalog knows, grown by any value it does not. Arrow writes the indices
// as they are while a column chunk's dictionary equals the one it started
// with (pqarrow's writeDictionaryArrow compares the few values), so the
// cached dictionary array is rebuilt only when the vocabulary grows. Then
// arrow sees a changed dictionary and writes that column chunk plain, its
// dictionary dropped (correct, a little bigger), and the next row group
// starts with the grown one. Seeding costs bytes where a file uses few of the catalog's
// values (the indices take log2 of the vocabulary's size in bits: a 1M
// graphsim replay's auth_method grew from 0.57 to 0.86 MB) and saves the
// plain fallback each value first seen late would cause in a real
// tenant's rare methods.
//
// These columns carry no statistics (encodingOf says why): arrow would
// pay a pass over every batch's indices for them, and leave "" out.
//
// Arrow counts no raw bytes for indices handed over this way, so it cuts
// no page before the row group ends: a chunk is one page, and its indices
// wait in arrow's encoder, 4 bytes a value (1 MiB a column at
// DefaultRowGroupRows; a 1M-user replay peaked about 2 MB higher). Neither
// the 1 MiB page size nor the row group's 32 MiB cut sees them: what
// bounds them is the row group's row count, so a larger
// WriterOptions.RowGroupRows, or long lists, hold proportionally more
// (still about a byte a value once written: 6 bits an index at most
// values of the catalog's size).
type vocabularyColumn struct {
	index int    // in the table's schema
	name  string // the column's, for errors
	typ   *arrow.DictionaryType
	// list, for a list of strings, is the list of typ the column is
	// written as; its elements are the values.
	list *arrow.ListType
	// writeType is the column's type in the write schema: typ or list.
	writeType arrow.DataType

	ids    map[string]int32 // value -> index in values
	values []string         // the dictionary, in index order
	bytes  int              // of values
	// dict is values as an Arrow array, nil until built or after values
	// grew.
	dict arrow.Array
	// capped: the vocabulary passed maxVocabulary; each batch gets a
	// dictionary of its own values (own). uncapped: this is such a
	// batch's own vocabulary, which has no cap.
	capped, uncapped bool
	// idx holds the indices of the batch being written; arrow copies them
	// into its encoder, so the buffer is reused by the next batch.
	idx []byte
}

// vocabularyColumnOK reports whether field f of table t is written by a
// vocabularyColumn: a top-level string column, or list of strings, that
// schemas.Vocabulary knows values for, an enum-like string.
func vocabularyColumnOK(t *schemas.Table, f arrow.Field) bool {
	return stringOrList(f.Type) && len(schemas.Vocabulary(t.Name, f.Name)) > 0
}

// stringOrList reports whether typ is a string or a list of strings.
func stringOrList(typ arrow.DataType) bool {
	if l, ok := typ.(*arrow.ListType); ok {
		typ = l.Elem()
	}
	return typ.ID() == arrow.STRING
}

// vocabularyColumnOf returns the shortcut for column i of table t (field
// f), or false when vocabularyColumnOK says the column has none.
func vocabularyColumnOf(t *schemas.Table, i int, f arrow.Field) (vocabularyColumn, bool) {
	if !vocabularyColumnOK(t, f) {
		return vocabularyColumn{}, false
	}
	seed := schemas.Vocabulary(t.Name, f.Name)
	c := vocabularyColumn{
		index: i, name: f.Name,
		typ: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String},
		ids: make(map[string]int32, len(seed)),
	}
	c.writeType = c.typ
	if l, ok := f.Type.(*arrow.ListType); ok {
		elem := l.ElemField()
		elem.Type = c.typ
		c.list = arrow.ListOfField(elem)
		c.writeType = c.list
	}
	for _, v := range seed {
		c.add(v)
	}
	return c, true
}

// add appends v, which must be new, to the vocabulary, and returns its
// index. v is cloned: it may point into a batch's buffers.
func (c *vocabularyColumn) add(v string) int32 {
	v = strings.Clone(v)
	id := int32(len(c.values))
	c.values = append(c.values, v)
	c.bytes += len(v)
	c.ids[v] = id
	if c.dict != nil {
		c.dict.Release()
		c.dict = nil
	}
	return id
}

// encode returns col, a string column, as a dictionary array over the
// vocabulary, or a list of strings as the same list of dictionary values.
// Values are read through the column's offsets and NULLs through its
// validity bitmap, so a sliced batch (erase's) is encoded right too.
func (c *vocabularyColumn) encode(mem memory.Allocator, col arrow.Array) (arrow.Array, error) {
	if c.list == nil {
		return c.encodeStrings(mem, col, 0, col.Len())
	}
	l, ok := col.(*array.List)
	if !ok {
		return nil, fmt.Errorf("load: column %s is %s, want a list", c.name, col.DataType())
	}
	// The list's offsets (and a slice's offset) index into the whole child
	// array as they are, but only the values the rows hold are looked at:
	// a slice of a table read back (erase's) shares the whole table's
	// child, whose other values, an erased user's among them, must not
	// reach the vocabulary, and looking at them all for every slice made
	// erasing a large slice quadratic.
	lo, hi := 0, 0
	if n := l.Len(); n > 0 {
		offs, off := l.Offsets(), l.Data().Offset()
		lo, hi = int(offs[off]), int(offs[off+n])
	}
	values, err := c.encodeStrings(mem, l.ListValues(), lo, hi)
	if err != nil {
		return nil, err
	}
	defer values.Release()
	d := l.Data()
	data := array.NewData(c.list, d.Len(), d.Buffers(), []arrow.ArrayData{values.Data()}, d.NullN(), d.Offset())
	defer data.Release()
	return array.NewListData(data), nil
}

// encodeStrings is encode of a string column whose values [lo, hi) are
// used; the indices of the others are 0, a valid index that nothing reads.
func (c *vocabularyColumn) encodeStrings(mem memory.Allocator, col arrow.Array, lo, hi int) (arrow.Array, error) {
	s, ok := col.(*array.String)
	if !ok {
		return nil, fmt.Errorf("load: column %s is %s, want a string", c.name, col.DataType())
	}
	if c.capped {
		return c.own(mem, col, lo, hi)
	}
	n := s.Len()
	if need := n * arrow.Int32SizeBytes; len(c.idx) < need {
		c.idx = make([]byte, need)
	}
	idx := arrow.Int32Traits.CastFromBytes(c.idx[:n*arrow.Int32SizeBytes])
	clear(idx[:lo])
	clear(idx[hi:])
	nulls := s.NullN() > 0
	var last string
	lastID := int32(-1)
	for i := lo; i < hi; i++ {
		if nulls && s.IsNull(i) {
			idx[i] = 0 // any valid index; the row is NULL
			continue
		}
		v := s.Value(i)
		if lastID >= 0 && v == last {
			idx[i] = lastID
			continue
		}
		id, ok := c.ids[v]
		if !ok {
			if !c.uncapped && (len(c.values) >= maxVocabulary || c.bytes+len(v) > maxVocabularyBytes) {
				c.capped = true
				return c.own(mem, col, lo, hi)
			}
			id = c.add(v)
		}
		idx[i], last, lastID = id, v, id
	}
	if len(c.values) == 0 {
		c.add("") // index 0 must name a value, even when no row has one
	}
	if c.dict == nil {
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.AppendValues(c.values, nil)
		c.dict = b.NewArray()
	}

	var validity *memory.Buffer
	if nulls {
		d := s.Data()
		if d.Offset() == 0 {
			validity = d.Buffers()[0]
		} else {
			bits := make([]byte, bitutil.BytesForBits(int64(n)))
			bitutil.CopyBitmap(d.Buffers()[0].Bytes(), d.Offset(), n, bits, 0)
			validity = memory.NewBufferBytes(bits)
		}
	}
	data := array.NewData(arrow.PrimitiveTypes.Int32, n, []*memory.Buffer{validity, memory.NewBufferBytes(c.idx[:n*arrow.Int32SizeBytes])}, nil, s.NullN(), 0)
	defer data.Release()
	indices := array.NewInt32Data(data)
	defer indices.Release()
	return array.NewDictionaryArray(c.typ, indices, c.dict), nil
}

// own is col as a dictionary of the batch's own values [lo, hi): the path
// of a column past maxVocabulary. Arrow then sees the column chunk's
// dictionary change and writes the rest of it plain.
func (c *vocabularyColumn) own(mem memory.Allocator, col arrow.Array, lo, hi int) (arrow.Array, error) {
	b := vocabularyColumn{name: c.name, typ: c.typ, ids: map[string]int32{}, uncapped: true}
	defer b.release()
	return b.encodeStrings(mem, col, lo, hi)
}

// release drops the cached dictionary.
func (c *vocabularyColumn) release() {
	if c.dict != nil {
		c.dict.Release()
		c.dict = nil
	}
}
