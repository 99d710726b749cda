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
	return decodeValid(reportFor(endpoint), raw)
}

// decodeValid decodes a record known to be valid JSON.
func decodeValid(rep *report, raw []byte) (Record, error) {
	rec, rerr := rep.decode(raw)
	if rerr != nil {
		return Record{}, rerr
	}
	return rec, nil
}

func (rep *report) decode(raw []byte) (Record, *RecordError) {
	raw = bytes.TrimSpace(raw)
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

	var (
		spans   [numFields][]byte
		unknown []string
	)
	it := newContainer(raw)
	for {
		name, value, ok := it.member()
		if !ok {
			break
		}
		inner := name[1 : len(name)-1]
		if f, known := rep.lookup(inner); known {
			spans[f] = value
			continue
		}
		n := unquote(name)
		if f, known := rep.lookup([]byte(n)); known {
			spans[f] = value
			continue
		}
		// OData annotations ("@odata.type", "id@odata.type") describe the
		// payload; Graph property names never hold '@'.
		if !strings.Contains(n, "@") && !slices.Contains(unknown, n) {
			unknown = append(unknown, n)
		}
	}
	if it.bad {
		return Record{}, invalidJSON(raw, "not valid JSON: the record's members cannot be read")
	}

	rec := Record{UnknownFields: unknown}
	d := fieldDecoder{rep: rep, spans: &spans, strs: strs{raw: raw}, vals: new(values)}
	var rerr *RecordError
	if rec.ID, rerr = d.checkID(); rerr != nil {
		return Record{}, rerr
	}
	d.id = rec.ID
	if rec.UserPrincipalName, rerr = d.requiredString(fUPN, ReasonMissingUPN); rerr != nil {
		return Record{}, rerr
	}
	rec.UserDisplayName = d.optString(fDisplayName)
	rec.UserType = d.optString(fUserType)
	// Both are read, so that either one of the wrong type rejects the
	// record, whichever of them fills default_mfa_method.
	preferred, defaultMfa := d.optString(fPreferredSecondary), d.optString(fDefaultMfa)
	rec.DefaultMfaMethod = d.nonEmpty(preferred)
	if rec.DefaultMfaMethod == nil {
		rec.DefaultMfaMethod = d.nonEmpty(defaultMfa)
	}

	for _, b := range [...]struct {
		f   field
		dst **bool
	}{
		{fIsAdmin, &rec.IsAdmin}, {fIsRegistered, &rec.IsRegistered}, {fIsEnabled, &rec.IsEnabled},
		{fIsCapable, &rec.IsCapable}, {fIsMfaRegistered, &rec.IsMfaRegistered}, {fIsMfaCapable, &rec.IsMfaCapable},
		{fIsSsprRegistered, &rec.IsSsprRegistered}, {fIsSsprEnabled, &rec.IsSsprEnabled},
		{fIsSsprCapable, &rec.IsSsprCapable}, {fIsPasswordlessCapable, &rec.IsPasswordlessCapable},
		{fIsSystemPreferred, &rec.IsSystemPreferredAuthEnabled},
	} {
		*b.dst = d.optBool(b.f)
	}
	rec.Methods = d.stringList(fMethods, true)
	rec.SystemPreferredMethods = d.stringList(fSystemPreferredMethods, false)
	rec.LastUpdatedAt = d.timestamp(fLastUpdated)
	if d.err != nil {
		return Record{}, d.err
	}
	rec.UnknownValues = d.unknownValues(rec.UserType, preferred, defaultMfa, rec.SystemPreferredMethods)
	return rec, nil
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

// printableASCII reports whether s is all visible ASCII, the common case
// that needs no Unicode tables.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
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
