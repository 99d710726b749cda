package extract

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

// DefaultGraphURL is Microsoft Graph's global endpoint.
const DefaultGraphURL = "https://graph.microsoft.com"

// DefaultScope is the scope of application permissions on Graph.
const DefaultScope = "https://graph.microsoft.com/.default"

// MaxPageSize is the largest $top Graph accepts for these reports.
const MaxPageSize = 999

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
	Throttle       *Throttle // shared across clients; default: a private one with Graph's limits
	Retry          RetryPolicy
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
	cred     azcore.TokenCredential
	scope    string
	http     *http.Client
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
	return &Client{base: base, tenant: o.Tenant, timeout: o.RequestTimeout, cred: o.Credential, scope: o.Scope, http: &hc,
		throttle: o.Throttle, retry: o.Retry.withDefaults(), log: o.Logger}, nil
}

// Host is the Graph host the token is sent to.
func (c *Client) Host() string { return c.base.Host }

// ReportURL is the first page's URL of endpoint: $top=999 and, when filter
// is not empty, a $filter.
func (c *Client) ReportURL(endpoint schemas.Endpoint, filter string) string {
	u := c.base.String() + endpoint.Path() + "?$top=" + strconv.Itoa(MaxPageSize)
	if filter != "" {
		u += "&$filter=" + strings.ReplaceAll(url.QueryEscape(filter), "+", "%20")
	}
	return u
}

// Page is one response of a report listing.
type Page struct {
	URL        string // the link it was fetched from
	Body       []byte // exactly as received
	NextLink   string // "" on the last page
	Records    []odata.Record
	Salvaged   bool // the body was not valid JSON; some records carry Err
	ReceivedAt time.Time
	Attempts   int // requests it took, 1 when nothing was retried
}

// FetchPage makes one request for link, without retrying. The error's
// class (see Class) says whether a retry may help; a 401 is returned as
// Unauthorized after the caller's token was refused.
func (c *Client) FetchPage(ctx context.Context, link string, refreshToken bool) (Page, error) {
	u, err := url.Parse(link)
	if err != nil {
		return Page{}, fmt.Errorf("%w: bad next link: %v", ErrBadRequest, err)
	}
	if !sameHost(u, c.base) {
		return Page{}, &ForeignHostError{Host: u.Host, Want: c.base.Host}
	}
	// The token is asked for after the wait, which can be long (a
	// Retry-After, a backed-off rate): a token taken before could expire
	// in between. A slow token fetch does not spend the slot early:
	// Slot.Sent moves it to when the request is written.
	slot, waited, err := c.throttle.Wait(ctx, c.tenant)
	c.stats.throttleWait.Add(int64(waited))
	if err != nil {
		return Page{}, err
	}
	tro := policy.TokenRequestOptions{Scopes: []string{c.scope}}
	if refreshToken {
		tro.Claims = tokenClaimsRefresh(time.Now().Unix())
		c.stats.tokenRefreshes.Add(1)
	}
	tok, err := c.cred.GetToken(ctx, tro)
	if err != nil {
		if ctx.Err() != nil {
			return Page{}, ctx.Err()
		}
		return Page{}, classifyTokenError(err)
	}
	// The timeout covers the whole exchange, body included: a server that
	// stalls mid-body must not hang a nightly run.
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { slot.Sent(time.Now()) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(rctx, trace), http.MethodGet, link, nil)
	if err != nil {
		return Page{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "credreg")
	c.stats.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Page{}, ctx.Err()
		}
		if fh := asForeignHost(err); fh != nil {
			return Page{}, fh
		}
		return Page{}, &TransportError{Op: "request", Err: stripURL(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		if ctx.Err() != nil {
			return Page{}, ctx.Err()
		}
		return Page{}, &TransportError{Op: "read body", Err: stripURL(err)}
	}
	received := time.Now().UTC()
	if resp.StatusCode != http.StatusOK {
		ge := graphError(resp, body)
		if ge.Class == Throttled {
			c.stats.throttled.Add(1)
		}
		return Page{}, ge
	}
	c.throttle.Succeeded(c.tenant)
	p, err := odata.Split(body)
	if err != nil {
		return Page{}, &PageError{Err: err, Body: body}
	}
	return Page{URL: link, Body: body, NextLink: p.NextLink, Records: p.Records, Salvaged: p.Salvaged,
		ReceivedAt: received, Attempts: 1}, nil
}

// fetch fetches link, retrying throttled and transient failures with
// backoff and a 401 once with a fresh token. Retry-After pauses the whole
// tenant in the shared throttle.
func (c *Client) fetch(ctx context.Context, link string) (Page, error) {
	refresh := false
	refreshed := false
	var salvaged [sha256.Size]byte // body of the last salvaged answer
	var garbage [sha256.Size]byte  // body of the last answer that was no page at all
	var last error
	for attempt := 1; attempt <= c.retry.MaxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return Page{}, err
		}
		p, err := c.FetchPage(ctx, link, refresh)
		if err == nil && p.Salvaged {
			// A page that is not valid JSON may have been damaged on the
			// way: ask again. The same bytes twice are what Graph sends,
			// so the good records load and the bad ones are quarantined.
			sum := sha256.Sum256(p.Body)
			if sum != salvaged {
				salvaged = sum
				err = &PageError{Err: errSalvaged}
			}
		}
		if err == nil {
			p.Attempts = attempt
			return p, nil
		}
		if ctx.Err() != nil {
			return Page{}, ctx.Err()
		}
		var pe *PageError
		if errors.As(err, &pe) && pe.Body != nil && !errors.Is(err, errSalvaged) {
			// Damage on the way rarely repeats byte for byte; the same
			// garbage twice is what Graph serves, and asking again will
			// not change it.
			sum := sha256.Sum256(pe.Body)
			if sum == garbage {
				pe.Persistent = true
				return Page{}, pe
			}
			garbage = sum
		}
		last = err
		refresh = false
		class := classOf(err)
		switch class {
		case Permanent:
			return Page{}, err
		case Unauthorized:
			if refreshed {
				return Page{}, err
			}
			refresh, refreshed = true, true
			c.stats.retried.Add(1)
			c.stats.retries[Unauthorized].Add(1)
			c.log.Info("graph refused the token; fetching a fresh one")
			continue
		}
		if n := c.stats.retried.Add(1); n > int64(c.retry.Budget) {
			return Page{}, fmt.Errorf("%w: the retry budget of %d retries for this tenant is spent (%s); last error: %w",
				ErrRetriesExceed, c.retry.Budget, c.retrySummary(), err)
		}
		c.stats.retries[class].Add(1)
		delay := c.backoff(attempt)
		var ge *GraphError
		if errors.As(err, &ge) && ge.RetryAfter > 0 {
			delay = min(ge.RetryAfter, c.retry.MaxRetryAfter)
		}
		if class == Throttled || (ge != nil && ge.RetryAfter > 0) {
			// The throttle holds every request of the tenant (every
			// shard), this one included: as long as Graph said, or the
			// backoff when a 429 did not say. Only a 429 slows the rate.
			c.throttle.Pause(c.tenant, delay, class == Throttled)
			c.log.Warn("graph asked to wait; retrying", "class", class.String(), "attempt", attempt,
				"wait", delay.Round(time.Millisecond), "err", err)
			continue
		}
		c.log.Warn("retrying graph request", "class", class.String(),
			"attempt", attempt, "backoff", delay.Round(time.Millisecond), "err", err)
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return Page{}, ctx.Err()
			case <-t.C:
			}
		}
	}
	return Page{}, fmt.Errorf("%w after %d attempts: %w", ErrRetriesExceed, c.retry.MaxAttempts, last)
}

