package schemas

import (
	"encoding/binary"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The column writers below build the Arrow buffers of the hot tables
// (users, methods: millions of rows a run) themselves, instead of through
// arrow's builders: a builder's append goes through an interface, a type
// assertion, a closure for each string offset and a bit-by-bit validity
// bitmap, about a second of CPU in a million-user replay. Here a string is
// one capacity check, one copy and one offset store; a column that has no
// NULL in a batch gets no validity bitmap at all (Arrow allows that), and
// one that has writes its bitmap a byte at a time.
//
// Every byte up to a buffer's length is written, never assumed zero, so an
// allocator that hands out recycled memory is safe. Buffers come from the
// allocator given, as the builders' would.

// growBuf is one Arrow buffer written in place: s is the buffer's whole
// capacity, n the bytes written.
type growBuf struct {
	b *memory.Buffer
	s []byte
	n int
	// last is the length of the last buffer finished: the next one
	// reserves that and a little more at once (full batches of a slice are
	// alike), instead of growing by doublings that copy and overshoot.
	last int
}

// reserve makes room for need more bytes.
func (g *growBuf) reserve(mem memory.Allocator, need int) {
	if g.n+need > len(g.s) {
		g.grow(mem, need)
	}
}

func (g *growBuf) grow(mem memory.Allocator, need int) {
	if g.n+need > math.MaxInt32 {
		// A batch's offsets are 32-bit. (A StringBuilder checks this only
		// in arrow's debug builds and would wrap the offsets.)
		panic("schemas: a batch's column overflows an Arrow array")
	}
	if g.b == nil {
		g.b = memory.NewResizableBuffer(mem)
	}
	want := g.n + need
	c := int(bitutil.NextPowerOf2(want))
	if first := g.last + g.last/32; len(g.s) == 0 && first >= want {
		c = first
	}
	g.b.Reserve(max(c, 64))
	g.s = g.b.Buf()
	if len(g.s) > math.MaxInt32 {
		// The capacity may round past 2 GiB; writes that fit it skip
		// grow's check, so no more than MaxInt32 bytes are on offer.
		g.s = g.s[:math.MaxInt32]
	}
}

// finish hands over the buffer written (never nil: arrow's readers of a
// string array expect its values buffer even when it is empty) and starts
// the next one.
func (g *growBuf) finish(mem memory.Allocator) *memory.Buffer {
	if g.b == nil {
		g.b = memory.NewResizableBuffer(mem)
	}
	g.b.ResizeNoShrink(g.n)
	b := g.b
	g.last = g.n
	g.b, g.s, g.n = nil, nil, 0
	return b
}

func (g *growBuf) release() {
	if g.b != nil {
		g.b.Release()
	}
	g.b, g.s, g.n = nil, nil, 0
}

// bits is a bitmap written a byte at a time: row i is bit i%8 of byte i/8.
type bits struct{ growBuf }

// put sets bit row, the next one, to v.
func (b *bits) put(mem memory.Allocator, row int, v bool) {
	i := row >> 3
	if row&7 == 0 {
		b.reserve(mem, 1)
		b.s[i] = 0
		b.n++
	}
	if v {
		b.s[i] |= 1 << (row & 7)
	}
}

// validity is a column's validity bitmap, made only when a NULL comes:
// until then the batch has none (every row valid).
type validity struct {
	bits
	on    bool
	nulls int
}

// put records whether row, the next row, is valid.
func (v *validity) put(mem memory.Allocator, row int, valid bool) {
	if !v.on {
		if valid {
			return
		}
		v.start(mem, row)
	}
	v.bits.put(mem, row, valid)
	if !valid {
		v.nulls++
	}
}

// start makes the bitmap of the rows before row, all valid.
func (v *validity) start(mem memory.Allocator, row int) {
	v.on = true
	full := row >> 3
	v.reserve(mem, full+1)
	for i := range full {
		v.s[i] = 0xff
	}
	v.n = full
	if row&7 != 0 {
		v.s[full] = byte(1)<<(row&7) - 1
		v.n++
	}
}

// finish returns the bitmap (nil without NULLs) and the NULL count.
func (v *validity) finish(mem memory.Allocator) (*memory.Buffer, int) {
	if !v.on {
		return nil, 0
	}
	b, n := v.bits.finish(mem), v.nulls
	v.on, v.nulls = false, 0
	return b, n
}

func (v *validity) release() {
	v.bits.release()
	v.on, v.nulls = false, 0
}

// rowState is what every column keeps of its rows: their count and
// validity.
type rowState struct {
	valid validity
	rows  int
}

// next counts a row, valid or NULL.
func (r *rowState) next(mem memory.Allocator, valid bool) {
	if !valid || r.valid.on {
		r.valid.put(mem, r.rows, valid)
	}
	r.rows++
}

// finish hands over the validity bitmap (nil without NULLs), the NULL
// count and the rows, and starts the next batch.
func (r *rowState) finish(mem memory.Allocator) (valid *memory.Buffer, nulls, rows int) {
	valid, nulls = r.valid.finish(mem)
	rows, r.rows = r.rows, 0
	return valid, nulls, rows
}

func (r *rowState) release() {
	r.valid.release()
	r.rows = 0
}

// offsets is an offsets buffer: a leading 0, then where each row ends.
type offsets struct{ growBuf }

// put adds the end of a row. The leading 0 is written with the buffer's
// first room: a fresh buffer has none, so it costs no check of its own.
func (o *offsets) put(mem memory.Allocator, end int) {
	if o.n+4 > len(o.s) {
		o.growOffsets(mem)
	}
	binary.NativeEndian.PutUint32(o.s[o.n:], uint32(end))
	o.n += 4
}

func (o *offsets) growOffsets(mem memory.Allocator) {
	o.grow(mem, 8)
	if o.n == 0 {
		binary.NativeEndian.PutUint32(o.s, 0)
		o.n = 4
	}
}

// finish hands over the buffer, which holds the leading 0 even without
// rows.
func (o *offsets) finish(mem memory.Allocator) *memory.Buffer {
	if o.n == 0 {
		o.growOffsets(mem)
	}
	return o.growBuf.finish(mem)
}

// stringCol is a string column: int32 offsets, bytes, validity.
type stringCol struct {
	rowState
	off  offsets
	data growBuf
}

func (c *stringCol) put(mem memory.Allocator, s string) {
	d := &c.data
	if d.n+len(s) > len(d.s) {
		d.grow(mem, len(s))
	}
	d.n += copy(d.s[d.n:], s)
	c.off.put(mem, d.n)
	c.next(mem, true)
}

func (c *stringCol) putOpt(mem memory.Allocator, s *string) {
	if s != nil {
		c.put(mem, *s)
		return
	}
	c.off.put(mem, c.data.n)
	c.next(mem, false)
}

func (c *stringCol) finish(mem memory.Allocator, dt arrow.DataType) arrow.Array {
	valid, nulls, rows := c.rowState.finish(mem)
	return makeArray(dt, rows, nulls, nil, valid, c.off.finish(mem), c.data.finish(mem))
}

func (c *stringCol) release() {
	c.rowState.release()
	c.off.release()
	c.data.release()
}

// fixedCol is a column of fixed-width values: one buffer of them (a
// bitmap for booleans), validity.
type fixedCol struct {
	rowState
	values bits
}

func (c *fixedCol) finish(mem memory.Allocator, dt arrow.DataType) arrow.Array {
	valid, nulls, rows := c.rowState.finish(mem)
	return makeArray(dt, rows, nulls, nil, valid, c.values.finish(mem))
}

func (c *fixedCol) release() {
	c.rowState.release()
	c.values.release()
}

// boolCol is a boolean column.
type boolCol struct{ fixedCol }

func (c *boolCol) put(mem memory.Allocator, v bool) {
	c.values.put(mem, c.rows, v)
	c.next(mem, true)
}

// putOpt appends v; nil is NULL, whose value bit is 0.
func (c *boolCol) putOpt(mem memory.Allocator, v *bool) {
	c.values.put(mem, c.rows, v != nil && *v)
	c.next(mem, v != nil)
}

// int64Col is a column of 64-bit values (int64, timestamp).
type int64Col struct{ fixedCol }

func (c *int64Col) put(mem memory.Allocator, v int64) {
	c.value(mem, v)
	c.next(mem, true)
}

// putNull appends a NULL, whose value slot holds 0.
func (c *int64Col) putNull(mem memory.Allocator) {
	c.value(mem, 0)
	c.next(mem, false)
}

func (c *int64Col) value(mem memory.Allocator, v int64) {
	c.values.reserve(mem, 8)
	binary.NativeEndian.PutUint64(c.values.s[c.values.n:], uint64(v))
	c.values.n += 8
}

// stringListCol is a list<string> column whose elements are never NULL.
type stringListCol struct {
	rowState
	off    offsets
	values stringCol
}

// put appends a list; nil is NULL, an empty slice an empty list.
func (c *stringListCol) put(mem memory.Allocator, list []string) {
	for _, s := range list {
		c.values.put(mem, s)
	}
	c.off.put(mem, c.values.rows)
	c.next(mem, list != nil)
}

func (c *stringListCol) finish(mem memory.Allocator, dt arrow.DataType) arrow.Array {
	elem := c.values.finish(mem, dt.(*arrow.ListType).Elem())
	defer elem.Release()
	valid, nulls, rows := c.rowState.finish(mem)
	return makeArray(dt, rows, nulls, elem.Data(), valid, c.off.finish(mem))
}

func (c *stringListCol) release() {
	c.rowState.release()
	c.off.release()
	c.values.release()
}

// makeArray makes an array of the buffers, which it takes over (a nil one
// is an absent validity bitmap), with child as its only child when not nil.
func makeArray(dt arrow.DataType, rows, nulls int, child arrow.ArrayData, bufs ...*memory.Buffer) arrow.Array {
	var children []arrow.ArrayData
	if child != nil {
		children = []arrow.ArrayData{child}
	}
	data := array.NewData(dt, rows, bufs, children, nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	defer data.Release()
	return array.MakeFromData(data)
}
