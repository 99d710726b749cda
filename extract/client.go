package extract

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/credreg/credreg/schemas"
)

// DefaultGraphURL is Microsoft Graph's global endpoint.
const DefaultGraphURL = "https://graph.microsoft.com"

// DefaultScope is the scope of application permissions on Graph.
const DefaultScope = "https://graph.microsoft.com/.default"

// MaxPageSize is the largest $top Graph accepts for these reports.
const MaxPageSize = 999

// DefaultMaxBodyBytes is the default cap of one response body: dozens of
// times the largest page Graph sends.
const DefaultMaxBodyBytes = 64 << 20

// ClientOptions configure a Client. The zero value of every field but
// Tenant and Credential is a sensible default.
type ClientOptions struct {
	GraphURL   string // default DefaultGraphURL
	Tenant     string
	Credential azcore.TokenCredential
	Scope      string       // default DefaultScope
	HTTPClient *http.Client // default: the default transport with a response header timeout
	// RequestTimeout bounds one request, body included; a request that
	// takes longer is a transient failure and is retried. Default 2 min.
	RequestTimeout time.Duration
	// MaxBodyBytes caps a response body. A full page of 999 records is
	// 1–2 MB; a body past the cap is a transport fault (retried), not a
	// reason to hold gigabytes in memory. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// PageSize is the $top of a listing, 1..MaxPageSize; default
	// MaxPageSize, which costs the fewest requests. Smaller pages are for
	// tests that need many pages of a small tenant.
	PageSize int
	Throttle *Throttle // shared across clients; default: a private one with Graph's limits
	Retry    RetryPolicy
	// Logger gets retry warnings; the caller scopes it (tenant, run).
	// Default: discard.
	Logger *slog.Logger
}

// RetryPolicy bounds retries. Zero values mean defaults.
type RetryPolicy struct {
	MaxAttempts int // per page, including the first; default 10
	// Budget caps the retries of all pages of one client (one tenant's
	// run) together, so a Graph that fails one request in three ends the
	// run in minutes instead of retrying every page ten times for hours.
	// Default 1000.
	Budget    int
	BaseDelay time.Duration // first backoff; default 500 ms, doubled per attempt, full jitter
	MaxDelay  time.Duration // cap of one backoff; default 30 s
	// MaxRetryAfter caps a Retry-After Graph asks for; default 5 min.
	MaxRetryAfter time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 10
	}
	if p.Budget <= 0 {
		p.Budget = 1000
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 500 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 30 * time.Second
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 5 * time.Minute
	}
	return p
}

// Client reads reports of one tenant from one Graph host. Safe for
// concurrent use.
type Client struct {
	base     *url.URL
	tenant   string
	timeout  time.Duration
	maxBody  int64
	cred     azcore.TokenCredential
	scope    string
	http     *http.Client
	pageSize int
	throttle *Throttle
	retry    RetryPolicy
	log      *slog.Logger
	stats    counters
}

// NewClient checks the options and returns a client.
func NewClient(o ClientOptions) (*Client, error) {
	if o.GraphURL == "" {
		o.GraphURL = DefaultGraphURL
	}
	base, err := url.Parse(strings.TrimRight(o.GraphURL, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("invalid Graph URL %q: want https://host[:port]", o.GraphURL)
	}
	if base.Scheme == "http" && !isLoopback(base.Hostname()) {
		return nil, fmt.Errorf("Graph URL %q is plain http: the access token would travel in clear text; use https", o.GraphURL)
	}
	if o.Tenant == "" {
		return nil, fmt.Errorf("%w: no tenant", ErrCredential)
	}
	if o.Credential == nil {
		return nil, fmt.Errorf("%w: no credential", ErrCredential)
	}
	if o.Scope == "" {
		o.Scope = DefaultScope
	}
	if o.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = time.Minute
		o.HTTPClient = &http.Client{Transport: t}
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 2 * time.Minute
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.PageSize <= 0 {
		o.PageSize = MaxPageSize
	}
	if o.PageSize > MaxPageSize {
		return nil, fmt.Errorf("page size %d: Graph accepts at most %d", o.PageSize, MaxPageSize)
	}
	hc := *o.HTTPClient
	// Never follow a redirect with the token to another host.
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !sameHost(req.URL, base) {
			return &ForeignHostError{Host: req.URL.Host, Want: base.Host}
		}
		if len(via) >= 5 {
			return fmt.Errorf("graph: too many redirects")
		}
		return nil
	}
	if o.Throttle == nil {
		o.Throttle = NewThrottle(Limits{})
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{base: base, tenant: o.Tenant, timeout: o.RequestTimeout, maxBody: o.MaxBodyBytes, pageSize: o.PageSize, cred: o.Credential, scope: o.Scope, http: &hc,
		throttle: o.Throttle, retry: o.Retry.withDefaults(), log: o.Logger}, nil
}

// PageSize is the $top of the client's listings.
func (c *Client) PageSize() int { return c.pageSize }

// Host is the Graph host the token is sent to.
func (c *Client) Host() string { return c.base.Host }

// ReportURL is the first page's URL of endpoint: $top (the page size) and,
// when filter is not empty, a $filter.
func (c *Client) ReportURL(endpoint schemas.Endpoint, filter string) string {
	u := c.base.String() + endpoint.Path() + "?$top=" + strconv.Itoa(c.pageSize)
	if filter != "" {
		u += "&$filter=" + strings.ReplaceAll(url.QueryEscape(filter), "+", "%20")
	}
	return u
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sameHost(u, base *url.URL) bool {
	return strings.EqualFold(u.Scheme, base.Scheme) && strings.EqualFold(hostPort(u), hostPort(base))
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "http" {
		return net.JoinHostPort(u.Hostname(), "80")
	}
	return net.JoinHostPort(u.Hostname(), "443")
}

// stripURL drops the URL from a *url.Error: it can be long, and the
// classification already says which request failed.
func stripURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func asForeignHost(err error) *ForeignHostError {
	ue, ok := err.(*url.Error)
	if !ok {
		return nil
	}
	fh, _ := ue.Err.(*ForeignHostError)
	return fh
}
