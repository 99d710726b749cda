package transform

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/credreg/credreg/internal/odata"
)

// container is odata.Container under the words of this package's
// walkers (the pseudonymizer's rewrite): the JSON cursor is odata's.
type container struct {
	odata.Container
	bad bool
}

func newContainer(b []byte) container { return container{Container: odata.NewContainer(b)} }

func (it *container) member() (name, value []byte, ok bool) {
	name, value, ok = it.Member()
	it.bad = it.Bad()
	return name, value, ok
}

func (it *container) element() (value []byte, ok bool) {
	value, ok = it.Element()
	it.bad = it.Bad()
	return value, ok
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
