package transform

import (
	"bytes"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/credreg/credreg/schemas"
)

// field is a property the decoder knows, in the order its checks run.
type field uint8

const (
	fID field = iota
	fUPN
	fDisplayName
	fUserType
	fPreferredSecondary
	fDefaultMfa
	fIsAdmin
	fIsRegistered
	fIsEnabled
	fIsCapable
	fIsMfaRegistered
	fIsMfaCapable
	fIsSsprRegistered
	fIsSsprEnabled
	fIsSsprCapable
	fIsPasswordlessCapable
	fIsSystemPreferred
	fMethods
	fSystemPreferredMethods
	fLastUpdated
	numFields
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

func newReport(e schemas.Endpoint, names [numFields]string) *report {
	r := &report{endpoint: e, names: names}
	for f, n := range names {
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
	// v1Report is schemas.UserRegistrationDetails. defaultMfaMethod is an
	// extra of the beta version of the same report.
	v1Report = newReport(schemas.UserRegistrationDetails, [numFields]string{
		fID: "id", fUPN: "userPrincipalName", fDisplayName: "userDisplayName", fUserType: "userType",
		fIsAdmin: "isAdmin", fIsMfaCapable: "isMfaCapable", fIsMfaRegistered: "isMfaRegistered",
		fIsPasswordlessCapable: "isPasswordlessCapable", fIsSsprCapable: "isSsprCapable",
		fIsSsprEnabled: "isSsprEnabled", fIsSsprRegistered: "isSsprRegistered",
		fIsSystemPreferred: "isSystemPreferredAuthenticationMethodEnabled",
		fLastUpdated:       "lastUpdatedDateTime", fMethods: "methodsRegistered",
		fSystemPreferredMethods: "systemPreferredAuthenticationMethods",
		fPreferredSecondary:     "userPreferredMethodForSecondaryAuthentication",
		fDefaultMfa:             "defaultMfaMethod",
	})
	// betaReport is schemas.CredentialUserRegistrationDetails.
	betaReport = newReport(schemas.CredentialUserRegistrationDetails, [numFields]string{
		fID: "id", fUPN: "userPrincipalName", fDisplayName: "userDisplayName", fMethods: "authMethods",
		fIsRegistered: "isRegistered", fIsEnabled: "isEnabled", fIsCapable: "isCapable",
		fIsMfaRegistered: "isMfaRegistered",
	})
)

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
	spans *[numFields][]byte
	strs  strs
	vals  *values
	id    string
	err   *RecordError
}

// values backs the pointer fields of one Record, so that they cost one
// allocation together.
type values struct {
	bools [numFields]bool
	strs  [fDefaultMfa + 1]string
	time  time.Time
}

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
	d.vals.strs[f] = d.strs.text(v)
	return &d.vals.strs[f]
}

// nonEmpty maps "" to nil: Graph sends "" for "no value" in enum strings.
func (d *fieldDecoder) nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
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
	out := make([]string, 0, 8)
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
	return out
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
	d.vals.time = t
	return &d.vals.time
}
