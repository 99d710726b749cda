package transform

import (
	"bytes"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/credreg/credreg/schemas"
)

// field is a property the decoder knows: a field of schemas.UserFields,
// numbered in the order its checks run (see order).
type field uint8

// numFields bounds the decoder's fields: one per entry of the table, the
// ones credreg fills itself last and never looked up.
const numFields = field(len(schemas.UserFields))

// fields are the table's entries by field number.
var fields = order()

// order numbers the table's fields in the order the contract checks them:
// id and userPrincipalName first (a record is named before it is judged),
// then kind by kind (strings, booleans, method lists, string lists, and
// timestamps last, so that a wrong type is reported before a timestamp
// that does not parse), in table order within a kind; then the columns
// credreg fills.
func order() (out [numFields]*schemas.UserField) {
	rank := func(f *schemas.UserField) int {
		switch {
		case f.Column == idColumn:
			return 0
		case f.Column == upnColumn:
			return 1
		case !f.Graph():
			return 100
		}
		return 10 + int(f.Kind)
	}
	n := 0
	for r := 0; r <= 100; r++ {
		for i := range schemas.UserFields {
			if f := &schemas.UserFields[i]; rank(f) == r {
				out[n] = f
				n++
			}
		}
	}
	if n != int(numFields) {
		panic(fmt.Sprintf("transform: %d of %d fields ordered", n, numFields))
	}
	return out
}

const (
	idColumn  = "user_id"
	upnColumn = "user_principal_name"
)

// fieldOf finds the field filling column; with fallback, the fallback
// property of that column.
func fieldOf(column string, fallback bool) field {
	for f, uf := range fields {
		if uf.Column == column && uf.Fallback == fallback {
			return field(f)
		}
	}
	panic(fmt.Sprintf("transform: no field for column %q", column))
}

// The fields Record names. Everything else the decoder knows of them
// (names, kinds, documented values) is in schemas.UserFields.
var (
	fID                     = fieldOf(idColumn, false)
	fUPN                    = fieldOf(upnColumn, false)
	fDisplayName            = fieldOf("user_display_name", false)
	fUserType               = fieldOf("user_type", false)
	fPreferredSecondary     = fieldOf("default_mfa_method", false)
	fDefaultMfa             = fieldOf("default_mfa_method", true)
	fIsAdmin                = fieldOf("is_admin", false)
	fIsRegistered           = fieldOf("is_registered", false)
	fIsEnabled              = fieldOf("is_enabled", false)
	fIsCapable              = fieldOf("is_capable", false)
	fIsMfaRegistered        = fieldOf("is_mfa_registered", false)
	fIsMfaCapable           = fieldOf("is_mfa_capable", false)
	fIsSsprRegistered       = fieldOf("is_sspr_registered", false)
	fIsSsprEnabled          = fieldOf("is_sspr_enabled", false)
	fIsSsprCapable          = fieldOf("is_sspr_capable", false)
	fIsPasswordlessCapable  = fieldOf("is_passwordless_capable", false)
	fIsSystemPreferred      = fieldOf("is_system_preferred_auth_enabled", false)
	fMethods                = fieldOf("auth_method_count", false)
	fSystemPreferredMethods = fieldOf("system_preferred_methods", false)
	fLastUpdated            = fieldOf("last_updated_at", false)
)

// report is what the decoder knows of one endpoint's records: the JSON
// name of each field it has ("" for the fields it lacks).
type report struct {
	endpoint schemas.Endpoint
	names    [numFields]string
	// byLen holds the fields by the length of their name: a lookup is one
	// or two string compares, cheaper than hashing the name for a map.
	byLen [64][]field
}

func newReport(e schemas.Endpoint) *report {
	r := &report{endpoint: e}
	for f, uf := range fields {
		n := uf.Name(e)
		r.names[f] = n
		if n != "" {
			r.byLen[len(n)] = append(r.byLen[len(n)], field(f))
		}
	}
	return r
}

// lookup finds the field of a property name.
func (r *report) lookup(name []byte) (field, bool) {
	if len(name) >= len(r.byLen) {
		return 0, false
	}
	for _, f := range r.byLen[len(name)] {
		if r.names[f] == string(name) {
			return f, true
		}
	}
	return 0, false
}

var (
	v1Report   = newReport(schemas.UserRegistrationDetails)
	betaReport = newReport(schemas.CredentialUserRegistrationDetails)
)

// stringValued are the fields whose values become strings (timestamps are
// parsed from theirs): the spans strs.keep copies.
var stringValued = func() (w [numFields]bool) {
	for f, uf := range fields {
		w[f] = uf.Graph() && uf.Kind != schemas.KindBool
	}
	return w
}()

// knownValues are the documented values of the enum-like properties, by
// field (schemas.UserField.Values): a value missing here loads unchanged
// and is counted (Stats.UnknownValues), so that a report that grew is
// noticed. The beta report's only enum-like property, authMethods, is
// classified by schemas.LookupMethod.
var knownValues = func() (k [numFields][]string) {
	for f, uf := range fields {
		k[f] = uf.Values
	}
	return k
}()

// reportFor maps an endpoint to its report; "" is the default endpoint.
func reportFor(e schemas.Endpoint) *report {
	switch e {
	case schemas.UserRegistrationDetails, "":
		return v1Report
	case schemas.CredentialUserRegistrationDetails:
		return betaReport
	}
	panic(fmt.Sprintf("transform: unknown endpoint %q", e))
}

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
}

// The string and timestamp properties of a record, each with its slot in
// values. A table that grows past them panics at init, and every test
// with it.
const (
	maxStrings = 8
	maxTimes   = 2
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
	it := newContainer(v)
	for i := 0; ; i++ {
		e, ok := it.element()
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
	if it.bad {
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
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
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
