package extract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/schemas"
)

var testDay = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func newSim(t *testing.T, o graphsim.Options) *graphsim.Server {
	t.Helper()
	if o.Tenants == nil {
		o.Tenants = []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 2100}}
	}
	if o.Limits == (graphsim.Limits{}) {
		o.Limits = graphsim.Limits{PerTenant: 5, PerTenantWindow: 100 * time.Millisecond, App: 122, AppWindow: 100 * time.Millisecond}
	}
	if o.Now == nil {
		shift := testDay.Sub(time.Now())
		o.Now = func() time.Time { return time.Now().Add(shift) }
	}
	s, err := graphsim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newTestClient(t *testing.T, s *graphsim.Server, secret string) *Client {
	t.Helper()
	cred, err := NewCredential(graphsim.DefaultTenantID, CredentialOptions{ClientID: graphsim.DefaultClientID,
		ClientSecret: secret, AuthorityHost: s.URL(), HTTPClient: s.Client(), Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(ClientOptions{GraphURL: s.URL(), Tenant: graphsim.DefaultTenantID, Credential: cred,
		HTTPClient: s.Client(),
		Throttle:   NewThrottle(Limits{PerTenant: 5, PerTenantWindow: 100 * time.Millisecond, Margin: 20 * time.Millisecond}),
		Retry:      RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond, MaxAttempts: 4}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func drain(ctx context.Context, p *Pager) (users int, pages int, err error) {
	for {
		page, err := p.Next(ctx)
		if errors.Is(err, io.EOF) {
			return users, pages, nil
		}
		if err != nil {
			return users, pages, err
		}
		pages++
		users += len(page.Records)
	}
}

func TestPagerReadsEveryUser(t *testing.T) {
	s := newSim(t, graphsim.Options{})
	c := newTestClient(t, s, graphsim.DefaultClientSecret)
	for _, ep := range schemas.Endpoints {
		users, pages, err := drain(context.Background(), c.Pages(ep, ""))
		if err != nil {
			t.Fatal(err)
		}
		if want := len(s.Users(graphsim.DefaultTenantID, testDay)); users != want {
			t.Errorf("%s: %d users over %d pages, want %d", ep, users, pages, want)
		}
	}
}

func TestFetchErrorsAreClassified(t *testing.T) {
	body := func(status int, header, payload string) func(w http.ResponseWriter, r *http.Request, n int) bool {
		return func(w http.ResponseWriter, r *http.Request, n int) bool {
			if header != "" {
				k, v, _ := strings.Cut(header, ": ")
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, payload)
			return true
		}
	}
	cases := []struct {
		name      string
		intercept func(w http.ResponseWriter, r *http.Request, n int) bool
		sentinel  error
		class     Class
		mention   string
	}{
		{"throttled", body(429, "Retry-After: 7", `{"error":{"code":"TooManyRequests","message":"Please retry again later."}}`),
			ErrThrottled, Throttled, "TooManyRequests"},
		{"unavailable", body(503, "", `{"error":{"code":"serviceNotAvailable","message":"down"}}`), ErrTransient, Transient, "503"},
		{"forbidden", body(403, "", `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges"}}`),
			ErrForbidden, Permanent, "AuditLog.Read.All"},
		{"bad-request", body(400, "", `{"error":{"code":"Request_UnsupportedQuery","message":"Invalid page size"}}`),
			ErrBadRequest, Permanent, "Invalid page size"},
		{"not-found", body(404, "", `{"error":{"code":"Request_ResourceNotFound","message":"Resource not found for the segment 'userRegistrationDetails'."}}`),
			ErrNotFound, Permanent, "Graph base URL"},
		{"garbage-body", body(200, "", `<html>proxy error</html>`), ErrBadPage, Transient, "page"},
		{"truncated-body", body(200, "", `{"value":[{"id":"a"`), ErrBadPage, Transient, "page"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSim(t, graphsim.Options{Intercept: c.intercept})
			cl := newTestClient(t, s, graphsim.DefaultClientSecret)
			_, err := cl.FetchPage(context.Background(), cl.ReportURL(schemas.UserRegistrationDetails, ""), false)
			if !errors.Is(err, c.sentinel) || classOf(err) != c.class {
				t.Fatalf("err = %v (class %v), want %v of class %v", err, classOf(err), c.sentinel, c.class)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q does not mention %q", err, c.mention)
			}
			// A 404 is no 400: the shard fallback must not take it for a
			// filter Graph refused.
			if c.sentinel == ErrNotFound && errors.Is(err, ErrBadRequest) {
				t.Errorf("a 404 is reported as a bad request: %v", err)
			}
			var ge *GraphError
			if c.class == Throttled && (!errors.As(err, &ge) || ge.RetryAfter != 7*time.Second) {
				t.Errorf("Retry-After not read: %+v", ge)
			}
		})
	}
}

func TestNonPremiumTenant(t *testing.T) {
	s := newSim(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 10, NonPremium: true}}})
	c := newTestClient(t, s, graphsim.DefaultClientSecret)
	_, _, err := drain(context.Background(), c.Pages(schemas.UserRegistrationDetails, ""))
	if !errors.Is(err, ErrNotPremium) || !strings.Contains(err.Error(), "P1 or P2") {
		t.Fatalf("err = %v", err)
	}
}

