package transform

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

// TestRejectReasons runs one case per reason code through a Transformer, as
// a page of the pipeline, and checks the reject row people will read: the
// code, a reason_detail that is a sentence naming the property at fault,
// and the user id when one could be read. It fails when a reason code has
// no case.
func TestRejectReasons(t *testing.T) {
	seed := string(bytes.TrimSpace(readTestdata(t, "seed-example-invalid.json")))
	docsPage := readTestdata(t, "credentialUserRegistrationDetails-page.json")
	const good = `{"id":"u1","userPrincipalName":"u1@contoso.com"}`
	tests := []struct {
		name     string
		endpoint schemas.Endpoint
		body     string // a page body, or records joined into one
		code     string // "" when every record loads
		property string // the property reason_detail must name; "" for the record as a whole
		detail   string // more that reason_detail must say
		userID   string
	}{
		{"docs example page", beta, string(docsPage), "", "", "", ""},
		{"seed example record", beta, seed, ReasonInvalidJSON, "", "not valid JSON: invalid character ','", "d3590ed6-52b3-4102-aeff-aad2292ab01234"},
		{"value missing", v1, `{"id":"u1","userPrincipalName":}`, ReasonInvalidJSON, "", "not valid JSON: invalid character '}' looking for beginning of value", "u1"},
		// Regression (FuzzSalvageID): the id was salvaged undecoded, as
		// invalid UTF-8 that a string column cannot hold.
		{"bad escape in the id of an invalid record", v1, "{\"id\":\"\xe4\\0\",\"userPrincipalName\":}", ReasonInvalidJSON, "", "not valid JSON", ""},
		{"null record", v1, `null`, ReasonNullRecord, "", "the record is null", ""},
		{"array record", v1, `[1]`, ReasonNotObject, "", "the record is a JSON array, want an object", ""},
		{"string record", beta, `"u1"`, ReasonNotObject, "", "the record is a JSON string, want an object", ""},
		{"missing id", v1, `{"userPrincipalName":"u1@contoso.com"}`, ReasonMissingID, "id", "absent", ""},
		{"empty id", beta, `{"id":"","userPrincipalName":"u1@contoso.com"}`, ReasonMissingID, "id", "empty string", ""},
		{"numeric id", v1, `{"id":42,"userPrincipalName":"u1@contoso.com"}`, ReasonMalformedID, "id", "want string, got number", ""},
		{"id with a newline", v1, `{"id":"u1\n","userPrincipalName":"u1@contoso.com"}`, ReasonMalformedID, "id", "whitespace or a control character", ""},
		{"missing upn", v1, `{"id":"u1"}`, ReasonMissingUPN, "userPrincipalName", "absent or null", "u1"},
		{"empty upn", beta, `{"id":"u1","userPrincipalName":""}`, ReasonMissingUPN, "userPrincipalName", "empty string", "u1"},
		{"authMethods as an object", beta, `{"id":"u1","userPrincipalName":"u1@contoso.com","authMethods":{"email":true}}`,
			ReasonWrongType, "authMethods", "want array of strings, got object", "u1"},
		{"authMethods as a set literal", beta, `{"id":"u1","userPrincipalName":"u1@contoso.com","authMethods":{"email", "mobileSMS"}}`,
			ReasonInvalidJSON, "", "not valid JSON", "u1"},
		{"boolean as yes", beta, `{"id":"u1","userPrincipalName":"u1@contoso.com","isMfaRegistered":"yes"}`,
			ReasonWrongType, "isMfaRegistered", "want boolean, got string", "u1"},
		{"boolean as yes, v1.0", v1, `{"id":"u1","userPrincipalName":"u1@contoso.com","isSsprCapable":"yes"}`,
			ReasonWrongType, "isSsprCapable", "want boolean, got string", "u1"},
		{"method a number", v1, `{"id":"u1","userPrincipalName":"u1@contoso.com","methodsRegistered":["email",7]}`,
			ReasonWrongType, "methodsRegistered", "methodsRegistered[1]: want string, got number", "u1"},
		{"unused defaultMfaMethod of the wrong type", v1,
			`{"id":"u1","userPrincipalName":"u1@contoso.com","userPreferredMethodForSecondaryAuthentication":"push","defaultMfaMethod":5}`,
			ReasonWrongType, "defaultMfaMethod", "want string, got number", "u1"},
		{"bad timestamp", v1, `{"id":"u1","userPrincipalName":"u1@contoso.com","lastUpdatedDateTime":"2024-02-30T07:08:09Z"}`,
			ReasonBadTimestamp, "lastUpdatedDateTime", `"2024-02-30T07:08:09Z" is not an RFC 3339 timestamp`, "u1"},
		{"duplicate id", v1, good + "," + good, ReasonDuplicateID, "id", `"u1" already loaded earlier in this snapshot`, "u1"},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if !strings.HasPrefix(body, `{"@odata`) {
				body = `{"value":[` + body + `]}`
			}
			page, err := odata.Split([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			tr := New(Options{Key: testKey, Endpoint: tt.endpoint, RunID: "r", Allocator: checkedAllocator(t)})
			defer tr.Release()
			got := collected{}
			defer got.release()
			got.add(t, tr.AddPage(1, testReceived, page.Records))
			got.add(t, tr.Finish())

			rejects := schemas.RejectedRecordsTable.Name
			codes := got.column(t, rejects, "reason_code")
			if tt.code == "" {
				if len(codes) != 0 || tr.Stats().Users != int64(len(page.Records)) {
					t.Fatalf("rejects %q, stats %+v; want every record loaded", codes, tr.Stats())
				}
				return
			}
			covered[tt.code] = true
			if len(codes) != 1 || codes[0] != tt.code {
				t.Fatalf("reason codes %q, want [%s]", codes, tt.code)
			}
			detail := got.column(t, rejects, "reason_detail")[0]
			if tt.property != "" && !strings.Contains(detail, "field "+tt.property) {
				t.Errorf("reason_detail %q does not name the field %s", detail, tt.property)
			}
			if !strings.Contains(detail, tt.detail) || len(strings.Fields(detail)) < 3 || strings.Contains(detail, "%!") {
				t.Errorf("reason_detail %q: want a sentence saying %q", detail, tt.detail)
			}
			wantID := tt.userID
			if wantID == "" {
				wantID = "<null>"
			}
			if ids := got.column(t, rejects, "user_id"); ids[0] != wantID {
				t.Errorf("user_id %q, want %q", ids[0], wantID)
			}
		})
	}
	for _, code := range slices.Sorted(maps.Keys(sentinels)) {
		if !covered[code] {
			t.Errorf("reason code %s has no case", code)
		}
	}
}

