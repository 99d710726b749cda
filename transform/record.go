package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

// Record is one decoded user of either endpoint; booleans and strings the
// endpoint lacks, or that Graph sent as null, are nil.
type Record struct {
	ID, UserPrincipalName string

	UserDisplayName, UserType, DefaultMfaMethod *string

	IsAdmin, IsRegistered, IsEnabled, IsCapable, IsMfaRegistered, IsMfaCapable, IsSsprRegistered,
	IsSsprEnabled, IsSsprCapable, IsPasswordlessCapable, IsSystemPreferredAuthEnabled *bool

	// Methods is methodsRegistered (v1.0) or authMethods (beta), as sent,
	// without repeats, in order.
	Methods []string
	// SystemPreferredMethods is nil when absent or null, empty for [].
	SystemPreferredMethods []string
	// LastUpdatedAt is in UTC.
	LastUpdatedAt *time.Time
	// UnknownFields names the properties the decoder does not know, once
	// each. They stay in the raw zone; the transformer counts them.
	UnknownFields []string
	// UnknownValues lists, once each, the values of enum-like properties
	// (userType, userPreferredMethodForSecondaryAuthentication,
	// defaultMfaMethod, systemPreferredAuthenticationMethods) that are not
	// documented. They load unchanged; the transformer counts them.
	UnknownValues []UnknownValue
}

// UnknownValue is a value of an enum-like property that Graph's
// documentation does not list: a sign the report has grown.
type UnknownValue struct {
	// Field is the property as Graph names it, e.g. "userType".
	Field string
	Value string
}

// String is "field=value", the key Stats.UnknownValues counts it under.
func (v UnknownValue) String() string { return v.Field + "=" + v.Value }

// maxIDLen bounds an id: Graph's are GUIDs, and a longer one is a sign of a
// broken record, not a user.
const maxIDLen = 256

// DecodeRecord decodes and checks one element of a page's value array
// against the data contract of the endpoint's report. The error is always a
// *RecordError. It panics on an endpoint that schemas does not define: that
// is a programming error, not bad data.
func DecodeRecord(endpoint schemas.Endpoint, raw []byte) (Record, error) {
	if !odata.Valid(raw) {
		return Record{}, invalidJSON(raw, syntaxDetail(raw))
	}
	return decodeValid(reportFor(endpoint), raw, nil)
}

// decodeValid decodes a record known to be valid JSON; nx, when not nil,
// is the page's guess of the members' order (see follow).
func decodeValid(rep *report, raw []byte, nx *follow) (Record, error) {
	rec, rerr := rep.decode(raw, nx)
	if rerr != nil {
		return Record{}, rerr
	}
	return rec, nil
}

func (rep *report) decode(raw []byte, nx *follow) (Record, *RecordError) {
	if len(raw) > 0 && (isSpace(raw[0]) || isSpace(raw[len(raw)-1])) {
		raw = bytes.TrimSpace(raw) // not odata.Split's records: it trims them
	}
	if len(raw) == 0 {
		return Record{}, invalidJSON(raw, "not valid JSON: empty")
	}
	switch raw[0] {
	case '{':
	case 'n':
		return Record{}, recordError(ReasonNullRecord, "", "", "the record is null")
	default:
		return Record{}, recordError(ReasonNotObject, "", "", "the record is a JSON %s, want an object", jsonType(raw))
	}

	if rec, ok := rep.decodeOne(raw, nx, false); ok {
		return rec, nil
	}
	return rep.decodeSpans(raw)
}

