package transform

import (
	"slices"
	"time"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

// fieldDecoder reads the fields of one record. The first error sticks:
// later reads return nil and the record is rejected for it.
type fieldDecoder struct {
	rep   *report
	spans [numFields][]byte
	strs  strs
	vals  *values
	id    string
	err   *RecordError
}

// values backs the pointer fields and the lists of one Record, so that
// they cost one allocation together.
type values struct {
	bools [numFields]bool
	strs  [maxStrings]string
	times [maxTimes]time.Time
	// list backs the string lists while they fit: a user has a few methods.
	list [12]string
	used int // of list
	// text backs the record's strings while they fit (strs.keep): Graph's
	// records hold 130 to 190 bytes of them, 165 or fewer in 99 of 100.
	// With it, values fills the 576 B size class (568 B and the 8 B header
	// of an object of over 512 B with pointers): one allocation instead of
	// two, and no more bytes than the two took (416 B and 144 B or 160 B).
	text [textBytes]byte
}

// The string and timestamp properties of a record, each with its slot in
// values. A table that grows past them panics at init, and every test
// with it.
const (
	maxStrings = 8
	maxTimes   = 2
	textBytes  = 168
)

// slots gives each string and timestamp field its place in values.
var slots = func() (s [numFields]uint8) {
	var n [schemas.KindTimestamp + 1]int
	for f, uf := range fields {
		if !uf.Graph() || (uf.Kind != schemas.KindString && uf.Kind != schemas.KindTimestamp) {
			continue
		}
		s[f] = uint8(n[uf.Kind])
		n[uf.Kind]++
	}
	if n[schemas.KindString] > maxStrings || n[schemas.KindTimestamp] > maxTimes {
		panic("transform: more string or timestamp fields than values holds: raise maxStrings or maxTimes")
	}
	return s
}()

func (d *fieldDecoder) fail(e *RecordError) {
	if d.err == nil {
		d.err = e
	}
}

// requiredString reads a string that must be present and not empty; code
// says what it is to miss.
func (d *fieldDecoder) requiredString(f field, missing string) (string, *RecordError) {
	v, name := d.spans[f], d.rep.names[f]
	if isNull(v) {
		return "", recordError(missing, name, d.id, "field %s: absent or null", name)
	}
	if v[0] != '"' {
		return "", wrongType(name, d.id, "string", v)
	}
	s := d.strs.text(v)
	if s == "" {
		return "", recordError(missing, name, d.id, "field %s: empty string", name)
	}
	return s, nil
}

func (d *fieldDecoder) optString(f field) *string {
	v := d.spans[f]
	if isNull(v) || d.err != nil {
		return nil
	}
	if v[0] != '"' {
		d.fail(wrongType(d.rep.names[f], d.id, "string", v))
		return nil
	}
	p := &d.vals.strs[slots[f]]
	*p = d.strs.text(v)
	return p
}

// optBool reads a boolean, nil when absent or null.
func (d *fieldDecoder) optBool(f field) *bool {
	v, dst := d.spans[f], &d.vals.bools[f]
	if isNull(v) || d.err != nil {
		return nil
	}
	switch string(v) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		d.fail(wrongType(d.rep.names[f], d.id, "boolean", v))
		return nil
	}
	return dst
}

// stringList reads an array of strings: nil when absent or null, empty
// for []. With unique, repeats after the first are left out.
func (d *fieldDecoder) stringList(f field, unique bool) []string {
	v, name := d.spans[f], d.rep.names[f]
	if isNull(v) || d.err != nil {
		return nil
	}
	if v[0] != '[' {
		d.fail(wrongType(name, d.id, "array of strings", v))
		return nil
	}
	vals := d.vals
	out := vals.list[vals.used:vals.used:len(vals.list)]
	it := odata.NewContainer(v)
	for i := 0; ; i++ {
		e, ok := it.Element()
		if !ok {
			break
		}
		if e[0] != '"' {
			d.fail(recordError(ReasonWrongType, name, d.id, "field %s[%d]: want string, got %s", name, i, jsonType(e)))
			return nil
		}
		if unique && d.hasToken(out, e) {
			continue
		}
		out = append(out, d.strs.text(e))
	}
	if it.Bad() {
		d.fail(recordError(ReasonInvalidJSON, name, d.id, "not valid JSON: field %s cannot be read", name))
		return nil
	}
	if vals.used+len(out) <= len(vals.list) && (len(out) == 0 || &out[0] == &vals.list[vals.used]) {
		vals.used += len(out)
	}
	// Capped, so that appending to one list cannot write into the next.
	return out[:len(out):len(out)]
}

// hasToken reports whether list holds the string token tok.
func (d *fieldDecoder) hasToken(list []string, tok []byte) bool {
	if len(list) == 0 {
		return false
	}
	if inner := tok[1 : len(tok)-1]; d.strs.isPlain(tok) {
		// The token's bytes are its value: no decoding needed, and the
		// comparison does not allocate.
		for _, s := range list {
			if s == string(inner) {
				return true
			}
		}
		return false
	}
	// Escapes and invalid UTF-8 (which decodes to U+FFFD) are compared
	// decoded, off the fast path: "\xff" and "\ufffd" are the same value.
	return slices.Contains(list, d.strs.text(tok))
}

func (d *fieldDecoder) timestamp(f field) *time.Time {
	v, name := d.spans[f], d.rep.names[f]
	if isNull(v) || d.err != nil {
		return nil
	}
	if v[0] != '"' {
		d.fail(wrongType(name, d.id, "string (RFC 3339 timestamp)", v))
		return nil
	}
	s := d.strs.text(v)
	if s == "" {
		return nil
	}
	t, err := parseTimestamp(s)
	if err != nil {
		d.fail(recordError(ReasonBadTimestamp, name, d.id, "field %s: %s", name, err))
		return nil
	}
	p := &d.vals.times[slots[f]]
	*p = t
	return p
}
