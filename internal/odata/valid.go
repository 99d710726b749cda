package odata

// valid reports whether b is one JSON value, with exactly the verdict of
// encoding/json's Valid (invalid UTF-8 in strings accepted, nesting deeper
// than 10000 rejected) at several times its speed: checking the page is
// most of the cost of splitting it.
func valid(b []byte) bool {
	v := Cursor{b: b}
	v.Space()
	if !v.value() {
		return false
	}
	v.Space()
	return v.i == len(v.b)
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// plain marks the bytes that need no attention inside a string.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (v *Cursor) value() bool {
	if v.i >= len(v.b) {
		return false
	}
	switch c := v.b[v.i]; c {
	case '{':
		return v.validContainer('}')
	case '[':
		return v.validContainer(']')
	case '"':
		return v.str()
	case 't':
		return v.literal("true")
	case 'f':
		return v.literal("false")
	case 'n':
		return v.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return v.number()
		}
		return false
	}
}

// validContainer validates the object or array whose opening bracket is at v.i;
// close is its closing bracket.
func (v *Cursor) validContainer(close byte) bool {
	if v.depth++; v.depth > maxDepth {
		return false
	}
	v.i++
	v.Space()
	if v.Next(close) {
		v.depth--
		return true
	}
	for {
		if close == '}' {
			if v.i >= len(v.b) || v.b[v.i] != '"' || !v.str() {
				return false
			}
			v.Space()
			if !v.Next(':') {
				return false
			}
			v.Space()
		}
		if !v.value() {
			return false
		}
		v.Space()
		if v.Next(close) {
			v.depth--
			return true
		}
		if !v.Next(',') {
			return false
		}
		v.Space()
	}
}

func (v *Cursor) str() bool {
	b := v.b
	i := v.i + 1
	for i < len(b) {
		c := b[i]
		if plain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			v.i = i + 1
			return true
		case c < 0x20:
			return false
		}
		// A backslash.
		if i+1 >= len(b) {
			return false
		}
		switch b[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(b) {
				return false
			}
			for _, h := range b[i+2 : i+6] {
				if !isHex(h) {
					return false
				}
			}
			i += 6
		default:
			return false
		}
	}
	return false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (v *Cursor) number() bool {
	b := v.b
	i := v.i
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return false
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return false
		}
		i = j
	}
	v.i = i
	return true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func (v *Cursor) literal(lit string) bool {
	if len(v.b)-v.i < len(lit) || string(v.b[v.i:v.i+len(lit)]) != lit {
		return false
	}
	v.i += len(lit)
	return true
}