func TestWrongSecretIsACredentialError(t *testing.T) {
	s := newSim(t, graphsim.Options{})
	c := newTestClient(t, s, "not-the-secret")
	_, _, err := drain(context.Background(), c.Pages(schemas.UserRegistrationDetails, ""))
	if !IsCredentialError(err) {
		t.Fatalf("err = %v, want a credential error", err)
	}
	if strings.Contains(err.Error(), "not-the-secret") {
		t.Fatalf("the secret leaked into the error: %v", err)
	}
}

func TestPersistent401StopsAfterOneRefresh(t *testing.T) {
	s := newSim(t, graphsim.Options{Faults: graphsim.Faults{Unauthorized: 1}})
	c := newTestClient(t, s, graphsim.DefaultClientSecret)
	_, _, err := drain(context.Background(), c.Pages(schemas.UserRegistrationDetails, ""))
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v", err)
	}
	if got := s.Stats().Requests; got != 2 {
		t.Errorf("%d requests, want 2 (one retry with a fresh token)", got)
	}
	if st := c.Stats(); st.TokenRefreshes != 1 {
		t.Errorf("token refreshes = %d", st.TokenRefreshes)
	}
}

func TestForeignHostNeverGetsTheToken(t *testing.T) {
	other := newSim(t, graphsim.Options{})
	s := newSim(t, graphsim.Options{Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"value":[],"@odata.nextLink":"%s/v1.0/reports/authenticationMethods/userRegistrationDetails?$skiptoken=x"}`, other.URL())
		return true
	}})
	c := newTestClient(t, s, graphsim.DefaultClientSecret)
	_, _, err := drain(context.Background(), c.Pages(schemas.UserRegistrationDetails, ""))
	var fh *ForeignHostError
	if !errors.As(err, &fh) || !strings.Contains(err.Error(), strings.TrimPrefix(other.URL(), "https://")) {
		t.Fatalf("err = %v", err)
	}
	if n := other.Stats().Requests; n != 0 {
		t.Fatalf("the foreign host got %d requests", n)
	}
}

func TestThrottleKeepsTheWindow(t *testing.T) {
	th := NewThrottle(Limits{PerTenant: 3, PerTenantWindow: 60 * time.Millisecond, Margin: 1})
	ctx := context.Background()
	var waits []time.Duration
	for range 4 {
		_, w, err := th.Wait(ctx, "t")
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, w)
	}
	// The first three fit in the window; the fourth waits for the first to leave it.
	if waits[3] < 50*time.Millisecond {
		t.Errorf("fourth request waited %v, want about a window", waits[3])
	}
	// Another tenant has its own window.
	if _, w, _ := th.Wait(ctx, "other"); w > 30*time.Millisecond {
		t.Errorf("other tenant waited %v", w)
	}
	// A pause holds the tenant.
	th.Pause("other", 80*time.Millisecond, false)
	if _, w, _ := th.Wait(ctx, "other"); w < 60*time.Millisecond {
		t.Errorf("paused tenant waited only %v", w)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	th.Pause("t", time.Hour, false)
	if _, _, err := th.Wait(cctx, "t"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait returned %v", err)
	}
}

func TestNewCredentialNeedsSomething(t *testing.T) {
	none := func(string) string { return "" }
	cases := []struct {
		tenant string
		o      CredentialOptions
		want   string
	}{
		{"", CredentialOptions{Getenv: none}, "AZURE_TENANT_ID"},
		{"t", CredentialOptions{Getenv: none}, "AZURE_CLIENT_ID"},
		{"t", CredentialOptions{ClientID: "c", Getenv: none}, "AZURE_CLIENT_SECRET"},
		{"t", CredentialOptions{ClientID: "c", CertificatePath: "/nonexistent.pem", Getenv: none}, "AZURE_CLIENT_CERTIFICATE_PATH"},
	}
	for _, c := range cases {
		_, err := NewCredential(c.tenant, c.o)
		if !errors.Is(err, ErrCredential) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewCredential(%q, %+v) = %v, want a message naming %s", c.tenant, c.o, err, c.want)
		}
	}
	if isPublicAuthority("https://127.0.0.1:8443/") || !isPublicAuthority("https://login.microsoftonline.com/") {
		t.Error("isPublicAuthority")
	}
}

// A page that is not valid JSON is fetched again; the same bytes twice are
// accepted (Graph sent them), with the bad record marked for quarantine.
func TestSalvagedPageIsFetchedTwice(t *testing.T) {
	body := `{"value":[{"id":"a","userPrincipalName":"a@x"},{"id":"b", "methodsRegistered": {"email", "sms"}}]}`
	s := newSim(t, graphsim.Options{Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("Content-Type", "application/json")
		if n == 1 {
			io.WriteString(w, strings.Replace(body, `"a@x"`, `"a@x`, 1)) // damaged differently
			return true
		}
		io.WriteString(w, body)
		return true
	}})
	c := newTestClient(t, s, graphsim.DefaultClientSecret)
	p, err := c.Pages(schemas.UserRegistrationDetails, "").Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Salvaged || len(p.Records) != 2 || p.Records[0].Err != nil || p.Records[1].Err == nil {
		t.Fatalf("page: salvaged %v, %d records", p.Salvaged, len(p.Records))
	}
	if got := s.Stats().Requests; got != 3 || p.Attempts != 3 {
		t.Errorf("%d requests, %d attempts; want 3: damaged, salvaged, the same again", got, p.Attempts)
	}
}

