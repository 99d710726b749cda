package transform

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
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
