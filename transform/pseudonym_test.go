package transform

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/credreg/credreg/schemas"
)

// pseudonymKey is 32 bytes, the shortest key accepted.
const pseudonymKey = "0123456789abcdef0123456789abcdef"

func testPseudonymizer(t *testing.T, key string) *Pseudonymizer {
	t.Helper()
	p, err := NewPseudonymizer([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var pseudonymRE = regexp.MustCompile(`^hmac:[0-9a-f]{32}$`)

// The pseudonyms are a promise kept across releases: a warehouse built
// over years joins on them, so the values for a fixed key are pinned
// here (computed apart from this package, as HMAC-SHA256 of the label
// and the name).
func TestPseudonymsAreStable(t *testing.T) {
	p := testPseudonymizer(t, pseudonymKey)
	cases := []struct{ name, got, want string }{
		{"upn", p.UPN("Ada.Brown@Contoso.example.com"), "hmac:cb1b40ee2f039fd3877b516dd1050e8b"},
		{"upn lower", p.UPN("ada.brown@contoso.example.com"), "hmac:cb1b40ee2f039fd3877b516dd1050e8b"},
		{"display name", p.DisplayName("Ada Brown"), "hmac:322e860ab54adb77f725dce85b60a7e4"},
		{"fingerprint", p.Fingerprint(), "db49621195c150b9"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, c.got, c.want)
		}
	}
	if got := p.DisplayName("ada brown"); got == p.DisplayName("Ada Brown") {
		t.Error("display names that differ in case share a pseudonym")
	}
	if p.UPN("x@y") == p.DisplayName("x@y") {
		t.Error("a UPN and a display name of the same text share a pseudonym")
	}
	other := testPseudonymizer(t, pseudonymKey+"!")
	if other.UPN("ada.brown@contoso.example.com") == p.UPN("ada.brown@contoso.example.com") || other.Fingerprint() == p.Fingerprint() {
		t.Error("another key gives the same pseudonym or fingerprint")
	}
	for _, s := range []string{p.UPN(""), p.DisplayName("Zoë"), p.UPN("a@b")} {
		if !pseudonymRE.MatchString(s) {
			t.Errorf("pseudonym %q does not read hmac:<32 hex>", s)
		}
	}
}

func TestShortPseudonymKeyRefused(t *testing.T) {
	key := strings.Repeat("k", MinPseudonymKeyBytes-1)
	_, err := NewPseudonymizer([]byte(key))
	if !errors.Is(err, ErrShortPseudonymKey) {
		t.Fatalf("got %v, want ErrShortPseudonymKey", err)
	}
	if strings.Contains(err.Error(), key) {
		t.Errorf("the error shows the key: %v", err)
	}
}

func TestRejectJSON(t *testing.T) {
	p := testPseudonymizer(t, pseudonymKey)
	upn, name := p.UPN("ada@contoso.example.com"), p.DisplayName("Ada Brown")
	cases := []struct {
		name, in string
		want     string // "" with ok false: withheld
	}{
		{"names replaced, rest kept",
			`{"id":"u1","userPrincipalName":"Ada@Contoso.example.com","userDisplayName":"Ada Brown","isAdmin":"yes"}`,
			`{"id":"u1","userPrincipalName":"` + upn + `","userDisplayName":"` + name + `","isAdmin":"yes"}`},
		{"spaces go, values stay",
			" {\n \"id\" : \"u1\", \"userDisplayName\": \"Ada Brown\", \"n\": [1, 2.50, null] }\n",
			`{"id":"u1","userDisplayName":"` + name + `","n":[1,2.50,null]}`},
		{"a name elsewhere, in any case",
			`{"userPrincipalName":"ada@contoso.example.com","mail":"ADA@contoso.example.com","x":{"y":["Ada Brown"]},"userDisplayName":"Ada Brown"}`,
			`{"userPrincipalName":"` + upn + `","mail":"` + upn + `","x":{"y":["` + name + `"]},"userDisplayName":"` + name + `"}`},
		{"nested and escaped member names",
			`{"extra":{"userPrincipal\u004eame":"ada@contoso.example.com"}}`,
			`{"extra":{"userPrincipal\u004eame":"` + upn + `"}}`},
		{"a name that is no string",
			`{"userPrincipalName":["ada@contoso.example.com"],"userDisplayName":null}`,
			`{"userPrincipalName":"` + p.UPN(`["ada@contoso.example.com"]`) + `","userDisplayName":null}`},
		{"escaped value", `{"userDisplayName":"Ada\u0020Brown"}`, `{"userDisplayName":"` + name + `"}`},
		{"null", `null`, `null`},
		{"number", `42`, `42`},
		{"not JSON", `{"userPrincipalName":"ada@contoso.example.com","authMethods":{"email","mobileSMS"}}`, ""},
		{"a bare string", `"ada@contoso.example.com"`, ""},
		{"an array", `["ada@contoso.example.com"]`, ""},
		{"empty", ``, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, note := p.rejectRaw([]byte(c.in))
			if got != c.want {
				t.Errorf("raw_json:\n got %s\nwant %s", got, c.want)
			}
			if withheld := c.want == ""; withheld != (note == withheldNote) {
				t.Errorf("note %q", note)
			}
			for _, real := range []string{"ada@", "ADA@", "Ada Brown", "Ada\\u0020"} {
				if strings.Contains(got, real) {
					t.Errorf("raw_json holds %q: %s", real, got)
				}
			}
		})
	}
}

func FuzzRejectJSON(f *testing.F) {
	f.Add([]byte(`{"id":"u1","userPrincipalName":"Ada@x","userDisplayName":"Ada","x":[{"userDisplayName":1}]}`))
	f.Add([]byte(`[{"a":"b"}]`))
	p, err := NewPseudonymizer([]byte(pseudonymKey))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, ok := p.rejectJSON(raw)
		if !ok {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("rewrote %q into invalid JSON %q", raw, out)
		}
	})
}