func TestDecodeRecordUnknownValues(t *testing.T) {
	tests := []struct {
		name     string
		endpoint schemas.Endpoint
		raw      string
		want     string // fmt.Sprint of the UnknownValues' keys
	}{
		{"documented values", v1, `{"userType":"guest","userPreferredMethodForSecondaryAuthentication":"voiceAlternateMobile",
			"defaultMfaMethod":"softwareOneTimePasscode","systemPreferredAuthenticationMethods":["push","sms","none"]}`, "[]"},
		{"placeholders and empties are known", v1, `{"userType":"unknownFutureValue","userPreferredMethodForSecondaryAuthentication":"",
			"defaultMfaMethod":"unknownFutureValue","systemPreferredAuthenticationMethods":["","unknownFutureValue"]}`, "[]"},
		{"a new user type", v1, `{"userType":"partner"}`, "[userType=partner]"},
		{"case matters", v1, `{"userType":"Member"}`, "[userType=Member]"},
		{"a preferred method from another enum", v1, `{"userPreferredMethodForSecondaryAuthentication":"mobilePhone"}`,
			"[userPreferredMethodForSecondaryAuthentication=mobilePhone]"},
		{"an unused defaultMfaMethod still counts", v1, `{"userPreferredMethodForSecondaryAuthentication":"push","defaultMfaMethod":"push"}`,
			"[defaultMfaMethod=push]"},
		{"system preferred, once each", v1, `{"systemPreferredAuthenticationMethods":["fido2","push","fido2","Sms"]}`,
			"[systemPreferredAuthenticationMethods=fido2 systemPreferredAuthenticationMethods=Sms]"},
		{"every field, in field order", v1, `{"systemPreferredAuthenticationMethods":["x"],"defaultMfaMethod":"x",
			"userPreferredMethodForSecondaryAuthentication":"x","userType":"x"}`,
			"[userType=x userPreferredMethodForSecondaryAuthentication=x defaultMfaMethod=x systemPreferredAuthenticationMethods=x]"},
		{"not fields of the beta report", beta, `{"userType":"partner","authMethods":["hologram"]}`, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := `{"id":"u1","userPrincipalName":"a@b",` + strings.TrimPrefix(tt.raw, "{")
			rec, err := DecodeRecord(tt.endpoint, []byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			keys := []string{}
			for _, v := range rec.UnknownValues {
				keys = append(keys, v.String())
			}
			if got := fmt.Sprint(keys); got != tt.want {
				t.Errorf("unknown values %s, want %s", got, tt.want)
			}
		})
	}
}

