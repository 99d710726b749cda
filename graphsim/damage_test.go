package graphsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/credreg/credreg/internal/odata"
)

// TestDamage checks the bytes of the damaged pages and what the client's
// tolerant splitter (internal/odata) makes of them: the same bytes on
// every fetch, not JSON, and the damage where each kind puts it.
func TestDamage(t *testing.T) {
	for _, c := range []struct {
		kind DefectKind
		path string
		// broken is what must follow the damaged record's display name
		// (unclosed string), or end the damaged record (missing bracket).
		broken string
	}{
		{DamageUnclosedString, v1Path, `,"userPreferredMethodForSecondaryAuthentication":`},
		{DamageUnclosedString, betaPath, `,"userPrincipalName":`},
		{DamageMissingBracket, v1Path, `",{"id":`},
		{DamageMissingBracket, betaPath, `",{"id":`},
	} {
		t.Run(string(c.kind)+c.path, func(t *testing.T) {
			// The damage follows the sixth user the listing serves
			// (Defect.After indexes Users, in ID order).
			plain := newServer(t, Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: 300}}})
			u := listingOrder(plain, DefaultTenantID, testDay)[5]
			after := slices.IndexFunc(plain.Users(DefaultTenantID, testDay), func(x User) bool { return x.ID == u.ID })
			s := newServer(t, Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: 300,
				Defects: []Defect{{After: after, Kind: c.kind}}}}})
			tok := accessToken(t, s, DefaultTenantID)
			first := get(t, s, tok, s.URL()+c.path+"?$top=50")
			again := get(t, s, tok, s.URL()+c.path+"?$top=50")
			if !bytes.Equal(first.body, again.body) {
				t.Fatal("the damaged page differs between fetches")
			}
			if json.Valid(first.body) {
				t.Fatalf("damaged page is valid JSON: %s", first.body)
			}
			// The damaged record follows user 5's record.
			var rec bytes.Buffer
			appendJSON(&rec, reportOf(c.path).record(&u))
			at := bytes.Index(first.body, rec.Bytes())
			if at < 0 {
				t.Fatal("user 5's record is not on the page")
			}
			rest := first.body[at+rec.Len():]
			var want string
			switch c.kind {
			case DamageUnclosedString:
				want = `"userDisplayName":"` + u.UserDisplayName + c.broken
			case DamageMissingBracket:
				want = c.broken
			}
			// The damage is in the record right after user 5's, which
			// holds no nested object: no '}' before it.
			i := bytes.Index(rest, []byte(want))
			if i < 0 || bytes.IndexByte(rest[:i], '}') >= 0 {
				t.Fatalf("no %s in the record after user 5: %s", want, rest[:min(len(rest), 800)])
			}
			if st := s.Stats(); st.Defects != 2 {
				t.Errorf("Stats.Defects %d, want 2", st.Defects)
			}
			p, err := odata.Split(first.body)
			logSplit(t, p, err)
			switch c.kind {
			case DamageUnclosedString:
				if err == nil {
					t.Errorf("the splitter recovered a page whose quotes pair the wrong way")
				}
			case DamageMissingBracket:
				var se *odata.SyntaxError
				if err == nil || !errors.As(err, &se) {
					t.Errorf("the splitter recovered a page whose brackets do not balance")
				}
			}
		})
	}
}

func reportOf(path string) *report {
	for _, r := range reports {
		if r.path == path {
			return r
		}
	}
	panic(path)
}

// logSplit says what the splitter made of a page, for the report's
// documentation of what a client meets.
func logSplit(t *testing.T, p odata.Page, err error) {
	t.Helper()
	if err != nil {
		t.Logf("Split: %v", err)
		return
	}
	bad := 0
	for _, r := range p.Records {
		if r.Err != nil {
			bad++
		}
	}
	t.Logf("Split: %d records, %d invalid, salvaged %v, next link %v", len(p.Records), bad, p.Salvaged, p.NextLink != "")
}
