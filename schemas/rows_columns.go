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
		// A StringBuilder panics likewise: a batch's offsets are 32-bit.
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

// stringCol is a string column: int32 offsets, bytes, validity.
type stringCol struct {
	off, data growBuf
	valid     validity
	rows      int
}

func (c *stringCol) put(mem memory.Allocator, s string) {
	d := &c.data
	if d.n+len(s) > len(d.s) {
		d.grow(mem, len(s))
	}
	d.n += copy(d.s[d.n:], s)
	c.offset(mem)
	if c.valid.on {
		c.valid.put(mem, c.rows, true)
	}
	c.rows++
}

// offset ends the row: the end of the row's bytes, after the leading 0 of
// a batch's offsets (written with the buffer's first room: a fresh buffer
// is empty, so the check costs nothing more).
func (c *stringCol) offset(mem memory.Allocator) {
	o := &c.off
	if o.n+4 > len(o.s) {
		c.growOffsets(mem)
	}
	binary.NativeEndian.PutUint32(o.s[o.n:], uint32(c.data.n))
	o.n += 4
}

func (c *stringCol) growOffsets(mem memory.Allocator) {
	o := &c.off
	o.grow(mem, 8)
	if o.n == 0 {
		binary.NativeEndian.PutUint32(o.s, 0)
		o.n = 4
	}
}

func (c *stringCol) putOpt(mem memory.Allocator, s *string) {
	if s != nil {
		c.put(mem, *s)
		return
	}
	c.offset(mem)
	c.valid.put(mem, c.rows, false)
	c.rows++
}

func (c *stringCol) finish(mem memory.Allocator, dt arrow.DataType) arrow.Array {
	if c.off.n == 0 {
		c.off.reserve(mem, 4)
		binary.NativeEndian.PutUint32(c.off.s, 0)
		c.off.n = 4
	}
	valid, nulls := c.valid.finish(mem)
	rows := c.rows
	c.rows = 0
	return makeArray(dt, rows, nulls, nil, valid, c.off.finish(mem), c.data.finish(mem))
}

func (c *stringCol) release() {
	c.off.release()
	c.data.release()
	c.valid.release()
	c.valid.on, c.valid.nulls, c.rows = false, 0, 0
}

// boolCol is a boolean column: a bitmap of values, validity.
type boolCol struct {
	values bits
	valid  validity
	rows   int
}

func (c *boolCol) put(mem memory.Allocator, v bool) {
	c.values.put(mem, c.rows, v)
	if c.valid.on {
		c.valid.put(mem, c.rows, true)
	}
	c.rows++
}

func (c *boolCol) putOpt(mem memory.Allocator, v *bool) {
	if v != nil {
		c.put(mem, *v)
		return
	}
	c.values.put(mem, c.rows, false)
	c.valid.put(mem, c.rows, false)
	c.rows++
}

func (c *boolCol) finish(mem memory.Allocator, dt arrow.DataType) arrow.Array {
	valid, nulls := c.valid.finish(mem)
	rows := c.rows
	c.rows = 0
	return makeArray(dt, rows, nulls, nil, valid, c.values.finish(mem))
}

func (c *boolCol) release() {
	c.values.release()
	c.valid.release()
	c.valid.on, c.valid.nulls, c.rows = false, 0, 0
}

// int64Col is a column of 64-bit values (int64, timestamp), validity.
type int64Col struct {
	values growBuf
	valid  validity
	rows   int
}

func (c *int64Col) put(mem memory.Allocator, v int64) {
	c.values.reserve(mem, 8)
	binary.NativeEndian.PutUint64(c.values.s[c.values.n:], uint64(v))
	c.values.n += 8
	if c.valid.on {
		c.valid.put(mem, c.rows, true)
	}
	c.rows++
}

// putNull appends a NULL, whose value slot holds 0 as a builder's does.
func (c *int64Col) putNull(mem memory.Allocator) {
	c.values.reserve(mem, 8)
	binary.NativeEndian.PutUint64(c.values.s[c.values.n:], 0)
	c.values.n += 8
	c.valid.put(mem, c.rows, false)
	c.rows++
}

func (c *int64Col) finish(mem memory.Allocator, dt arrow.DataType) arrow.Array {
	valid, nulls := c.valid.finish(mem)
	rows := c.rows
	c.rows = 0
	return makeArray(dt, rows, nulls, nil, valid, c.values.finish(mem))
}

func (c *int64Col) release() {
	c.values.release()
	c.valid.release()
	c.valid.on, c.valid.nulls, c.rows = false, 0, 0
}

// stringListCol is a list<string> column whose elements are never NULL.
type stringListCol struct {
	off    growBuf
	valid  validity
	rows   int
	values stringCol
}

// put appends a list; nil is NULL, an empty slice an empty list.
func (c *stringListCol) put(mem memory.Allocator, list []string) {
	for _, s := range list {
		c.values.put(mem, s)
	}
	c.off.reserve(mem, 8)
	if c.off.n == 0 {
		binary.NativeEndian.PutUint32(c.off.s, 0)
		c.off.n = 4
	}
	binary.NativeEndian.PutUint32(c.off.s[c.off.n:], uint32(c.values.rows))
	c.off.n += 4
	if list == nil || c.valid.on {
		c.valid.put(mem, c.rows, list != nil)
	}
	c.rows++
}

func (c *stringListCol) finish(mem memory.Allocator, dt arrow.DataType) arrow.Array {
	if c.off.n == 0 {
		c.off.reserve(mem, 4)
		binary.NativeEndian.PutUint32(c.off.s, 0)
		c.off.n = 4
	}
	elem := c.values.finish(mem, dt.(*arrow.ListType).Elem())
	defer elem.Release()
	valid, nulls := c.valid.finish(mem)
	rows := c.rows
	c.rows = 0
	return makeArray(dt, rows, nulls, elem.Data(), valid, c.off.finish(mem))
}

func (c *stringListCol) release() {
	c.off.release()
	c.valid.release()
	c.valid.on, c.valid.nulls, c.rows = false, 0, 0
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
