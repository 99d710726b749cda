package transform

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
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
// strings cost one allocation together and keep no more than those spans
// alive (not the property names, booleans and unknown fields around them);
// a token without escapes is sliced out of it. Other tokens go through
// encoding/json, which also replaces invalid UTF-8 as it does everywhere
// else. A string kept past the record (an id remembered for duplicates, a
// map key) is cloned, or it would keep the whole copy alive.
type strs struct {
	raw     []byte
	backing string
	// The spans in backing: raw[from[k]:to[k]] is backing[at[k]:].
	n            int
	from, to, at [numFields]int32
}

// keep copies the spans into one string. Every span of the decoder is
// sliced from raw with two indexes, so the capacities tell where in raw it
// starts.
func (s *strs) keep(spans *[numFields][]byte, want *[numFields]bool) {
	total := 0
	for f, v := range spans {
		if want[f] {
			total += len(v)
		}
	}
	var b strings.Builder
	b.Grow(total)
	for f, v := range spans {
		if !want[f] || len(v) == 0 {
			continue
		}
		off := cap(s.raw) - cap(v)
		if off < 0 || off+len(v) > len(s.raw) {
			continue
		}
		s.from[s.n], s.to[s.n], s.at[s.n] = int32(off), int32(off+len(v)), int32(b.Len())
		s.n++
		b.Write(v)
	}
	s.backing = b.String()
}

// text decodes tok, a string token that is a sub-slice of raw.
func (s *strs) text(tok []byte) string {
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') >= 0 || !utf8.Valid(inner) {
		return unquote(tok)
	}
	off := int32(cap(s.raw) - cap(inner))
	end := off + int32(len(inner))
	for k := range s.n {
		if off >= s.from[k] && end <= s.to[k] {
			at := s.at[k] + off - s.from[k]
			return s.backing[at : at+int32(len(inner))]
		}
	}
	return string(inner)
}

// unquote decodes a string token with escapes or invalid UTF-8.
func unquote(tok []byte) string {
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return string(tok[1 : len(tok)-1])
	}
	return s
}