// Two days through the Transformer and its History: every string of every
// table is free of the names, and the same user has the same pseudonym
// on both days, in every table, its disappearance included.
func TestTransformerPseudonymizes(t *testing.T) {
	p := testPseudonymizer(t, pseudonymKey)
	real := []string{"Ada.Brown@contoso.example.com", "ada.brown@", "Ada Brown", "Bob.Stone@contoso.example.com",
		"bob.stone@", "Bob Stone", "carol@contoso.example.com", "Carol", "dan@contoso.example.com", "Dan", "Eve", "eve@"}
	day1 := []string{
		`{"id":"u1","userPrincipalName":"Ada.Brown@contoso.example.com","userDisplayName":"Ada Brown","methodsRegistered":["email"],"isMfaRegistered":false}`,
		`{"id":"u2","userPrincipalName":"Bob.Stone@contoso.example.com","userDisplayName":"Bob Stone","methodsRegistered":["fido2"],"isAdmin":true}`,
		`{"id":"u9","userPrincipalName":"carol@contoso.example.com","userDisplayName":"Carol","isAdmin":"yes","mail":"CAROL@contoso.example.com"}`,
		`{"id":"u8","userPrincipalName":"dan@contoso.example.com","userDisplayName":"Dan","methodsRegistered":{"email","sms"}}`,
	}
	day2 := []string{
		`{"id":"u1","userPrincipalName":"ada.brown@CONTOSO.example.com","userDisplayName":"Ada Brown","methodsRegistered":["email","fido2"],"isMfaRegistered":true}`,
		`{"id":"u3","userPrincipalName":"eve@contoso.example.com","userDisplayName":"Eve","methodsRegistered":[]}`,
	}
	key1 := schemas.Key{Date: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), Tenant: "tenant-1"}
	key2 := schemas.Key{Date: key1.Date.AddDate(0, 0, 1), Tenant: "tenant-1"}

	first := collected{}
	defer first.release()
	h1 := NewHistory(HistoryOptions{Key: key1, RunID: "r1"})
	defer h1.Release()
	tr := New(Options{Key: key1, RunID: "r1", History: h1, Pseudonymize: p})
	first.add(t, tr.AddPage(1, testReceived, split(t, day1...)))
	first.add(t, tr.Finish())
	first.add(t, joined(t, h1).Finish())
	tr.Release()

	prev := NewPrevious(key1.Date, "r1", schemas.UserRegistrationDetails)
	prev.KeyFingerprint = p.Fingerprint() // the previous slice's names are under the same key
	for _, r := range first[schemas.UserRegistrationDetailsTable.Name] {
		if err := prev.AddUsers(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range first[schemas.UserAuthMethodsTable.Name] {
		if err := prev.AddMethods(r); err != nil {
			t.Fatal(err)
		}
	}
	second := collected{}
	defer second.release()
	h2 := NewHistory(HistoryOptions{Key: key2, RunID: "r2", Previous: prev})
	defer h2.Release()
	tr = New(Options{Key: key2, RunID: "r2", History: h2, Pseudonymize: p})
	second.add(t, tr.AddPage(1, testReceived, split(t, day2...)))
	second.add(t, tr.Finish())
	for _, r := range first[schemas.UserRegistrationDetailsTable.Name] {
		gone, err := h2.Gone(r)
		if err != nil {
			t.Fatal(err)
		}
		second.add(t, gone)
	}
	second.add(t, joined(t, h2).Finish())
	tr.Release()

	// Every string cell of every table, as "table.column=value".
	cells := map[string]bool{}
	for _, c := range []collected{first, second} {
		for table, recs := range c {
			for _, r := range recs {
				for i, col := range r.Columns() {
					s, ok := col.(*array.String)
					if !ok {
						continue
					}
					for j := range s.Len() {
						v := s.Value(j)
						for _, name := range real {
							if strings.Contains(strings.ToLower(v), strings.ToLower(name)) {
								t.Errorf("%s.%s holds %q: %s", table, r.ColumnName(i), name, v)
							}
						}
						cells[table+"."+r.ColumnName(i)+"="+v] = true
					}
				}
			}
		}
	}
	ada, bob := p.UPN("ada.brown@contoso.example.com"), p.UPN("bob.stone@contoso.example.com")
	for _, want := range []string{
		"user_registration_details.user_principal_name=" + ada,
		"user_registration_details.user_display_name=" + p.DisplayName("Ada Brown"),
		"user_auth_methods.user_principal_name=" + ada,
		"registration_changes.user_principal_name=" + ada,                              // fido2 added, MFA gained
		"registration_changes.user_principal_name=" + bob,                              // disappeared
		"registration_changes.user_principal_name=" + p.UPN("eve@contoso.example.com"), // appeared
		`rejected_records.raw_json={"id":"u9","userPrincipalName":"` + p.UPN("carol@contoso.example.com") +
			`","userDisplayName":"` + p.DisplayName("Carol") + `","isAdmin":"yes","mail":"` + p.UPN("carol@contoso.example.com") + `"}`,
		"rejected_records.raw_json=",
	} {
		if !cells[want] {
			t.Errorf("no cell %s", want)
		}
	}
	withheld := false
	for c := range cells {
		withheld = withheld || strings.HasPrefix(c, "rejected_records.reason_detail=") && strings.HasSuffix(c, withheldNote)
	}
	if !withheld {
		t.Error("no reject says its raw_json is withheld")
	}
}
