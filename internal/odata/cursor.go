package odata

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
func (c *Cursor) Space() { c.i = skipSpace(c.b, c.i) }

// skipSpace returns the index of the first byte of b at or after i that is
// not JSON whitespace. Graph's pages are compact: the first test (no byte
// up to ' ' is anything else than whitespace or a control byte) ends it.
func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
		i++
	}
	return i
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
	if c.i >= len(c.b) {
		c.i = len(c.b)
		return false
	}
	end := stringEnd(c.b, c.i)
	if end < 0 {
		c.i = len(c.b)
		return false
	}
	c.i = end
	return true
}

// stringEnd returns the index just past the quote that closes the string
// opened at b[i] (whatever b[i] is: it is not looked at), or -1 when the
// string never closes. A quote closes it when an even number of
// backslashes, after b[i], stands before it.
func stringEnd(b []byte, i int) int {
	for j := i + 1; ; {
		k := quoteIndex(b, j)
		if k >= len(b) {
			return -1
		}
		if b[k-1] != '\\' {
			return k + 1
		}
		backslashes := 0
		for p := k - 1; p > i && b[p] == '\\'; p-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return k + 1
		}
		j = k + 1
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
	if c.i >= len(c.b) {
		return false
	}
	end := valueEnd(c.b, c.i)
	if end < 0 {
		c.i = len(c.b)
		return false
	}
	c.i = end
	return true
}

// valueEnd returns the index just past the value that starts at b[i] (i
// in bounds), as SkipValue delimits it, or -1 when the bytes end inside a
// string or a container.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		return containerEnd(b, i)
	}
	for ; i < len(b); i++ {
		if delimiter[b[i]] {
			return i
		}
	}
	return i
}

// containerEnd returns the index just past the bracket that brings the
// depth, counting brackets of either kind from the one at b[i], back to
// zero; -1 when the bytes end first.
func containerEnd(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			if i = stringEnd(b, i); i < 0 {
				return -1
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return -1
}

// delimiter marks the bytes that end a scalar.
var delimiter = [256]bool{',': true, '}': true, ']': true, ' ': true, '\t': true, '\n': true, '\r': true}

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
	// A record is some twenty members, each a few dozen bytes: the moves
	// are written out here, on a local index, rather than made through
	// the cursor's methods and separator, one call each.
	b := it.c.b
	i := skipSpace(b, it.c.i)
	if i < len(b) && b[i] == it.close {
		it.c.i = i + 1
		return nil, nil, false
	}
	if it.n > 0 {
		if i >= len(b) || b[i] != ',' {
			it.bad = true
			return nil, nil, false
		}
		i = skipSpace(b, i+1)
	}
	if it.bad || i >= len(b) || b[i] != '"' {
		it.bad = true
		return nil, nil, false
	}
	it.n++
	end := stringEnd(b, i)
	if end < 0 {
		it.bad = true
		return nil, nil, false
	}
	name = b[i:end]
	if end < len(b) && b[end] == ':' {
		i = end + 1
	} else if i = skipSpace(b, end); i < len(b) && b[i] == ':' {
		i++
	} else {
		it.bad = true
		return nil, nil, false
	}
	if i = skipSpace(b, i); i >= len(b) {
		it.bad = true
		return nil, nil, false
	}
	if b[i] == '"' {
		end = stringEnd(b, i)
	} else {
		end = valueEnd(b, i)
	}
	if end <= i {
		it.bad = true
		return nil, nil, false
	}
	it.c.i = end
	return name, b[i:end], true
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
	b, start := it.c.b, it.c.i
	if start >= len(b) {
		it.bad = true
		return nil, false
	}
	end := valueEnd(b, start)
	if end <= start {
		it.bad = true
		return nil, false
	}
	it.c.i = end
	return b[start:end], true
}

// separator moves to the next member or element; false at the end.
func (it *Container) separator() bool {
	b := it.c.b
	i := skipSpace(b, it.c.i)
	if i < len(b) && b[i] == it.close {
		it.c.i = i + 1
		return false
	}
	if it.n > 0 {
		if i >= len(b) || b[i] != ',' {
			it.bad = true
			return false
		}
		i = skipSpace(b, i+1)
	}
	it.c.i = i
	if it.bad || i >= len(b) {
		it.bad = true
		return false
	}
	it.n++
	return true
}
