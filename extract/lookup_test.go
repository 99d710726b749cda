package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/schemas"
)

// tokenCred hands out "tok-<n>" tokens, a new one whenever claims ask for
// a fresh token, after an optional delay, and remembers when it last
// returned one. It stands in for azidentity where the credential is not
// what is under test.
type tokenCred struct {
	delay    time.Duration
	returned atomic.Pointer[time.Time]
	mu       sync.Mutex
	n        int
}

func (c *tokenCred) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	time.Sleep(c.delay)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == 0 || o.Claims != "" {
		c.n++
	}
	now := time.Now()
	c.returned.Store(&now)
	return azcore.AccessToken{Token: "tok-" + strconv.Itoa(c.n), ExpiresOn: now.Add(time.Hour)}, nil
}

// graphStub is a TLS server answering with handle; n counts requests
// from 1.
type graphStub struct {
	srv   *httptest.Server
	n     atomic.Int64
	mu    sync.Mutex
	paths []string
}

func newGraphStub(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *graphStub {
	t.Helper()
	g := &graphStub{}
	g.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(g.n.Add(1))
		g.mu.Lock()
		g.paths = append(g.paths, r.URL.EscapedPath())
		g.mu.Unlock()
		handle(w, r, n)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *graphStub) client(t *testing.T, o ClientOptions) *Client {
	t.Helper()
	o.GraphURL, o.Tenant, o.HTTPClient = g.srv.URL, "t1", g.srv.Client()
	if o.Credential == nil {
		o.Credential = &tokenCred{}
	}
	if o.Throttle == nil {
		o.Throttle = NewThrottle(Limits{PerTenant: 100, PerTenantWindow: time.Millisecond, Margin: -1})
	}
	o.Retry = RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, MaxAttempts: 4}
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

const (
	lookupID     = "0b1c5a3e-7d2f-4c1e-9a8b-3f6e2d1c0b9a"
	lookupEntity = `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#reports/authenticationMethods/userRegistrationDetails/$entity",` +
		`"id":"0b1c5a3e-7d2f-4c1e-9a8b-3f6e2d1c0b9a","userPrincipalName":"a@contoso.com","isMfaRegistered":true}`
	lookupGone = `{"error":{"code":"Request_ResourceNotFound","message":"Resource '0b1c5a3e-7d2f-4c1e-9a8b-3f6e2d1c0b9a' does not exist or one of its queried reference-property objects are not present."}}`
)

func TestLookupUser(t *testing.T) {
	cases := []struct {
		name     string
		handle   func(w http.ResponseWriter, r *http.Request, n int)
		found    bool
		body     string // the Lookup's body when no error
		attempts int
		err      error // the error's sentinel, nil for an answer
		requests int64
	}{
		{"found", func(w http.ResponseWriter, r *http.Request, n int) { reply(w, 200, lookupEntity) },
			true, lookupEntity, 1, nil, 1},
		{"gone", func(w http.ResponseWriter, r *http.Request, n int) { reply(w, 404, lookupGone) },
			false, lookupGone, 1, nil, 1},
		{"retried-503", func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				reply(w, 503, `{"error":{"code":"serviceNotAvailable","message":"down"}}`)
				return
			}
			reply(w, 200, lookupEntity)
		}, true, lookupEntity, 2, nil, 2},
		{"refused-token", func(w http.ResponseWriter, r *http.Request, n int) {
			if r.Header.Get("Authorization") != "Bearer tok-2" {
				reply(w, 401, `{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}}`)
				return
			}
			reply(w, 200, lookupEntity)
		}, true, lookupEntity, 2, nil, 2},
		// A 404 that is not Graph's "no such user" (a proxy, a wrong URL)
		// must not make a user gone.
		{"foreign-404", func(w http.ResponseWriter, r *http.Request, n int) { reply(w, 404, `<html>Not Found</html>`) },
			false, "", 0, ErrNotFound, 1},
		{"garbage-twice", func(w http.ResponseWriter, r *http.Request, n int) { reply(w, 200, `{"id":"0b1c`) },
			false, "", 0, ErrBadPage, 2},
		{"forbidden", func(w http.ResponseWriter, r *http.Request, n int) {
			reply(w, 403, `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges"}}`)
		}, false, "", 0, ErrForbidden, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newGraphStub(t, c.handle)
			cl := g.client(t, ClientOptions{})
			l, err := cl.LookupUser(context.Background(), schemas.UserRegistrationDetails, lookupID)
			if got := g.n.Load(); got != c.requests {
				t.Errorf("%d requests, want %d", got, c.requests)
			}
			for _, p := range g.paths {
				if p != "/v1.0/reports/authenticationMethods/userRegistrationDetails/"+lookupID {
					t.Errorf("requested %s", p)
				}
			}
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				if st := cl.Stats(); st.Lookups != 0 {
					t.Errorf("a failed lookup counted: %+v", st)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.Found != c.found || string(l.Body) != c.body || l.Attempts != c.attempts || l.UserID != lookupID {
				t.Errorf("lookup found %v attempts %d user %q body %s", l.Found, l.Attempts, l.UserID, l.Body)
			}
			if c.found && (string(l.Record.Raw) != lookupEntity || l.Status != 200) {
				t.Errorf("record %s, status %d", l.Record.Raw, l.Status)
			}
			if !c.found && (l.Status != 404 || l.Record.Raw != nil) {
				t.Errorf("gone user: status %d, record %s", l.Status, l.Record.Raw)
			}
			if st := cl.Stats(); st.Lookups != 1 || st.Requests != c.requests {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// What LookupUser refuses, it refuses without a request.
func TestLookupUserRefusesWithoutARequest(t *testing.T) {
	g := newGraphStub(t, func(w http.ResponseWriter, r *http.Request, n int) { reply(w, 200, lookupEntity) })
	cl := g.client(t, ClientOptions{})
	cases := []struct {
		endpoint schemas.Endpoint
		id       string
		err      error
	}{
		{schemas.CredentialUserRegistrationDetails, lookupID, ErrNoLookup},
		{schemas.UserRegistrationDetails, "../../users", ErrBadUserID},
		{schemas.UserRegistrationDetails, "a@contoso.com", ErrBadUserID},
		{schemas.UserRegistrationDetails, strings.Replace(lookupID, "-", "/", 1), ErrBadUserID},
		{schemas.UserRegistrationDetails, lookupID + "?x=1", ErrBadUserID},
		{schemas.UserRegistrationDetails, strings.ToUpper(lookupID)[:35] + "g", ErrBadUserID},
		{schemas.UserRegistrationDetails, "", ErrBadUserID},
	}
	for _, c := range cases {
		if _, err := cl.LookupUser(context.Background(), c.endpoint, c.id); !errors.Is(err, c.err) {
			t.Errorf("LookupUser(%s, %q) = %v, want %v", c.endpoint, c.id, err, c.err)
		}
	}
	if n := g.n.Load(); n != 0 {
		t.Errorf("%d requests", n)
	}
	if _, err := cl.LookupUser(context.Background(), schemas.UserRegistrationDetails, strings.ToUpper(lookupID)); err != nil {
		t.Errorf("an upper-case GUID refused: %v", err)
	}
}

// Against the simulator: a user of the listing is found with the same
// record the listing holds, plus the entity's @odata.context; an id the
// report does not hold is a user gone.
func TestLookupUserAgainstGraphsim(t *testing.T) {
	s := newSim(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 20}}})
	c := newTestClient(t, s, graphsim.DefaultClientSecret)
	ctx := context.Background()
	page, err := c.Pages(schemas.UserRegistrationDetails, "").Next(ctx)
	if err != nil || len(page.Records) == 0 {
		t.Fatalf("listing: %v, %d records", err, len(page.Records))
	}
	listed := page.Records[len(page.Records)-1].Raw
	id := recordID(t, page.Records[len(page.Records)-1])
	l, err := c.LookupUser(ctx, schemas.UserRegistrationDetails, id)
	if err != nil {
		t.Fatal(err)
	}
	var entity map[string]json.RawMessage
	if !l.Found || json.Unmarshal(l.Record.Raw, &entity) != nil {
		t.Fatalf("lookup of a listed user: found %v, %s", l.Found, l.Record.Raw)
	}
	var odataContext string
	if json.Unmarshal(entity["@odata.context"], &odataContext) != nil || !strings.HasSuffix(odataContext, "/$entity") {
		t.Errorf("@odata.context %s", entity["@odata.context"])
	}
	delete(entity, "@odata.context")
	var want map[string]json.RawMessage
	if err := json.Unmarshal(listed, &want); err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(entity)
	if err != nil {
		t.Fatal(err)
	}
	if wantJSON, err := json.Marshal(want); err != nil || !bytes.Equal(got, wantJSON) {
		t.Errorf("lookup record %s\nlisting record %s", got, listed)
	}
	gone, err := c.LookupUser(ctx, schemas.UserRegistrationDetails, "00000000-0000-0000-0000-000000000000")
	if err != nil || gone.Found || gone.Status != http.StatusNotFound {
		t.Fatalf("lookup of an unknown id: found %v, status %d, err %v", gone.Found, gone.Status, err)
	}
	if st, ss := c.Stats(), s.Stats(); st.Lookups != 2 || ss.Lookups != 2 {
		t.Errorf("lookups counted by the client %d, by Graph %d; want 2", st.Lookups, ss.Lookups)
	}
}
