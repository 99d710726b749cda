package transform

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"unicode/utf8"
	"unsafe"
)

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

// strs decodes the string tokens of one record. keep copies the spans of
// the record's string-valued fields into one string, so that their
// strings cost one allocation together (none of their own when they fit
// the buffer keep is given) and keep no more than those spans alive (not
// the property names, booleans and unknown fields around them); a token
// without escapes is sliced out of it. Other tokens go through
// encoding/json, which also replaces invalid UTF-8 as it does everywhere
// else. A string kept past the record (an id remembered for duplicates, a
// map key) is cloned, or it would keep the whole copy alive: the copy
// shares its allocation with the record's values (about 576 bytes).
type strs struct {
	raw     []byte
	backing string
	// The spans in backing: raw[from[k]:to[k]] is backing[at[k]:].
	n            int
	from, to, at [numFields]int32
	// plain[k]: span k holds no backslash and only valid UTF-8, so every
	// string token in it is its own value, sliced out without checking
	// the token again.
	plain [numFields]bool
}

// keep copies the spans into one string, in buf when they fit (buf must
// not be written again while the strings are in use). Every span of the
// decoder is sliced from raw with two indexes, so the capacities tell
// where in raw it starts.
func (s *strs) keep(spans *[numFields][]byte, want *[numFields]bool, buf []byte) {
	total := 0
	for f, v := range spans {
		if want[f] {
			total += len(v)
		}
	}
	if total > len(buf) {
		buf = make([]byte, total)
	}
	n := 0
	for f, v := range spans {
		if !want[f] || len(v) == 0 {
			continue
		}
		off := cap(s.raw) - cap(v)
		if off < 0 || off+len(v) > len(s.raw) {
			continue
		}
		s.from[s.n], s.to[s.n], s.at[s.n] = int32(off), int32(off+len(v)), int32(n)
		s.plain[s.n] = copyASCII(buf[n:n+len(v)], v) || bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v)
		s.n++
		n += len(v)
	}
	s.backing = unsafe.String(unsafe.SliceData(buf), n)
}

// copyASCII copies src to dst, as long, and reports whether src is all
// ASCII from space to DEL (0x20-0x7f), without a backslash (a string's bytes that
// are their own value, and valid JSON): one pass, eight bytes at a time,
// where checking for escapes, control bytes and UTF-8 would take three
// more.
func copyASCII(dst, src []byte) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
		slash = 0x5c5c5c5c5c5c5c5c // a backslash in every byte
	)
	var high, slashes uint64
	word := func(at int) {
		x := binary.LittleEndian.Uint64(src[at:])
		binary.LittleEndian.PutUint64(dst[at:], x)
		high |= x
		// A zero byte in y is a backslash in x; the expression is
		// non-zero exactly when y has one. The second flags the bytes
		// of x below 0x20 (of a word without high bytes; one with them
		// is refused anyway).
		y := x ^ slash
		slashes |= (y-ones)&^y&highs | (x-ones*0x20)&^x&highs
	}
	n := len(src)
	if n < 8 {
		for i := range n {
			c := src[i]
			dst[i] = c
			high |= uint64(c)
			if c == '\\' || c < 0x20 {
				slashes = 1
			}
		}
		return high&highs == 0 && slashes == 0
	}
	dst = dst[:n]
	for i := 0; i+8 <= n; i += 8 {
		word(i)
	}
	if n%8 != 0 {
		word(n - 8) // the last eight bytes again: the rest, and some done
	}
	return high&highs == 0 && slashes == 0
}

// span finds the kept span that holds tok.
func (s *strs) span(tok []byte) (k int, ok bool) {
	off := int32(cap(s.raw) - cap(tok))
	end := off + int32(len(tok))
	for k := range s.n {
		if off >= s.from[k] && end <= s.to[k] {
			return k, true
		}
	}
	return 0, false
}

// isPlain reports whether the string token tok is its own value: no
// escapes, no invalid UTF-8 (which decodes to U+FFFD).
func (s *strs) isPlain(tok []byte) bool {
	if k, ok := s.span(tok); ok && s.plain[k] {
		return true
	}
	inner := tok[1 : len(tok)-1]
	return bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner)
}

// text decodes tok, a string token that is a sub-slice of raw.
func (s *strs) text(tok []byte) string {
	inner := tok[1 : len(tok)-1]
	k, kept := s.span(tok)
	if !kept || !s.plain[k] {
		if bytes.IndexByte(inner, '\\') >= 0 || !utf8.Valid(inner) {
			return unquote(tok)
		}
		if !kept {
			return string(inner)
		}
	}
	at := s.at[k] + int32(cap(s.raw)-cap(inner)) - s.from[k]
	return s.backing[at : at+int32(len(inner))]
}

// unquote decodes a string token with escapes or invalid UTF-8.
func unquote(tok []byte) string {
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return string(tok[1 : len(tok)-1])
	}
	return s
}
