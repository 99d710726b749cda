package odata

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSplitErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   error
		offset int64
	}{
		{"empty body", ``, ErrTruncated, 0},
		{"only whitespace", " \n\t", ErrTruncated, 3},
		{"array at top level", `[{"id":"a"}]`, ErrNotJSON, 0},
		{"html error page", "\n<html>busy</html>", ErrNotJSON, 1},
		{"string at top level", `"value"`, ErrNotJSON, 0},
		{"cut inside a record", `{"value":[{"id":"a"},{"id":"b`, ErrTruncated, 29},
		{"cut after the array", `{"value":[{"id":"a"}]`, ErrTruncated, 21},
		{"cut inside a property name", `{"val`, ErrTruncated, 5},
		{"cut after a colon", `{"value": `, ErrTruncated, 10},
		{"cut inside another property", `{"@odata.context":"https://gra`, ErrTruncated, 30},
		{"cut inside the next link", `{"value":[],"@odata.nextLink":"https://gra`, ErrTruncated, 42},
		{"junk in value never closes", `{"value":[{"a":[}, {"b":2}]}`, ErrTruncated, 28},
		{"no value", `{"@odata.context":"x"}`, ErrNoValue, 22},
		{"empty object", `{}`, ErrNoValue, 2},
		{"value null", `{"value":null}`, ErrNoValue, 9},
		{"value null after an array", `{"value":[1],"value":null}`, ErrNoValue, 21},
		{"value object", `{"value":{"id":"a"}}`, ErrNotJSON, 9},
		{"value number", `{"value":3}`, ErrNotJSON, 9},
		{"value junk scalar", `{"value":nul}`, ErrNotJSON, 9},
		{"missing colon", `{"value" []}`, ErrNotJSON, 9},
		{"name not a string", `{value:[]}`, ErrNotJSON, 1},
		{"missing comma", `{"value":[] "x":1}`, ErrNotJSON, 12},
		{"data after the object", `{"value":[]} {"value":[]}`, ErrNotJSON, 13},
		{"next link a number", `{"value":[],"@odata.nextLink":5}`, ErrBadNextLink, 30},
		{"next link an object", `{"@odata.nextLink":{"u":"x"},"value":[]}`, ErrBadNextLink, 19},
		{"next link bad escape", `{"value":[],"@odata.nextLink":"a\x"}`, ErrBadNextLink, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Split([]byte(tt.body))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Split(%q) error = %v, want %v", tt.body, err, tt.want)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SyntaxError", err)
			}
			if se.Unwrap() != tt.want {
				t.Errorf("Unwrap() = %v, want the sentinel %v", se.Unwrap(), tt.want)
			}
			if se.Offset != tt.offset {
				t.Errorf("Offset = %d, want %d (%v)", se.Offset, tt.offset, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("at byte %d", tt.offset)) {
				t.Errorf("message %q does not say where", err)
			}
			if p.Records != nil || p.NextLink != "" {
				t.Errorf("a failed Split returned data: %+v", p)
			}
		})
	}
}

type wantRecord struct {
	raw     string
	invalid bool
}