// backoff is full-jitter exponential backoff for attempt (1-based).
func (c *Client) backoff(attempt int) time.Duration {
	d := c.retry.BaseDelay << min(attempt-1, 20)
	if d <= 0 || d > c.retry.MaxDelay {
		d = c.retry.MaxDelay
	}
	return d/2 + rand.N(d/2+1)
}

func graphError(resp *http.Response, body []byte) *GraphError {
	ge := &GraphError{Status: resp.StatusCode, Class: classifyStatus(resp.StatusCode),
		RequestID: resp.Header.Get("request-id")}
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil {
		ge.Code, ge.Message = env.Error.Code, env.Error.Message
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && s >= 0 {
			ge.RetryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			ge.RetryAfter = max(time.Until(t), 0)
		}
	}
	return ge
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

// counters are the client's request statistics.
type counters struct {
	requests       atomic.Int64
	throttled      atomic.Int64
	tokenRefreshes atomic.Int64
	throttleWait   atomic.Int64 // nanoseconds
	retries        [4]atomic.Int64
	retried        atomic.Int64 // all classes, against RetryPolicy.Budget
}

// retrySummary says what the retries were spent on.
func (c *Client) retrySummary() string {
	return fmt.Sprintf("%d throttled, %d transient, %d unauthorized",
		c.stats.retries[Throttled].Load(), c.stats.retries[Transient].Load(), c.stats.retries[Unauthorized].Load())
}

// Stats are a client's request counters.
type Stats struct {
	Requests       int64            `json:"requests"`
	Throttled      int64            `json:"throttled_429"`
	Retries        map[string]int64 `json:"retries_by_class"`
	TokenRefreshes int64            `json:"token_refreshes"`
	ThrottleWait   time.Duration    `json:"throttle_wait_ns"`
}

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	s := Stats{Requests: c.stats.requests.Load(), Throttled: c.stats.throttled.Load(),
		TokenRefreshes: c.stats.tokenRefreshes.Load(), ThrottleWait: time.Duration(c.stats.throttleWait.Load()),
		Retries: map[string]int64{}}
	for _, cl := range []Class{Throttled, Transient, Unauthorized} {
		s.Retries[cl.String()] = c.stats.retries[cl].Load()
	}
	return s
}