// A cycle of next links (A → B → A) stops with an error instead of
// reading the same pages forever.
func TestPagerStopsOnALinkCycle(t *testing.T) {
	var s *graphsim.Server
	s = newSim(t, graphsim.Options{Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("Content-Type", "application/json")
		next := s.URL() + "/v1.0/reports/authenticationMethods/userRegistrationDetails?$skiptoken=B"
		if r.URL.Query().Get("$skiptoken") == "B" {
			next = s.URL() + "/v1.0/reports/authenticationMethods/userRegistrationDetails?$skiptoken=A"
		}
		fmt.Fprintf(w, `{"value":[],"@odata.nextLink":"%s"}`, next)
		return true
	}})
	c := newTestClient(t, s, graphsim.DefaultClientSecret)
	_, pages, err := drain(context.Background(), c.Pages(schemas.UserRegistrationDetails, ""))
	if !errors.Is(err, ErrBadPage) || pages > 3 {
		t.Fatalf("err = %v after %d pages", err, pages)
	}
}

// A server that stalls mid-body is a transient failure, not a hung run.
func TestStalledResponseTimesOut(t *testing.T) {
	s := newSim(t, graphsim.Options{Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"value":[`)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return true
	}})
	c := newTestClient(t, s, graphsim.DefaultClientSecret)
	c.timeout = 100 * time.Millisecond
	_, err := c.FetchPage(context.Background(), c.ReportURL(schemas.UserRegistrationDetails, ""), false)
	if !errors.Is(err, ErrTransient) {
		t.Fatalf("err = %v, want a transient failure", err)
	}
}

// Retry-After is obeyed: the retry goes out no sooner than Graph asked.
func TestRetryAfterIsWaited(t *testing.T) {
	var first time.Time
	var gap time.Duration
	s := newSim(t, graphsim.Options{Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 1 {
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"code":"TooManyRequests","message":"Please retry again later."}}`)
			return true
		}
		if n == 2 {
			gap = time.Since(first)
		}
		return false
	}})
	c := newTestClient(t, s, graphsim.DefaultClientSecret)
	if _, err := c.Pages(schemas.UserRegistrationDetails, "").Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	if gap < time.Second {
		t.Errorf("retried %v after a 429 with Retry-After: 1", gap)
	}
	if st := c.Stats(); st.Throttled != 1 || st.Retries["throttled"] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestPlainHTTPGraphURLOnlyOnLoopback(t *testing.T) {
	cred := fakeCred{}
	if _, err := NewClient(ClientOptions{GraphURL: "http://graph.example.com", Tenant: "t", Credential: cred}); err == nil ||
		!strings.Contains(err.Error(), "clear text") {
		t.Errorf("plain http to a remote host accepted: %v", err)
	}
	if _, err := NewClient(ClientOptions{GraphURL: "http://127.0.0.1:8080", Tenant: "t", Credential: cred}); err != nil {
		t.Errorf("loopback http refused: %v", err)
	}
}

// fakeCred stands in where no token is ever requested.
type fakeCred struct{}

func (fakeCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("not used")
}

func TestTokenErrorsAreClassified(t *testing.T) {
	authFailed := func(status int) error {
		return &azidentity.AuthenticationFailedError{RawResponse: &http.Response{StatusCode: status}}
	}
	cases := []struct {
		err  error
		want Class
	}{
		{authFailed(401), Permanent},
		{authFailed(400), Permanent},
		{authFailed(503), Transient},
		{authFailed(429), Transient},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, Transient},
		{errors.New("something else"), Permanent},
	}
	for _, c := range cases {
		got := classifyTokenError(c.err)
		if classOf(got) != c.want {
			t.Errorf("classifyTokenError(%v) = %v (class %v), want %v", c.err, got, classOf(got), c.want)
		}
		if c.want == Permanent && !IsCredentialError(got) {
			t.Errorf("%v is not reported as a credential error", got)
		}
	}
}