func TestSplit(t *testing.T) {
	seed := bytes.TrimSpace(readTestdata(t, "seed-example-invalid.json"))
	tests := []struct {
		name     string
		body     string
		context  string
		next     string
		salvaged bool
		records  []wantRecord
	}{
		{
			name:    "empty page with a next link",
			body:    `{"@odata.context":"ctx","value":[],"@odata.nextLink":"https://graph.microsoft.com/v1.0/x?$skiptoken=abc"}`,
			context: "ctx", next: "https://graph.microsoft.com/v1.0/x?$skiptoken=abc",
		},
		{
			name: "empty array with whitespace, last page",
			body: "{ \"value\" : [ \n ] }",
		},
		{
			name:    "next link null is the last page",
			body:    `{"value":[{"id":"a"}],"@odata.nextLink":null}`,
			records: []wantRecord{{raw: `{"id":"a"}`}},
		},
		{
			name: "next link unquoted, not otherwise decoded",
			body: `{"value":[],"@odata.nextLink":"https://h/x?$skiptoken=a\u0026b%3D\/c"}`,
			next: "https://h/x?$skiptoken=a&b%3D/c",
		},
		{
			name: "strings hide brackets, commas and escaped quotes",
			body: `{"value":[ {"id":"a,]}","n":"q\"[{"} , {"id":"b\\","m":[1,[2,{"x":"]"}]]} ]}`,
			records: []wantRecord{
				{raw: `{"id":"a,]}","n":"q\"[{"}`},
				{raw: `{"id":"b\\","m":[1,[2,{"x":"]"}]]}`},
			},
		},
		{
			name:    "scalars and null are records too",
			body:    `{"value":[null,1,"s",[true]]}`,
			records: []wantRecord{{raw: `null`}, {raw: `1`}, {raw: `"s"`}, {raw: `[true]`}},
		},
		{
			name:    "the last value property wins",
			body:    `{"value":[1,2],"value":[3]}`,
			records: []wantRecord{{raw: `3`}},
		},
		{
			name: "escaped property names",
			body: `{"val\u0075e":[1],"@odata.next\u004cink":"n"}`,
			next: "n", records: []wantRecord{{raw: `1`}},
		},
		{
			name:    "other properties of any shape are skipped",
			body:    `{"@odata.count":2,"x":{"value":[9]},"y":[{"]":"["}],"z":true,"value":[1]}`,
			records: []wantRecord{{raw: `1`}},
		},
		{
			name:     "the seed record between two good records",
			body:     `{"value":[{"id":"a","authMethods":["email"]},` + string(seed) + `,{"id":"c"}],"@odata.nextLink":"next"}`,
			next:     "next",
			salvaged: true,
			records: []wantRecord{
				{raw: `{"id":"a","authMethods":["email"]}`},
				{raw: string(seed), invalid: true},
				{raw: `{"id":"c"}`},
			},
		},
		{
			name:     "empty elements are records with an error",
			body:     `{"value":[1,,2,]}`,
			salvaged: true,
			records:  []wantRecord{{raw: `1`}, {invalid: true}, {raw: `2`}, {invalid: true}},
		},
		{
			name:     "a stray closing brace stays in its element",
			body:     `{"value":[{"id":"a"}},{"id":"b"}]}`,
			salvaged: true,
			records:  []wantRecord{{raw: `{"id":"a"}}`, invalid: true}, {raw: `{"id":"b"}`}},
		},
		{
			name:     "junk in another property is skipped",
			body:     `{"@odata.context":{"a" "b"},"value":[{"id":"a"}]}`,
			salvaged: true,
			records:  []wantRecord{{raw: `{"id":"a"}`}},
		},
		{
			name:     "trailing comma in the top-level object",
			body:     `{"value":[1],}`,
			salvaged: true,
			records:  []wantRecord{{raw: `1`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			p, err := Split(body)
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			if p.Context != tt.context || p.NextLink != tt.next || p.Salvaged != tt.salvaged {
				t.Errorf("got context %q next %q salvaged %v, want %q %q %v",
					p.Context, p.NextLink, p.Salvaged, tt.context, tt.next, tt.salvaged)
			}
			if len(p.Records) != len(tt.records) {
				t.Fatalf("got %d records, want %d: %+v", len(p.Records), len(tt.records), p.Records)
			}
			for i, r := range p.Records {
				w := tt.records[i]
				if r.Index != i || string(r.Raw) != w.raw || (r.Err != nil) != w.invalid {
					t.Errorf("record %d = {%d %q %v}, want {%d %q invalid=%v}", i, r.Index, r.Raw, r.Err, i, w.raw, w.invalid)
				}
				if r.Err != nil && !errors.Is(r.Err, ErrInvalidRecordJSON) {
					t.Errorf("record %d: error %v does not wrap ErrInvalidRecordJSON", i, r.Err)
				}
				if len(r.Raw) > 0 && !isSubslice(body, r.Raw) {
					t.Errorf("record %d: Raw is not a sub-slice of the body", i)
				}
			}
		})
	}
}

func isSubslice(body, part []byte) bool {
	for i := range body {
		if &body[i] == &part[0] {
			return i+len(part) <= len(body)
		}
	}
	return false
}

func TestSplitDocsExamplePage(t *testing.T) {
	p, err := Split(readTestdata(t, "credentialUserRegistrationDetails-page.json"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Salvaged || len(p.Records) != 1 || p.Records[0].Err != nil || p.NextLink != "" {
		t.Fatalf("got %+v", p)
	}
	if !strings.HasPrefix(p.Context, "https://graph.microsoft.com/beta/reports/$metadata#") {
		t.Errorf("context = %q", p.Context)
	}
	if !bytes.Contains(p.Records[0].Raw, []byte(`"authMethods":["email","mobileSMS"]`)) {
		t.Errorf("record = %s", p.Records[0].Raw)
	}
}

func TestSplitSeedRecordError(t *testing.T) {
	seed := bytes.TrimSpace(readTestdata(t, "seed-example-invalid.json"))
	prefix := `{"value":[{"id":"a"},`
	p, err := Split([]byte(prefix + string(seed) + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	rerr := p.Records[1].Err
	var se *SyntaxError
	if !errors.As(rerr, &se) {
		t.Fatalf("record error %T is not a *SyntaxError", rerr)
	}
	// The set literal fails at its first comma, inside the record.
	comma := len(prefix) + bytes.Index(seed, []byte(`{"email",`)) + len(`{"email"`)
	if se.Offset < int64(len(prefix)) || se.Offset > int64(comma)+1 {
		t.Errorf("offset %d, want near byte %d", se.Offset, comma)
	}
	if !strings.Contains(rerr.Error(), "invalid character ','") {
		t.Errorf("message %q does not say what is wrong", rerr)
	}
}

// page999 builds a v1.0-shaped page of n records.
func page999(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#reports/authenticationMethods/userRegistrationDetails","value":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%08x-52b3-4102-aeff-aad2292ab012","userPrincipalName":"user%d@contoso.com","userDisplayName":"User \"%d\"",`+
			`"userType":"member","isAdmin":false,"isMfaCapable":true,"isMfaRegistered":true,"isPasswordlessCapable":false,`+
			`"isSsprCapable":true,"isSsprEnabled":true,"isSsprRegistered":true,"isSystemPreferredAuthenticationMethodEnabled":true,`+
			`"lastUpdatedDateTime":"2024-05-06T07:08:09.1234567Z","methodsRegistered":["email","mobilePhone","microsoftAuthenticatorPush"],`+
			`"systemPreferredAuthenticationMethods":["push"],"userPreferredMethodForSecondaryAuthentication":"push"}`, i, i, i)
	}
	b.WriteString(`],"@odata.nextLink":"https://graph.microsoft.com/v1.0/reports/authenticationMethods/userRegistrationDetails?$top=999&$skiptoken=abc"}`)
	return b.Bytes()
}

func TestSplitLargePage(t *testing.T) {
	p, err := Split(page999(999))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 999 || p.Salvaged {
		t.Fatalf("got %d records, salvaged %v", len(p.Records), p.Salvaged)
	}
}

func BenchmarkSplit(b *testing.B) {
	body := page999(999)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Split(body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(999*b.N)/b.Elapsed().Seconds(), "records/s")
}
