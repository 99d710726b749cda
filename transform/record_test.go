package transform

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credreg/credreg/schemas"
)

const (
	v1   = schemas.UserRegistrationDetails
	beta = schemas.CredentialUserRegistrationDetails
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRecordRejects(t *testing.T) {
	seed := string(readTestdata(t, "seed-example-invalid.json"))
	tests := []struct {
		name     string
		endpoint schemas.Endpoint
		raw      string
		code     string
		sentinel error
		field    string
		detail   string // a part of the detail
		userID   string
	}{
		{"seed example set literal", beta, seed, ReasonInvalidJSON, ErrInvalidJSON, "",
			"invalid character ','", "d3590ed6-52b3-4102-aeff-aad2292ab01234"},
		{"cut record", v1, `{"id":"u1","userPrincipalName":"a@b`, ReasonInvalidJSON, ErrInvalidJSON, "", "unexpected end", "u1"},
		{"empty bytes", v1, ``, ReasonInvalidJSON, ErrInvalidJSON, "", "not valid JSON", ""},
		{"trailing garbage", v1, `{"id":"u1"} x`, ReasonInvalidJSON, ErrInvalidJSON, "", "after top-level value", "u1"},
		{"null", v1, ` null `, ReasonNullRecord, ErrNullRecord, "", "null", ""},
		{"string", v1, `"u1"`, ReasonNotObject, ErrNotObject, "", "a JSON string", ""},
		{"number", beta, `42`, ReasonNotObject, ErrNotObject, "", "a JSON number", ""},
		{"array", v1, `[{"id":"u1"}]`, ReasonNotObject, ErrNotObject, "", "a JSON array", ""},
		{"boolean", v1, `true`, ReasonNotObject, ErrNotObject, "", "a JSON boolean", ""},
		{"id absent", v1, `{"userPrincipalName":"a@b"}`, ReasonMissingID, ErrMissingID, "id", "absent", ""},
		{"id null", beta, `{"id":null,"userPrincipalName":"a@b"}`, ReasonMissingID, ErrMissingID, "id", "null", ""},
		{"id empty", v1, `{"id":"","userPrincipalName":"a@b"}`, ReasonMissingID, ErrMissingID, "id", "empty string", ""},
		{"id number", v1, `{"id":7,"userPrincipalName":"a@b"}`, ReasonMalformedID, ErrMalformedID, "id", "want string, got number", ""},
		{"id with a space", v1, `{"id":"a b","userPrincipalName":"a@b"}`, ReasonMalformedID, ErrMalformedID, "id", "whitespace", ""},
		{"id with a control character", v1, `{"id":"a\u0000b","userPrincipalName":"a@b"}`, ReasonMalformedID, ErrMalformedID, "id", "control", ""},
		{"id too long", v1, `{"id":"` + strings.Repeat("x", 257) + `","userPrincipalName":"a@b"}`, ReasonMalformedID, ErrMalformedID, "id", "257 bytes", ""},
		{"upn absent", v1, `{"id":"u1"}`, ReasonMissingUPN, ErrMissingUPN, "userPrincipalName", "absent", "u1"},
		{"upn null", beta, `{"id":"u1","userPrincipalName":null}`, ReasonMissingUPN, ErrMissingUPN, "userPrincipalName", "null", "u1"},
		{"upn empty", v1, `{"id":"u1","userPrincipalName":""}`, ReasonMissingUPN, ErrMissingUPN, "userPrincipalName", "empty", "u1"},
		{"upn number", v1, `{"id":"u1","userPrincipalName":1}`, ReasonWrongType, ErrWrongType, "userPrincipalName", "want string, got number", "u1"},
		{"authMethods as an object", beta, `{"authMethods":{"email":1},"id":"u1","userPrincipalName":"a@b"}`, ReasonWrongType, ErrWrongType, "authMethods",
			"field authMethods: want array of strings, got object", "u1"},
		{"a method not a string", v1, `{"id":"u1","userPrincipalName":"a@b","methodsRegistered":["email",3]}`, ReasonWrongType, ErrWrongType, "methodsRegistered",
			"field methodsRegistered[1]: want string, got number", "u1"},
		{"a null method", beta, `{"id":"u1","userPrincipalName":"a@b","authMethods":[null]}`, ReasonWrongType, ErrWrongType, "authMethods",
			"field authMethods[0]: want string, got null", "u1"},
		{"boolean as yes", beta, `{"id":"u1","userPrincipalName":"a@b","isRegistered":"yes"}`, ReasonWrongType, ErrWrongType, "isRegistered",
			"field isRegistered: want boolean, got string", "u1"},
		{"boolean as 1", v1, `{"id":"u1","userPrincipalName":"a@b","isAdmin":1}`, ReasonWrongType, ErrWrongType, "isAdmin", "want boolean, got number", "u1"},
		{"display name an object", v1, `{"id":"u1","userPrincipalName":"a@b","userDisplayName":{}}`, ReasonWrongType, ErrWrongType, "userDisplayName", "want string, got object", "u1"},
		{"system preferred a string", v1, `{"id":"u1","userPrincipalName":"a@b","systemPreferredAuthenticationMethods":"push"}`, ReasonWrongType, ErrWrongType,
			"systemPreferredAuthenticationMethods", "want array of strings, got string", "u1"},
		{"timestamp a number", v1, `{"id":"u1","userPrincipalName":"a@b","lastUpdatedDateTime":1714979289}`, ReasonWrongType, ErrWrongType, "lastUpdatedDateTime", "got number", "u1"},
		{"timestamp without zone", v1, `{"id":"u1","userPrincipalName":"a@b","lastUpdatedDateTime":"2024-05-06T07:08:09"}`, ReasonBadTimestamp, ErrBadTimestamp, "lastUpdatedDateTime", "no time zone", "u1"},
		{"timestamp month 13", v1, `{"id":"u1","userPrincipalName":"a@b","lastUpdatedDateTime":"2024-13-06T07:08:09Z"}`, ReasonBadTimestamp, ErrBadTimestamp, "lastUpdatedDateTime", "month", "u1"},
		{"timestamp nine digits", v1, `{"id":"u1","userPrincipalName":"a@b","lastUpdatedDateTime":"2024-05-06T07:08:09.123456789Z"}`, ReasonBadTimestamp, ErrBadTimestamp, "lastUpdatedDateTime", "9 fraction digits", "u1"},
		{"timestamp words", v1, `{"id":"u1","userPrincipalName":"a@b","lastUpdatedDateTime":"yesterday"}`, ReasonBadTimestamp, ErrBadTimestamp, "lastUpdatedDateTime", `"yesterday"`, "u1"},
		{"first error by field order", v1, `{"isAdmin":"no","id":"u1","userPrincipalName":"a@b","userType":5}`, ReasonWrongType, ErrWrongType, "userType", "userType", "u1"},
		{"strings before booleans", v1, `{"isAdmin":"no","id":"u1","userPrincipalName":"a@b","userPreferredMethodForSecondaryAuthentication":1}`,
			ReasonWrongType, ErrWrongType, "userPreferredMethodForSecondaryAuthentication", "got number", "u1"},
		{"method list before a string list", v1, `{"systemPreferredAuthenticationMethods":7,"id":"u1","userPrincipalName":"a@b","methodsRegistered":{}}`,
			ReasonWrongType, ErrWrongType, "methodsRegistered", "got object", "u1"},
		{"wrong type before bad timestamp", v1, `{"lastUpdatedDateTime":"soon","id":"u1","userPrincipalName":"a@b","methodsRegistered":"sms"}`,
			ReasonWrongType, ErrWrongType, "methodsRegistered", "got string", "u1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := DecodeRecord(tt.endpoint, []byte(tt.raw))
			if err == nil {
				t.Fatalf("DecodeRecord accepted it: %+v", rec)
			}
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("error %T %v is not a *RecordError", err, err)
			}
			if re.Code != tt.code || !errors.Is(err, tt.sentinel) || re.Field != tt.field || re.UserID != tt.userID {
				t.Errorf("got code %q field %q user %q (%v), want %q %q %q", re.Code, re.Field, re.UserID, err, tt.code, tt.field, tt.userID)
			}
			if !strings.Contains(re.Detail, tt.detail) {
				t.Errorf("detail %q does not say %q", re.Detail, tt.detail)
			}
			if !strings.HasPrefix(err.Error(), tt.code+": ") {
				t.Errorf("Error() = %q", err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestFieldOrder holds the decoder's numbering of schemas.UserFields to
// the order the contract checks them in (doc.go): id, userPrincipalName,
// then strings, booleans, method lists, string lists and timestamps, and
// the columns credreg fills last, each field of the table once.
func TestFieldOrder(t *testing.T) {
	if fields[fID].Column != "user_id" || fields[fUPN].Column != "user_principal_name" {
		t.Fatalf("fields 0 and 1 are %s and %s, want user_id and user_principal_name", fields[0].Column, fields[1].Column)
	}
	seen := map[*schemas.UserField]bool{}
	last, graph := schemas.FieldKind(0), true
	for f := fUPN + 1; f < numFields; f++ {
		uf := fields[f]
		if seen[uf] {
			t.Fatalf("field %d: %s numbered twice", f, uf.Column)
		}
		seen[uf] = true
		switch {
		case uf.Graph() && !graph:
			t.Errorf("field %d: %s comes from Graph but follows the columns credreg fills", f, uf.Column)
		case uf.Graph() && uf.Kind < last:
			t.Errorf("field %d: %s of kind %d checked after kind %d", f, uf.Column, uf.Kind, last)
		}
		if uf.Graph() {
			last = uf.Kind
		}
		graph = uf.Graph()
	}
	if len(seen) != schemas.NumUserFields-2 {
		t.Errorf("%d fields numbered, the table has %d", len(seen)+2, schemas.NumUserFields)
	}
}

func TestDecodeRecord(t *testing.T) {
	ts := time.Date(2024, 5, 6, 5, 8, 9, 123456700, time.UTC)
	tests := []struct {
		name     string
		endpoint schemas.Endpoint
		raw      string
		want     Record
	}{
		{
			name:     "docs example, beta",
			endpoint: beta,
			raw:      `{"id":"id-value","userPrincipalName":"userPrincipalName","userDisplayName":"userDisplayName-value","authMethods":["email","mobileSMS"],"isRegistered":false,"isEnabled":true,"isCapable":false,"isMfaRegistered":true}`,
			want: Record{ID: "id-value", UserPrincipalName: "userPrincipalName", UserDisplayName: ptr("userDisplayName-value"),
				IsRegistered: ptr(false), IsEnabled: ptr(true), IsCapable: ptr(false), IsMfaRegistered: ptr(true),
				Methods: []string{"email", "mobileSMS"}},
		},
		{
			name:     "full v1.0 record with an offset timestamp",
			endpoint: v1,
			raw: `{"id":"86462606-fde0-4fc4-9e0c-a20eb73e54c6","userPrincipalName":"AlexW@contoso.com","userDisplayName":"Alex Wilber",
				"userType":"member","isAdmin":false,"isSsprRegistered":false,"isSsprEnabled":false,"isSsprCapable":false,
				"isMfaRegistered":true,"isMfaCapable":true,"isPasswordlessCapable":false,
				"methodsRegistered":["microsoftAuthenticatorPush","softwareOneTimePasscode"],
				"isSystemPreferredAuthenticationMethodEnabled":true,"systemPreferredAuthenticationMethods":["push"],
				"userPreferredMethodForSecondaryAuthentication":"push","lastUpdatedDateTime":"2024-05-06T07:08:09.1234567+02:00"}`,
			want: Record{ID: "86462606-fde0-4fc4-9e0c-a20eb73e54c6", UserPrincipalName: "AlexW@contoso.com",
				UserDisplayName: ptr("Alex Wilber"), UserType: ptr("member"), DefaultMfaMethod: ptr("push"),
				IsAdmin: ptr(false), IsMfaRegistered: ptr(true), IsMfaCapable: ptr(true), IsSsprRegistered: ptr(false),
				IsSsprEnabled: ptr(false), IsSsprCapable: ptr(false), IsPasswordlessCapable: ptr(false),
				IsSystemPreferredAuthEnabled: ptr(true),
				Methods:                      []string{"microsoftAuthenticatorPush", "softwareOneTimePasscode"},
				SystemPreferredMethods:       []string{"push"}, LastUpdatedAt: &ts},
		},
		{
			name:     "nulls and empties are absent",
			endpoint: v1,
			raw: `{"id":"u1","userPrincipalName":"a@b","userDisplayName":null,"isAdmin":null,"methodsRegistered":null,
				"systemPreferredAuthenticationMethods":[],"userPreferredMethodForSecondaryAuthentication":"","lastUpdatedDateTime":""}`,
			want: Record{ID: "u1", UserPrincipalName: "a@b", SystemPreferredMethods: []string{}},
		},
		{
			name:     "defaultMfaMethod fills in for an empty preferred method",
			endpoint: v1,
			raw:      `{"id":"u1","userPrincipalName":"a@b","userPreferredMethodForSecondaryAuthentication":"","defaultMfaMethod":"mobilePhone"}`,
			want:     Record{ID: "u1", UserPrincipalName: "a@b", DefaultMfaMethod: ptr("mobilePhone")},
		},
		{
			name:     "repeated methods once, escapes decoded, unknown values kept",
			endpoint: beta,
			raw:      `{"id":"u\u0031","userPrincipalName":"\u00e9@b","authMethods":["email","e\u006dail","fido","hologram","email"]}`,
			want:     Record{ID: "u1", UserPrincipalName: "é@b", Methods: []string{"email", "fido", "hologram"}},
		},
		{
			name:     "unknown fields listed once; annotations and the other report's fields",
			endpoint: beta,
			raw: `{"@odata.type":"#microsoft.graph.credentialUserRegistrationDetails","id@odata.type":"String","id":"u1",
				"userPrincipalName":"a@b","isAdmin":true,"newThing":{"a":[1]},"newThing":2,"lastUpdatedDateTime":"bad"}`,
			want: Record{ID: "u1", UserPrincipalName: "a@b", UnknownFields: []string{"isAdmin", "newThing", "lastUpdatedDateTime"}},
		},
		{
			name:     "names are matched exactly; the last repeat wins",
			endpoint: v1,
			raw:      `{"ID":"x","id":"first","id":"u1","userPrincipalName":"a@b","isAdmin":true,"isAdmin":false}`,
			want:     Record{ID: "u1", UserPrincipalName: "a@b", IsAdmin: ptr(false), UnknownFields: []string{"ID"}},
		},
		{
			name:     "the empty endpoint is v1.0",
			endpoint: "",
			raw:      `{"id":"u1","userPrincipalName":"a@b","methodsRegistered":["fido2"]}`,
			want:     Record{ID: "u1", UserPrincipalName: "a@b", Methods: []string{"fido2"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRecord(tt.endpoint, []byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if d := diffRecord(got, tt.want); d != "" {
				t.Error(d)
			}
		})
	}
}

// diffRecord names the first field where two records differ.
func diffRecord(got, want Record) string {
	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	boolean := func(p *bool) string {
		if p == nil {
			return "<nil>"
		}
		if *p {
			return "true"
		}
		return "false"
	}
	tm := func(p *time.Time) string {
		if p == nil {
			return "<nil>"
		}
		return p.Format(time.RFC3339Nano) + " " + p.Location().String()
	}
	list := func(l []string) string {
		if l == nil {
			return "<nil>"
		}
		return "[" + strings.Join(l, ",") + "]"
	}
	pairs := [][3]string{
		{"ID", got.ID, want.ID},
		{"UserPrincipalName", got.UserPrincipalName, want.UserPrincipalName},
		{"UserDisplayName", str(got.UserDisplayName), str(want.UserDisplayName)},
		{"UserType", str(got.UserType), str(want.UserType)},
		{"DefaultMfaMethod", str(got.DefaultMfaMethod), str(want.DefaultMfaMethod)},
		{"Methods", list(got.Methods), list(want.Methods)},
		{"SystemPreferredMethods", list(got.SystemPreferredMethods), list(want.SystemPreferredMethods)},
		{"UnknownFields", list(got.UnknownFields), list(want.UnknownFields)},
		{"LastUpdatedAt", tm(got.LastUpdatedAt), tm(want.LastUpdatedAt)},
	}
	gb, wb := recordBools(&got), recordBools(&want)
	for i := range gb {
		pairs = append(pairs, [3]string{"bool #" + string(rune('0'+i)), boolean(gb[i]), boolean(wb[i])})
	}
	for _, p := range pairs {
		if p[1] != p[2] {
			return p[0] + ": got " + p[1] + ", want " + p[2]
		}
	}
	return ""
}

func recordBools(r *Record) []*bool {
	return []*bool{r.IsAdmin, r.IsRegistered, r.IsEnabled, r.IsCapable, r.IsMfaRegistered, r.IsMfaCapable,
		r.IsSsprRegistered, r.IsSsprEnabled, r.IsSsprCapable, r.IsPasswordlessCapable, r.IsSystemPreferredAuthEnabled}
}

func TestDecodeRecordBooleansDoNotAlias(t *testing.T) {
	a, err := DecodeRecord(v1, []byte(`{"id":"a","userPrincipalName":"a@b","isAdmin":true,"isMfaCapable":true}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeRecord(v1, []byte(`{"id":"b","userPrincipalName":"b@b","isAdmin":true}`))
	if err != nil {
		t.Fatal(err)
	}
	*a.IsAdmin = false
	if !*b.IsAdmin || !*a.IsMfaCapable {
		t.Error("a record's booleans share memory with another's or with each other")
	}
}

func TestParseTimestamp(t *testing.T) {
	good := map[string]time.Time{
		"2024-05-06T07:08:09Z":              time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		"2024-05-06T07:08:09.1Z":            time.Date(2024, 5, 6, 7, 8, 9, 100000000, time.UTC),
		"2024-05-06T07:08:09.1234567Z":      time.Date(2024, 5, 6, 7, 8, 9, 123456700, time.UTC),
		"2024-05-06t07:08:09z":              time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		"2024-05-06T00:30:00-01:30":         time.Date(2024, 5, 6, 2, 0, 0, 0, time.UTC),
		"2024-02-29T23:59:59+23:59":         time.Date(2024, 2, 29, 0, 0, 59, 0, time.UTC),
		"0001-01-01T00:00:00Z":              time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		"2016-12-31T23:59:60Z":              time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC),
		"2024-05-06T07:08:09.0000001+00:00": time.Date(2024, 5, 6, 7, 8, 9, 100, time.UTC),
	}
	for in, want := range good {
		got, err := parseTimestamp(in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseTimestamp(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	bad := []string{
		"", "2024-05-06", "2024-05-06T07:08:09", "2024-05-06 07:08:09Z", "2024-05-06T07:08:09,1Z",
		"2024-05-06T07:08:09.Z", "2024-05-06T07:08:09.12345678Z", "2023-02-29T07:08:09Z", "2024-00-06T07:08:09Z",
		"2024-05-06T24:00:00Z", "2024-05-06T07:60:00Z", "2024-05-06T07:08:09+24:00", "2024-05-06T07:08:09+0200",
		"2024-05-06T07:08:09ZZ", "2024-5-06T07:08:09Z", "+024-05-06T07:08:09Z", "2024-05-06T07:08:09 Z",
	}
	for _, in := range bad {
		if got, err := parseTimestamp(in); err == nil {
			t.Errorf("parseTimestamp(%q) = %v, want an error", in, got)
		}
	}
}

func TestDocsExamplePageMethodsAreKnown(t *testing.T) {
	// The docs' example is the only record of the fixture page; mobileSMS is
	// missing from some of the docs' enum lists but is a known method.
	page := string(readTestdata(t, "credentialUserRegistrationDetails-page.json"))
	start := strings.Index(page, `[`) + 1
	rec, err := DecodeRecord(beta, []byte(page[start:strings.LastIndex(page, `]`)]))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.Methods, []string{"email", "mobileSMS"}) {
		t.Fatalf("methods %v", rec.Methods)
	}
	for _, m := range rec.Methods {
		if _, known := schemas.LookupMethod(m); !known {
			t.Errorf("%s is not a known method", m)
		}
	}
}

// TestUserRowCopiesRecord fills every field of a Record and checks that
// userRow carries each into the row: a field added to both and not copied
// leaves a column zero.
func TestUserRowCopiesRecord(t *testing.T) {
	var rec Record
	ts := time.Date(2026, 12, 1, 2, 3, 4, 0, time.UTC)
	rv := reflect.ValueOf(&rec).Elem()
	for i := range rv.NumField() {
		switch f := rv.Field(i); f.Interface().(type) {
		case string:
			f.SetString("s")
		case *string:
			f.Set(reflect.ValueOf(ptr("s")))
		case *bool:
			f.Set(reflect.ValueOf(ptr(true)))
		case []string:
			f.Set(reflect.ValueOf([]string{"push"}))
		case *time.Time:
			f.Set(reflect.ValueOf(&ts))
		}
	}
	u := rec.userRow(schemas.Key{Date: ts, Tenant: "t"}, v1, rec.ID, ts, "r")
	uv := reflect.ValueOf(u)
	for i := range uv.NumField() {
		if uv.Field(i).IsZero() {
			t.Errorf("UserRow.%s is left zero", uv.Type().Field(i).Name)
		}
	}
	if u.UserID != rec.ID || u.UserPrincipalName != rec.UserPrincipalName || u.AuthMethodCount != int64(len(rec.Methods)) {
		t.Errorf("row %+v from record %+v", u, rec)
	}
}