// Unknown enum values load unchanged and are counted once per loaded user;
// a rejected record's values are not counted.
func TestTransformerCountsUnknownValues(t *testing.T) {
	tr := New(Options{Key: testKey, Allocator: checkedAllocator(t)})
	defer tr.Release()
	got := collected{}
	defer got.release()
	got.add(t, tr.AddPage(1, testReceived, split(t,
		`{"id":"a","userPrincipalName":"a@b","userType":"partner","userPreferredMethodForSecondaryAuthentication":"passkey",
		  "systemPreferredAuthenticationMethods":["fido2","fido2"]}`,
		`{"id":"b","userPrincipalName":"b@b","userType":"partner","defaultMfaMethod":"passkey","userPreferredMethodForSecondaryAuthentication":""}`,
		`{"id":"c","userPrincipalName":"c@b","userType":"member","userPreferredMethodForSecondaryAuthentication":"push"}`,
		`{"id":"d","userPrincipalName":"d@b","userType":"robot","isAdmin":"no"}`,
	)))
	got.add(t, tr.Finish())
	want := map[string]int64{
		"userType=partner": 2,
		"userPreferredMethodForSecondaryAuthentication=passkey": 1,
		"defaultMfaMethod=passkey":                              1,
		"systemPreferredAuthenticationMethods=fido2":            1,
	}
	st := tr.Stats()
	if !maps.Equal(st.UnknownValues, want) {
		t.Errorf("UnknownValues %v, want %v", st.UnknownValues, want)
	}
	st.UnknownValues["userType=partner"] = 100
	if tr.Stats().UnknownValues["userType=partner"] != 2 {
		t.Error("Stats shares UnknownValues")
	}
	users := schemas.UserRegistrationDetailsTable.Name
	for _, tc := range []struct {
		column string
		want   []string
	}{
		{"user_type", []string{"partner", "partner", "member"}},
		{"default_mfa_method", []string{"passkey", "passkey", "push"}},
		{"system_preferred_methods", []string{`["fido2","fido2"]`, "<null>", "<null>"}},
	} {
		if col := got.column(t, users, tc.column); fmt.Sprint(col) != fmt.Sprint(tc.want) {
			t.Errorf("%s = %q, want %q", tc.column, col, tc.want)
		}
	}
}

// Regression: repeats of a method holding invalid UTF-8 (which decodes to
// U+FFFD) made two method rows for one value.
func TestDecodeRecordMethodRepeatsWithInvalidUTF8(t *testing.T) {
	tests := []struct {
		name, methods string
		want          []string
	}{
		{"the same invalid byte twice", "\"\xff\",\"\xff\"", []string{"\uFFFD"}},
		{"invalid byte, then its replacement", "\"\xff\",\"\\ufffd\"", []string{"\uFFFD"}},
		{"replacement, then an invalid byte", "\"\uFFFD\",\"\xfe\"", []string{"\uFFFD"}},
		{"two values around invalid bytes", "\"a\xffb\",\"a\xfeb\",\"ab\"", []string{"a\uFFFDb", "ab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := DecodeRecord(beta, []byte(`{"id":"u1","userPrincipalName":"a@b","authMethods":[`+tt.methods+`]}`))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rec.Methods, tt.want) {
				t.Errorf("methods %q, want %q", rec.Methods, tt.want)
			}
		})
	}
}
