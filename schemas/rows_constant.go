package schemas

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// SliceConstants are the columns that every row of one slice's
// user_registration_details and user_auth_methods repeats: the slice's
// key, the report it came from and the run that wrote it.
type SliceConstants struct {
	Key
	Source Endpoint
	RunID  string
}

// IsConstantColumn reports whether a column named name is one of
// SliceConstants: AppendVarying leaves it out and ConstantColumns fills it.
func IsConstantColumn(name string) bool {
	switch name {
	case ColSnapshotDate, ColTenantID, "source", "run_id":
		return true
	}
	return false
}

// ConstantColumns makes the batches of rows added with AppendVarying,
// filling the SliceConstants columns in bulk when a batch is cut instead
// of per row: a million-user slice repeats them on 2.65M rows, which
// appended per row cost more than a second of CPU in copies.
//
// It keeps the columns of the last row count it made and hands the same
// arrays to every batch of that many rows (each batch retains them): the
// full batches of a slice, all of one size, in both tables, share one
// copy, which holds about 1.6 MB at 16384 rows, instead of one per batch.
// Arrays are immutable, so sharing them is invisible to readers. It is not
// safe for concurrent use; the batches it returns are.
type ConstantColumns struct {
	mem  memory.Allocator
	c    SliceConstants
	rows int
	// cols holds the arrays of rows rows, by column name; nil until the
	// first batch.
	cols map[string]arrow.Array
}

// NewConstantColumns returns a ConstantColumns of c whose arrays mem
// backs; nil means memory.DefaultAllocator.
func NewConstantColumns(mem memory.Allocator, c SliceConstants) *ConstantColumns {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return &ConstantColumns{mem: mem, c: c}
}

// NewRecordBatch returns the rows added to b with AppendVarying, with the
// constant columns filled in, and resets b as RecordBuilder.NewRecordBatch
// does. The batch equals the one Append would have built: same schema,
// values and validity. It panics when a constant column of b holds rows
// (a row added with Append, or a builder of another shape), a programming
// error, as RecordBuilder.NewRecordBatch panics on uneven columns.
func (cc *ConstantColumns) NewRecordBatch(b *array.RecordBuilder) arrow.RecordBatch {
	schema, fields := b.Schema(), b.Fields()
	rows := -1
	for i, f := range fields {
		if IsConstantColumn(schema.Field(i).Name) {
			if f.Len() != 0 {
				panic(fmt.Errorf("schemas: constant column %s holds %d rows appended one by one", schema.Field(i).Name, f.Len()))
			}
		} else if rows < 0 {
			rows = f.Len()
		}
	}
	if rows < 0 {
		panic(fmt.Errorf("schemas: a builder of constant columns only"))
	}
	cols := make([]arrow.Array, len(fields))
	for i, f := range fields {
		if !IsConstantColumn(schema.Field(i).Name) {
			cols[i] = f.NewArray()
		}
	}
	return cc.recordBatch(schema, cols, rows)
}

// recordBatch returns a batch of schema of rows rows made of cols, whose
// nil entries (the constant columns) it fills in. It takes over cols'
// arrays.
func (cc *ConstantColumns) recordBatch(schema *arrow.Schema, cols []arrow.Array, rows int) arrow.RecordBatch {
	checkColumns(schema, cols, rows)
	if rows != cc.rows || cc.cols == nil {
		cc.Release()
		cc.cols = cc.make(rows)
		cc.rows = rows
	}
	for i := range cols {
		if c, ok := cc.cols[schema.Field(i).Name]; ok {
			c.Retain()
			cols[i] = c
		}
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	return array.NewRecordBatch(schema, cols, int64(rows))
}

// Release frees the arrays kept; the batches made keep theirs. The
// ConstantColumns stays usable.
func (cc *ConstantColumns) Release() {
	for _, c := range cc.cols {
		c.Release()
	}
	cc.cols, cc.rows = nil, 0
}

// make returns the constant columns of n rows, by name.
func (cc *ConstantColumns) make(n int) map[string]arrow.Array {
	return map[string]arrow.Array{
		ColSnapshotDate: repeatDate(cc.mem, arrow.Date32FromTime(cc.c.Date.UTC()), n),
		ColTenantID:     repeatString(cc.mem, cc.c.Tenant, n),
		"source":        repeatString(cc.mem, string(cc.c.Source), n),
		"run_id":        repeatString(cc.mem, cc.c.RunID, n),
	}
}

// repeatDate is a date32 array of n copies of d, without NULLs.
func repeatDate(mem memory.Allocator, d arrow.Date32, n int) arrow.Array {
	values := memory.NewResizableBuffer(mem)
	defer values.Release()
	values.Resize(arrow.Date32Traits.BytesRequired(n))
	repeatBytes(values.Bytes(), arrow.Date32Traits.CastToBytes([]arrow.Date32{d}))
	data := array.NewData(arrow.FixedWidthTypes.Date32, n, []*memory.Buffer{nil, values}, nil, 0, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// repeatString is a string array of n copies of s, without NULLs. It
// panics when they overflow a string array's 32-bit offsets (a
// StringBuilder checks that only in arrow's debug builds).
func repeatString(mem memory.Allocator, s string, n int) arrow.Array {
	if n > 0 && len(s) > math.MaxInt32/n {
		panic(fmt.Errorf("schemas: %d copies of a %d-byte string overflow a string array", n, len(s)))
	}
	offsets := memory.NewResizableBuffer(mem)
	defer offsets.Release()
	offsets.Resize(arrow.Int32Traits.BytesRequired(n + 1))
	off := arrow.Int32Traits.CastFromBytes(offsets.Bytes())[:n+1]
	for i := range off {
		off[i] = int32(i * len(s))
	}
	values := memory.NewResizableBuffer(mem)
	defer values.Release()
	values.Resize(n * len(s))
	repeatBytes(values.Bytes(), unsafe.Slice(unsafe.StringData(s), len(s)))
	data := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{nil, offsets, values}, nil, 0, 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// repeatBytes fills dst with copies of unit (len(dst) a multiple of it),
// doubling what it has copied: a few large copies, not one per row.
func repeatBytes(dst, unit []byte) {
	if len(dst) == 0 || len(unit) == 0 {
		return
	}
	k := copy(dst, unit)
	for k < len(dst) {
		k += copy(dst[k:], dst[:k])
	}
}
