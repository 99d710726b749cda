package transform

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

// TestTableAgreesWithGraphsim holds schemas.UserFields to graphsim, which
// describes Graph's records in its own words: a page of each report,
// fetched over HTTP, must use exactly the properties the table gives that
// report (but the fallbacks, which graphsim does not send), and every
// record must load.
func TestTableAgreesWithGraphsim(t *testing.T) {
	sim, err := graphsim.New(graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 200}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	token := simToken(t, sim)
	for _, e := range schemas.Endpoints {
		body := simGet(t, sim, token, e.Path())
		page, err := odata.Split(body)
		if err != nil || len(page.Records) == 0 {
			t.Fatalf("%s: %d records, %v", e, len(page.Records), err)
		}
		sent := map[string]bool{}
		for _, r := range page.Records {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(r.Raw, &m); err != nil {
				t.Fatal(err)
			}
			for name := range m {
				sent[name] = true
			}
			rec, err := DecodeRecord(e, r.Raw)
			if err != nil {
				t.Fatalf("%s: graphsim's record rejected: %v", e, err)
			}
			if len(rec.UnknownFields) > 0 {
				t.Fatalf("%s: graphsim sends %v, which the table lacks", e, rec.UnknownFields)
			}
		}
		var want, got []string
		for _, f := range schemas.UserFields() {
			if n := f.Name(e); n != "" && !f.Fallback {
				want = append(want, n)
			}
		}
		for n := range sent {
			got = append(got, n)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: graphsim sends %v, the table has %v", e, got, want)
		}
	}
}

func simToken(t *testing.T, sim *graphsim.Server) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {graphsim.DefaultClientID},
		"client_secret": {graphsim.DefaultClientSecret}, "scope": {"https://graph.microsoft.com/.default"}}
	resp, err := sim.Client().Post(sim.URL()+"/"+graphsim.DefaultTenantID+"/oauth2/v2.0/token",
		"application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %s, %v", resp.Status, err)
	}
	return tok.AccessToken
}

func simGet(t *testing.T, sim *graphsim.Server, token, path string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, sim.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := sim.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v: %.200s", path, resp.Status, err, body)
	}
	return body
}