// decodeSpans decodes a record in two walks: the first stores each known
// member's value span, the second reads the fields in the order their
// checks run, so that the first failing check (in that order, whatever
// the members' order) names the rejection. decodeOne reads Graph's
// records in one walk; this one explains the others.
func (rep *report) decodeSpans(raw []byte) (Record, *RecordError) {
	// d holds the spans by value: behind a pointer they would escape, one
	// more allocation per record.
	d := fieldDecoder{rep: rep, strs: strs{raw: raw}}
	var unknown []string
	it := odata.NewContainer(raw)
	for {
		name, value, ok := it.Member()
		if !ok {
			break
		}
		inner := name[1 : len(name)-1]
		if f, known := rep.lookup(inner); known {
			d.spans[f] = value
			continue
		}
		if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			// The name is its own value, already looked up; annotations
			// (below) are left out without a copy of their name.
			if bytes.IndexByte(inner, '@') < 0 && !slices.Contains(unknown, string(inner)) {
				unknown = append(unknown, string(inner))
			}
			continue
		}
		n := unquote(name)
		if f, known := rep.lookup([]byte(n)); known {
			d.spans[f] = value
			continue
		}
		// OData annotations ("@odata.type", "id@odata.type") describe the
		// payload; Graph property names never hold '@'.
		if !strings.Contains(n, "@") && !slices.Contains(unknown, n) {
			unknown = append(unknown, n)
		}
	}
	if it.Bad() {
		return Record{}, invalidJSON(raw, "not valid JSON: the record's members cannot be read")
	}

	d.vals = new(values)
	d.strs.keep(&d.spans, &stringValued, d.vals.text[:])
	id, rerr := d.checkID()
	if rerr != nil {
		return Record{}, rerr
	}
	d.id = id
	upn, rerr := d.requiredString(fUPN, ReasonMissingUPN)
	if rerr != nil {
		return Record{}, rerr
	}
	var got decoded
	for f := fUPN + 1; f < numFields && d.err == nil; f++ {
		if d.spans[f] == nil {
			continue
		}
		switch fields[f].Kind {
		case schemas.KindString:
			got.strs[f] = d.optString(f)
		case schemas.KindBool:
			got.bools[f] = d.optBool(f)
		case schemas.KindMethodList:
			got.lists[f] = d.stringList(f, true)
		case schemas.KindStringList:
			got.lists[f] = d.stringList(f, false)
		case schemas.KindTimestamp:
			got.times[f] = d.timestamp(f)
		}
	}
	if d.err != nil {
		return Record{}, d.err
	}
	rec := got.record(id, upn)
	rec.UnknownFields = unknown
	rec.UnknownValues = rep.unknownValues(&got)
	return rec, nil
}

// decoded holds what the fields of one record decoded to, by field.
type decoded struct {
	strs  [numFields]*string
	bools [numFields]*bool
	lists [numFields][]string
	times [numFields]*time.Time
}

// record is the one place that names Record's fields after the fields of
// schemas.UserFields.
func (g *decoded) record(id, upn string) Record {
	return Record{
		ID: id, UserPrincipalName: upn,
		UserDisplayName: g.strs[fDisplayName], UserType: g.strs[fUserType],
		// default_mfa_method: the preferred method, else defaultMfaMethod;
		// both were type-checked above, whichever is used.
		DefaultMfaMethod: firstNonEmpty(g.strs[fPreferredSecondary], g.strs[fDefaultMfa]),
		IsAdmin:          g.bools[fIsAdmin], IsRegistered: g.bools[fIsRegistered], IsEnabled: g.bools[fIsEnabled],
		IsCapable: g.bools[fIsCapable], IsMfaRegistered: g.bools[fIsMfaRegistered], IsMfaCapable: g.bools[fIsMfaCapable],
		IsSsprRegistered: g.bools[fIsSsprRegistered], IsSsprEnabled: g.bools[fIsSsprEnabled],
		IsSsprCapable: g.bools[fIsSsprCapable], IsPasswordlessCapable: g.bools[fIsPasswordlessCapable],
		IsSystemPreferredAuthEnabled: g.bools[fIsSystemPreferred],
		Methods:                      g.lists[fMethods], SystemPreferredMethods: g.lists[fSystemPreferredMethods],
		LastUpdatedAt: g.times[fLastUpdated],
	}
}

