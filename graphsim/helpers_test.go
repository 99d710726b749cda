package graphsim

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// testDay is the simulated clock of most tests.
var testDay = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

const (
	v1Path   = "/v1.0/reports/authenticationMethods/userRegistrationDetails"
	betaPath = "/beta/reports/credentialUserRegistrationDetails"
)

// newServer starts a small tenant with throttling off, unless opts says
// otherwise, and closes it when the test ends.
func newServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return testDay }
	}
	if len(opts.Tenants) == 0 {
		opts.Tenants = []Tenant{{ID: DefaultTenantID, Users: 1200}}
	}
	if opts.Limits == (Limits{}) {
		opts.Limits.Disabled = true
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func credOptions(s *Server) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.URL() + "/"},
		Transport: s.Client(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

func secretCredential(t testing.TB, s *Server, tenant, clientID, secret string) *azidentity.ClientSecretCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenant, clientID, secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: credOptions(s), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

var graphScopes = policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}

// token gets an access token for tenant through the real azidentity client.
func accessToken(t testing.TB, s *Server, tenant string) string {
	t.Helper()
	tok, err := secretCredential(t, s, tenant, DefaultClientID, DefaultClientSecret).GetToken(context.Background(), graphScopes)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// get sends a GET with a bearer token ("" for none).
func get(t testing.TB, s *Server, tok, url string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return readResponse(t, res)
}

func readResponse(t testing.TB, res *http.Response) response {
	t.Helper()
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", res.Request.Method, res.Request.URL, err)
	}
	return response{res.StatusCode, res.Header, body}
}

type pageBody struct {
	Context  string            `json:"@odata.context"`
	NextLink string            `json:"@odata.nextLink"`
	Value    []json.RawMessage `json:"value"`
}

type errorBody struct {
	Error struct {
		Code, Message string
	} `json:"error"`
}

// wantError checks a Graph error response and returns its message.
func wantError(t testing.TB, r response, status int, code string) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e errorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error %+v, want code %s and a message", e.Error, code)
	}
	return e.Error.Message
}

// listing is every page of a listing.
type listing struct {
	records    []json.RawMessage
	pages      int
	emptyPages int
	links      []string
}

// listAll follows next links from url until the last page.
func listAll(t testing.TB, s *Server, tok, url string) listing {
	t.Helper()
	var l listing
	for url != "" {
		r := get(t, s, tok, url)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: status %d: %s", url, r.status, r.body)
		}
		var p pageBody
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatalf("page %s: %v", r.body, err)
		}
		if p.Value == nil {
			t.Fatalf("page without value array: %s", r.body)
		}
		l.pages++
		if len(p.Value) == 0 {
			l.emptyPages++
		}
		l.records = append(l.records, p.Value...)
		if p.NextLink != "" {
			l.links = append(l.links, p.NextLink)
		}
		url = p.NextLink
		if l.pages > 10000 {
			t.Fatal("listing does not end")
		}
	}
	return l
}

// ids decodes the id of each record.
func ids(t testing.TB, recs []json.RawMessage) []string {
	t.Helper()
	out := make([]string, len(recs))
	for i, r := range recs {
		var v struct{ ID string }
		if err := json.Unmarshal(r, &v); err != nil {
			t.Fatal(err)
		}
		out[i] = v.ID
	}
	return out
}

func userIDs(us []User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

// listingOrder is Users(tenant, day) in the order an unfiltered listing of
// that day serves them (graphsim's per-day permutation, not ID order).
func listingOrder(s *Server, tenant string, day time.Time) []User {
	td := s.tenants[strings.ToLower(tenant)]
	d := dayNumber(day)
	us := s.Users(tenant, day)
	slices.SortFunc(us, func(a, b User) int {
		if c := cmp.Compare(td.listingKey(d, a.ID), td.listingKey(d, b.ID)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return us
}
