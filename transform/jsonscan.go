package transform

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/credreg/credreg/internal/odata"
)

// cursor walks JSON that has already been validated. It never reads out of
// bounds, and reports a shape it does not expect (ok == false) instead of
// trusting the validation blindly.
type cursor struct {
	b []byte
	i int
}

func (c *cursor) space() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

// skipString moves past the string whose opening quote is at c.i.
func (c *cursor) skipString() bool {
	end, ok := odata.StringEnd(c.b, c.i)
	c.i = end
	return ok
}

// skipValue moves past the value at c.i; an empty scalar is not a value.
func (c *cursor) skipValue() bool {
	if c.i >= len(c.b) {
		return false
	}
	start := c.i
	end, ok := odata.ValueEnd(c.b, c.i)
	c.i = end
	return ok && end > start
}

// next consumes b if it is the next byte.
func (c *cursor) next(b byte) bool {
	if c.i < len(c.b) && c.b[c.i] == b {
		c.i++
		return true
	}
	return false
}

// container iterates an object's members or an array's elements. Start it
// on the opening bracket.
type container struct {
	c     cursor
	close byte
	n     int
	bad   bool
}

func newContainer(b []byte) container {
	close := byte('}')
	if len(b) > 0 && b[0] == '[' {
		close = ']'
	}
	return container{c: cursor{b: b, i: 1}, close: close}
}

// member returns the next member of an object: the name token (quotes
// included) and the value span. ok is false at the end or on a bad shape
// (then bad is set).
func (it *container) member() (name, value []byte, ok bool) {
	if !it.separator() {
		return nil, nil, false
	}
	c := &it.c
	start := c.i
	if c.i >= len(c.b) || c.b[c.i] != '"' || !c.skipString() {
		it.bad = true
		return nil, nil, false
	}
	name = c.b[start:c.i]
	c.space()
	if !c.next(':') {
		it.bad = true
		return nil, nil, false
	}
	c.space()
	start = c.i
	if !c.skipValue() {
		it.bad = true
		return nil, nil, false
	}
	return name, c.b[start:c.i], true
}

// element returns the next element of an array.
func (it *container) element() (value []byte, ok bool) {
	if !it.separator() {
		return nil, false
	}
	c := &it.c
	start := c.i
	if !c.skipValue() {
		it.bad = true
		return nil, false
	}
	return c.b[start:c.i], true
}

// separator moves to the next member or element; false at the end.
func (it *container) separator() bool {
	c := &it.c
	c.space()
	if it.n > 0 {
		if c.next(it.close) {
			return false
		}
		if !c.next(',') {
			it.bad = true
			return false
		}
		c.space()
	} else if c.next(it.close) {
		return false
	}
	if it.bad || c.i >= len(c.b) {
		it.bad = true
		return false
	}
	it.n++
	return true
}

// jsonType names the JSON type of a value span, for messages.
func jsonType(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// isNull reports whether a value span is JSON null (or absent).
func isNull(v []byte) bool { return v == nil || string(v) == "null" }

// strs decodes the string tokens of one record. A token without escapes
// is sliced out of one string copy of the whole record, made on first use,
// so that a record's strings cost one allocation together; the others go
// through encoding/json, which also replaces invalid UTF-8 as it does
// everywhere else. A string kept past the record (an id remembered for
// duplicates, a map key) is cloned, or it would keep the whole copy alive.
type strs struct {
	raw     []byte
	backing string
}

// text decodes tok, a string token that is a sub-slice of raw.
func (s *strs) text(tok []byte) string {
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') >= 0 || !utf8.Valid(inner) {
		return unquote(tok)
	}
	// Every span of the decoder is sliced from raw with two indexes, so
	// the capacities tell where in raw it starts.
	off := cap(s.raw) - cap(inner)
	if off < 0 || off+len(inner) > len(s.raw) {
		return string(inner)
	}
	if s.backing == "" {
		s.backing = string(s.raw)
	}
	return s.backing[off : off+len(inner)]
}

// unquote decodes a string token with escapes or invalid UTF-8.
func unquote(tok []byte) string {
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return string(tok[1 : len(tok)-1])
	}
	return s
}
