package odata

import "bytes"

// Cursor is credreg's one walker of JSON from outside: Split's fast path
// and validator, its tolerant scanner, transform's decoder and the import
// of saved exports all move through bytes with it. It never reads out of
// bounds. Its moves come in two strengths: Skip* delimit a value by
// tracking strings and brackets only (what the tolerant scanner and a
// decoder of already validated JSON need), while valid and Split check
// every byte as encoding/json would.
type Cursor struct {
	b     []byte
	i     int
	depth int // nesting, while validating
}

// NewCursor starts a cursor at b[0].
func NewCursor(b []byte) Cursor { return Cursor{b: b} }

// Pos is the index of the next byte.
func (c *Cursor) Pos() int { return c.i }

// Seek moves to b[i].
func (c *Cursor) Seek(i int) { c.i = i }

// Space moves past JSON whitespace (not Unicode's).
func (c *Cursor) Space() {
	for c.i < len(c.b) && isSpace(c.b[c.i]) {
		c.i++
	}
}

// Next consumes b if it is the next byte.
func (c *Cursor) Next(b byte) bool {
	if c.i < len(c.b) && c.b[c.i] == b {
		c.i++
		return true
	}
	return false
}

// SkipString moves past the string whose opening quote is the next byte.
// It reports false, at the end of the bytes, when the string never closes
// (or the cursor is already at the end: there is no quote to open it).
func (c *Cursor) SkipString() bool {
	b, i := c.b, c.i
	if i >= len(b) {
		c.i = len(b)
		return false
	}
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			c.i = len(b)
			return false
		}
		j += k
		backslashes := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			backslashes++
		}
		j++
		if backslashes%2 == 0 {
			c.i = j
			return true
		}
	}
}

// SkipValue moves past the value that starts at the next byte: a string;
// a container, up to the bracket that brings the depth back to zero
// (whatever its kind, so junk inside stays inside); or a scalar, up to the
// next delimiter or the end of the bytes (possibly empty). It reports
// false when the bytes end inside a string or a container, or there is no
// byte left. It does not validate: callers that need valid JSON check the
// span.
func (c *Cursor) SkipValue() bool {
	b := c.b
	if c.i >= len(b) {
		return false
	}
	switch b[c.i] {
	case '"':
		return c.SkipString()
	case '{', '[':
		depth := 0
		for c.i < len(b) {
			switch b[c.i] {
			case '"':
				if !c.SkipString() {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					c.i++
					return true
				}
			}
			c.i++
		}
		return false
	}
	for c.i < len(b) {
		switch b[c.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return true
		}
		c.i++
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// Container iterates an object's members or an array's elements, in JSON
// that has been validated: it trusts the shape no further than needed to
// stay in bounds, and reports a shape it does not expect with Bad.
type Container struct {
	c     Cursor
	close byte
	n     int
	bad   bool
}

// NewContainer starts on b's opening bracket, '{' or '['.
func NewContainer(b []byte) Container {
	close := byte('}')
	if len(b) > 0 && b[0] == '[' {
		close = ']'
	}
	return Container{c: Cursor{b: b, i: 1}, close: close}
}

// Bad reports that the iteration stopped on a shape it does not expect.
func (it *Container) Bad() bool { return it.bad }

// Member returns the next member of an object: the name token (quotes
// included) and the value's span. ok is false at the end or on a bad
// shape (then Bad is true).
func (it *Container) Member() (name, value []byte, ok bool) {
	if !it.separator() {
		return nil, nil, false
	}
	c := &it.c
	start := c.i
	if c.i >= len(c.b) || c.b[c.i] != '"' || !c.SkipString() {
		it.bad = true
		return nil, nil, false
	}
	name = c.b[start:c.i]
	c.Space()
	if !c.Next(':') {
		it.bad = true
		return nil, nil, false
	}
	c.Space()
	value, ok = it.value()
	return name, value, ok
}

// Element returns the next element of an array.
func (it *Container) Element() (value []byte, ok bool) {
	if !it.separator() {
		return nil, false
	}
	return it.value()
}

// value reads a member's or element's value; an empty scalar is none.
func (it *Container) value() ([]byte, bool) {
	c := &it.c
	start := c.i
	if !c.SkipValue() || c.i == start {
		it.bad = true
		return nil, false
	}
	return c.b[start:c.i], true
}

// separator moves to the next member or element; false at the end.
func (it *Container) separator() bool {
	c := &it.c
	c.Space()
	if it.n > 0 {
		if c.Next(it.close) {
			return false
		}
		if !c.Next(',') {
			it.bad = true
			return false
		}
		c.Space()
	} else if c.Next(it.close) {
		return false
	}
	if it.bad || c.i >= len(c.b) {
		it.bad = true
		return false
	}
	it.n++
	return true
}