// userRow is the user's row of user_registration_details; id is the
// record's id as the row keeps it (cloned by addUser only when a History
// may keep it, see strs: the builders copy it), and the other arguments
// are the columns the transformer fills.
func (r *Record) userRow(key schemas.Key, source schemas.Endpoint, id string, extractedAt time.Time, runID string) schemas.UserRow {
	return schemas.UserRow{
		Key: key, UserID: id, UserPrincipalName: r.UserPrincipalName, UserDisplayName: r.UserDisplayName,
		Source: source, UserType: r.UserType, IsAdmin: r.IsAdmin, IsRegistered: r.IsRegistered, IsEnabled: r.IsEnabled,
		IsCapable: r.IsCapable, IsMfaRegistered: r.IsMfaRegistered, IsMfaCapable: r.IsMfaCapable,
		IsSsprRegistered: r.IsSsprRegistered, IsSsprEnabled: r.IsSsprEnabled, IsSsprCapable: r.IsSsprCapable,
		IsPasswordlessCapable: r.IsPasswordlessCapable, IsSystemPreferredAuthEnabled: r.IsSystemPreferredAuthEnabled,
		DefaultMfaMethod: r.DefaultMfaMethod, SystemPreferredMethods: r.SystemPreferredMethods,
		LastUpdatedAt: r.LastUpdatedAt, AuthMethodCount: int64(len(r.Methods)),
		ExtractedAt: extractedAt, RunID: runID,
	}
}

// firstNonEmpty is the first of a and b that is neither nil nor "": Graph
// sends "" for "no value" in enum strings.
func firstNonEmpty(a, b *string) *string {
	if a != nil && *a != "" {
		return a
	}
	if b != nil && *b != "" {
		return b
	}
	return nil
}

// unknownValues lists the undocumented values of a decoded record's
// enum-like properties (schemas.UserField.Values), once each, in field
// order. "" is no value, not an unknown one.
func (rep *report) unknownValues(g *decoded) []UnknownValue {
	var out []UnknownValue
	check := func(f field, v string) {
		if v == "" || slices.Contains(knownValues[f], v) {
			return
		}
		u := UnknownValue{Field: rep.names[f], Value: v}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	for _, f := range enumFields {
		if p := g.strs[f]; p != nil {
			check(f, *p)
		}
		for _, v := range g.lists[f] {
			check(f, v)
		}
	}
	return out
}

// checkID reads the id: present, a string, not empty, short, and free of
// whitespace and control characters. It need not be a GUID (the docs'
// example id is "id-value").
func (d *fieldDecoder) checkID() (string, *RecordError) {
	return checkID(d.spans[fID], &d.strs)
}

func checkID(v []byte, s *strs) (string, *RecordError) {
	switch {
	case v == nil:
		return "", recordError(ReasonMissingID, "id", "", "field id: absent")
	case isNull(v):
		return "", recordError(ReasonMissingID, "id", "", "field id: null")
	case v[0] != '"':
		return "", recordError(ReasonMalformedID, "id", "", "field id: want string, got %s", jsonType(v))
	}
	id := s.text(v)
	if id == "" {
		return "", recordError(ReasonMissingID, "id", "", "field id: empty string")
	}
	if len(id) > maxIDLen {
		return "", recordError(ReasonMalformedID, "id", "", "field id: %d bytes, longer than the %d allowed", len(id), maxIDLen)
	}
	if printableASCII(id) {
		return id, nil
	}
	if i := strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
		return "", recordError(ReasonMalformedID, "id", "", "field id: %q holds whitespace or a control character at byte %d", id, i)
	}
	return id, nil
}

// isSpace reports whether c is JSON whitespace, or other ASCII whitespace
// bytes.TrimSpace also trims (invalid JSON, rejected all the same).
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// printableASCII reports whether s is all visible ASCII (0x21 to 0x7e),
// the common case that needs no Unicode tables. Eight bytes at a time,
// with the bit tricks of odata's scans: a flag can be wrong only above a
// true one, and any flag is a no.
func printableASCII(s string) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		del := x ^ (ones * 0x7f) // zero where x holds DEL
		if (x|(x-ones*0x21)&^x|(del-ones)&^del)&highs != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// invalidJSON rejects a record that is not valid JSON, with its id when
// one can still be read.
func invalidJSON(raw []byte, detail string) *RecordError {
	return recordError(ReasonInvalidJSON, "", salvageID(raw), "%s", detail)
}

// syntaxDetail explains why raw is not valid JSON, in the words of
// odata's record errors.
func syntaxDetail(raw []byte) string {
	var v json.RawMessage
	err := json.Unmarshal(raw, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("not valid JSON: %v (byte %d of the record)", se, se.Offset)
	}
	if err != nil {
		return "not valid JSON: " + err.Error()
	}
	return "not valid JSON"
}
