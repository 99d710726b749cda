package transform

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/credreg/credreg/schemas"
)

// FuzzDecodeRecord decodes each input as a record of both endpoints. It
// checks that DecodeRecord never panics, that every error is a *RecordError
// with a known code, that a decoded record has an id and a user principal
// name that encoding/json reads the same way, and that the transformer's
// path (which trusts odata's validation) agrees with DecodeRecord.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"id":"id-value","userPrincipalName":"userPrincipalName","userDisplayName":"userDisplayName-value","authMethods":["email","mobileSMS"],"isRegistered":false,"isEnabled":true,"isCapable":false,"isMfaRegistered":true}`))
	f.Add([]byte(`{"id":"u1","userPrincipalName":"a@b","methodsRegistered":["fido2","fido2"],"lastUpdatedDateTime":"2024-05-06T07:08:09.1234567Z","isAdmin":null}`))
	f.Add([]byte(`{"id" : "d3590ed6", "authMethods": {"email", "mobileSMS"}}`))
	f.Add([]byte(`{"id":"a\u0000","userPrincipalName":"\ud800"}`))
	f.Add([]byte(`null`))
	codes := []string{ReasonInvalidJSON, ReasonNullRecord, ReasonNotObject, ReasonMissingID, ReasonMalformedID,
		ReasonMissingUPN, ReasonWrongType, ReasonBadTimestamp}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, endpoint := range schemas.Endpoints {
			rec, err := DecodeRecord(endpoint, raw)
			if err != nil {
				var re *RecordError
				if !errors.As(err, &re) || !slices.Contains(codes, re.Code) || !errors.Is(err, sentinels[re.Code]) || re.Detail == "" {
					t.Fatalf("%s: error %#v", endpoint, err)
				}
				if re.Code == ReasonInvalidJSON && json.Valid(raw) {
					t.Fatalf("%s: valid JSON rejected as invalid: %v", endpoint, err)
				}
				if re.Code != ReasonInvalidJSON && !json.Valid(raw) {
					t.Fatalf("%s: invalid JSON rejected as %s", endpoint, re.Code)
				}
			} else {
				checkDecoded(t, endpoint, raw, rec)
			}
			if !json.Valid(raw) {
				continue
			}
			rec2, err2 := decodeValid(reportFor(endpoint), raw)
			if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) || diffRecord(rec, rec2) != "" {
				t.Fatalf("%s: DecodeRecord %v, transformer path %v", endpoint, err, err2)
			}
		}
	})
}

func checkDecoded(t *testing.T, endpoint schemas.Endpoint, raw []byte, rec Record) {
	t.Helper()
	if rec.ID == "" || rec.UserPrincipalName == "" || len(rec.ID) > maxIDLen || strings.ContainsAny(rec.ID, " \t\r\n") {
		t.Fatalf("%s: decoded record with id %q upn %q", endpoint, rec.ID, rec.UserPrincipalName)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: decoded a record encoding/json cannot read: %v", endpoint, err)
	}
	if m["id"] != rec.ID || m["userPrincipalName"] != rec.UserPrincipalName {
		t.Fatalf("%s: id %q upn %q, encoding/json reads %q %q", endpoint, rec.ID, rec.UserPrincipalName, m["id"], m["userPrincipalName"])
	}
	for i, s := range rec.Methods {
		if slices.Contains(rec.Methods[:i], s) {
			t.Fatalf("%s: method %q repeats", endpoint, s)
		}
	}
	for _, s := range append(append([]string{rec.ID, rec.UserPrincipalName}, rec.Methods...), rec.SystemPreferredMethods...) {
		if !utf8.ValidString(s) {
			t.Fatalf("%s: %q is not valid UTF-8", endpoint, s)
		}
	}
}
