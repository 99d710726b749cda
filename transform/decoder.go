package transform

import (
	"bytes"
	"slices"
	"time"
	"unicode/utf8"
	"unsafe"

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
	// text backs the record's strings while they fit (walk.str copies
	// them there as it meets them, strs.keep all at once): Graph's
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

// decodeOne decodes a record in one walk over its bytes, each value read
// as its member is met, when the record is one Graph sends: known
// properties once each, each of its field's type, an id of printable
// ASCII, a user principal name, timestamps that parse, names without
// escapes. ok is false on anything else, and decodeSpans decodes the
// record again: its checks run in the contract's order, whatever the
// order of the members, so the rejection it gives is the documented one.
// A record Graph sent is read once, an odd or broken one twice.
// raw must be valid JSON that starts with '{' (decode checks the first
// byte, and its callers validate): decodeOne checks no more syntax than
// it needs to stay in bounds.
// nx, when not nil, learns the order of the members as they are met and
// guesses each name from the one before it (see follow).
// With strict, raw need not be valid JSON: decodeOne then checks every
// byte it walks as odata.Valid would (each string it copies, each value
// it skips, the end), so that ok also says raw is valid JSON. On valid
// JSON, strict changes nothing: it adds checks that never fail there.
func (rep *report) decodeOne(raw []byte, nx *follow, strict bool) (rec Record, ok bool) {
	rec, end, ok := rep.decodeAt(raw, 0, nx, strict)
	return rec, ok && end == len(raw)
}

// decodeAt is decodeOne for the object that starts at b[at] (its '{'),
// in a page: it returns the index just past the object's '}' and reads
// nothing after it. With strict, ok says b[at:end] is valid JSON.
func (rep *report) decodeAt(b []byte, at int, nx *follow, strict bool) (rec Record, end int, ok bool) {
	var (
		got     decoded
		met     uint32 // fields seen (see metFits): a repeat is decodeSpans' (the last one counts)
		unknown []string
		id, upn string
		prev    = numFields // the known field met last; numFields before the first
	)
	vals := new(values)
	w := walk{b: b, buf: vals.text[:0], strict: strict}
	i := at + 1
	for n := 0; ; n++ {
		if i = odata.SpaceEnd(b, i); i >= len(b) {
			return rec, 0, false
		}
		if b[i] == '}' {
			end = i + 1
			break
		}
		if n > 0 {
			if b[i] != ',' {
				return rec, 0, false
			}
			i = odata.SpaceEnd(b, i+1)
		}
		if i >= len(b) || b[i] != '"' {
			return rec, 0, false
		}
		var (
			f     field
			k     int
			known bool
		)
		if nx != nil {
			f = nx[prev]
			k, known = rep.matchField(b, i, f)
		}
		if !known {
			f, k, known = rep.match(b, i)
		}
		if !known {
			if k = odata.QuoteAt(b, i+1); k < 0 || b[k-1] == '\\' {
				return rec, 0, false
			}
			f, known = rep.lookup(b[i+1 : k])
		}
		nameAt := i + 1
		if i = odata.SpaceEnd(b, k+1); i >= len(b) || b[i] != ':' {
			return rec, 0, false
		}
		if i = odata.SpaceEnd(b, i+1); i >= len(b) {
			return rec, 0, false
		}
		if !known {
			name := b[nameAt:k]
			// A name with an escape may spell a known one: decodeSpans
			// unquotes it. One with a control byte is not JSON.
			if bytes.IndexByte(name, '\\') >= 0 || !utf8.Valid(name) || hasControl(name) {
				return rec, 0, false
			}
			if bytes.IndexByte(name, '@') < 0 && !slices.Contains(unknown, string(name)) {
				unknown = append(unknown, string(name))
			}
			if strict {
				i = odata.ValidEnd(b, i, 1) // a member of the record: inside one container
			} else {
				i = odata.ValueEnd(b, i)
			}
			if i < 0 {
				return rec, 0, false
			}
			continue
		}
		if met&(1<<f) != 0 {
			return rec, 0, false
		}
		met |= 1 << f
		if nx != nil {
			nx[prev], prev = f, f
		}
		if b[i] == 'n' {
			if !odata.LiteralAt(b, i, "null") {
				return rec, 0, false
			}
			i += len("null") // nil, as got holds it
			continue
		}
		switch kinds[f] {
		case schemas.KindBool:
			switch {
			case odata.LiteralAt(b, i, "true"):
				vals.bools[f] = true
				i += len("true")
			case odata.LiteralAt(b, i, "false"):
				i += len("false")
			default:
				return rec, 0, false
			}
			got.bools[f] = &vals.bools[f]
		case schemas.KindString:
			if b[i] != '"' {
				return rec, 0, false
			}
			var s string
			if s, i = w.str(i); i < 0 {
				return rec, 0, false
			}
			switch f {
			case fID:
				id = s
			case fUPN:
				upn = s
			default:
				p := &vals.strs[slots[f]]
				*p = s
				got.strs[f] = p
			}
		case schemas.KindTimestamp:
			if b[i] != '"' {
				return rec, 0, false
			}
			k := odata.QuoteAt(b, i+1)
			if k < 0 {
				return rec, 0, false
			}
			if k > i+1 {
				// Read in place: parseTimestamp keeps nothing of its
				// argument when it succeeds, and fails on a backslash
				// (decodeSpans unquotes the token before it parses).
				t, err := parseTimestamp(unsafe.String(&b[i+1], k-i-1))
				if err != nil {
					return rec, 0, false
				}
				p := &vals.times[slots[f]]
				*p = t
				got.times[f] = p
			}
			i = k + 1
		case schemas.KindMethodList, schemas.KindStringList:
			if b[i] != '[' {
				return rec, 0, false
			}
			if got.lists[f], i = w.list(i, vals, kinds[f] == schemas.KindMethodList); i < 0 {
				return rec, 0, false
			}
		default:
			return rec, 0, false
		}
	}
	if id == "" || len(id) > maxIDLen || !printableASCII(id) || upn == "" {
		return rec, 0, false
	}
	rec = got.record(id, upn)
	rec.UnknownFields = unknown
	rec.UnknownValues = rep.unknownValues(&got)
	return rec, end, true
}

// follow guesses, for decodeOne, the member that comes after each known
// one (and, at numFields, the first): Graph sends every record's members
// in one order, so after the first record of a page each guess is right,
// and one comparison of a name's first bytes (matchField) replaces
// match's hashing. The zero value guesses the id everywhere, a wrong
// guess costs that comparison. It belongs to one goroutine: DecodePage
// keeps one per page.
type follow [numFields + 1]field

// metFits fails to compile when decodeOne's set of fields met cannot
// hold them all.
const metFits = uint32(1 << (numFields - 1))

// walk reads the values of one record for decodeOne, copying its strings
// as it meets them.
type walk struct {
	b []byte
	// buf holds the copies: values.text first, then (past it) buffers of
	// the heap, never written again where a string was handed out.
	buf []byte
	// strict: b is not known to be valid JSON, and str checks each
	// string as it reads it (see decodeOne).
	strict bool
}

// str reads the string token that starts at b[i]: its value and the index
// just past it, -1 when it does not close. A value without escapes is
// copied into buf (with the check that it is ASCII, or valid UTF-8 it
// keeps as is); others are decoded by encoding/json, as strs.text does.
func (w *walk) str(i int) (string, int) {
	b := w.b
	k := odata.QuoteAt(b, i+1)
	if k < 0 {
		return "", -1
	}
	if b[k-1] == '\\' {
		// Perhaps an escaped quote: the token ends further on.
		if k = odata.StringEnd(b, i); k < 0 || w.strict && odata.ValidEnd(b, i, 1) != k {
			return "", -1
		}
		return unquote(b[i:k]), k
	}
	inner := b[i+1 : k]
	n := len(inner)
	if n == 0 {
		return "", k + 1
	}
	if len(w.buf)+n > cap(w.buf) {
		// The record's bytes from here hold every string still to come;
		// past a few pages' worth, a buffer per string is enough. (Read
		// from a page, ReadPage's, b runs to the page's end: 1 KB then,
		// for the one record in a hundred whose strings overflow text.)
		size := len(b) - i
		if size > 1024 {
			size = max(n, 1024)
		}
		w.buf = make([]byte, 0, size)
	}
	at := len(w.buf)
	dst := w.buf[at : at+n]
	if !copyASCII(dst, inner) {
		// Not plain ASCII: escapes (decoded), invalid UTF-8 (replaced)
		// or, not JSON, a control byte.
		if bytes.IndexByte(inner, '\\') >= 0 || !utf8.Valid(inner) {
			if w.strict && odata.ValidEnd(b, i, 1) != k+1 {
				return "", -1
			}
			return unquote(b[i : k+1]), k + 1
		}
		if w.strict && hasControl(inner) {
			return "", -1
		}
	}
	w.buf = w.buf[:at+n]
	return unsafe.String(&dst[0], n), k + 1
}

// hasControl reports whether b holds a control byte (below 0x20), which
// a JSON string may not hold unescaped.
func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// list reads the array that starts at b[i], of strings only: its values
// (with unique, repeats after the first left out), backed by vals.list
// while they fit, as fieldDecoder.stringList backs them; and the index
// just past it, -1 on anything but a string.
func (w *walk) list(i int, vals *values, unique bool) ([]string, int) {
	b := w.b
	out := vals.list[vals.used:vals.used:len(vals.list)]
	i++
	for n := 0; ; n++ {
		if i = odata.SpaceEnd(b, i); i >= len(b) {
			return nil, -1
		}
		if b[i] == ']' {
			i++
			break
		}
		if n > 0 {
			if b[i] != ',' {
				return nil, -1
			}
			if i = odata.SpaceEnd(b, i+1); i >= len(b) {
				return nil, -1
			}
		}
		if b[i] != '"' {
			return nil, -1
		}
		var s string
		if s, i = w.str(i); i < 0 {
			return nil, -1
		}
		if unique && slices.Contains(out, s) {
			continue
		}
		out = append(out, s)
	}
	if vals.used+len(out) <= len(vals.list) && (len(out) == 0 || &out[0] == &vals.list[vals.used]) {
		vals.used += len(out)
	}
	// Capped, so that appending to one list cannot write into the next.
	return out[:len(out):len(out)], i
}
