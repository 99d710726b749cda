package odata

// The moves below are Cursor's in index form, for a decoder that keeps
// its place in a local variable and walks a record once (transform's
// decodeOne): each takes the bytes and an index, returns an index, and
// never reads out of bounds, so the JSON grammar stays in this package.

// SpaceEnd returns the index of the first byte of b at or after i that is
// not JSON whitespace (len(b) when there is none).
func SpaceEnd(b []byte, i int) int { return skipSpace(b, i) }

// QuoteAt returns the index of the first '"' of b at or after i, -1 when
// there is none.
func QuoteAt(b []byte, i int) int {
	if k := quoteIndex(b, i); k < len(b) {
		return k
	}
	return -1
}

// StringEnd returns the index just past the string token whose opening
// quote is b[i], escapes and all, as SkipString delimits it; -1 when it
// never closes or i is past the end.
func StringEnd(b []byte, i int) int {
	if i < 0 || i >= len(b) {
		return -1
	}
	return stringEnd(b, i)
}

// ValueEnd returns the index just past the value that starts at b[i], as
// SkipValue delimits it; -1 when the bytes end inside it, or when no value
// starts there (i past the end, or a delimiter at b[i]).
func ValueEnd(b []byte, i int) int {
	if i < 0 || i >= len(b) {
		return -1
	}
	if end := valueEnd(b, i); end > i {
		return end
	}
	return -1
}

// LiteralAt reports whether the scalar at b[i] is lit: lit, then the end
// of b or a byte that ends a scalar.
func LiteralAt(b []byte, i int, lit string) bool {
	end := i + len(lit)
	if i < 0 || end > len(b) || string(b[i:end]) != lit {
		return false
	}
	return end == len(b) || delimiter[b[end]]
}

// ValidEnd returns the index just past the JSON value that starts at b[i],
// checked as Split checks a record (encoding/json's rules), depth being
// the number of containers around it (1 for a member of a record read
// on its own); -1 when there is no valid value there. It is SkipValue's
// validating twin, for a decoder that checks a record as it walks it.
func ValidEnd(b []byte, i, depth int) int {
	if i < 0 {
		return -1
	}
	return validValue(b, i, depth)
}
