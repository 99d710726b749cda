package graphsim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultTenantID is the tenant served when Options.Tenants is empty.
	DefaultTenantID = "0b1e7a7e-5c1d-4c0e-9d7b-2f1a6a1c0de1"
	// DefaultClientID is the application (client) id accepted by default.
	DefaultClientID = "c4ed7e61-9a1b-4c2d-8e3f-5a6b7c8d9e0f"
	// DefaultClientSecret is the client secret accepted by default. It is
	// public on purpose: graphsim guards nothing.
	DefaultClientSecret = "credreg-demo-secret"
)

// TenantID is the i-th tenant id of a simulated fleet: DefaultTenantID
// for 0, then the same id with its last digits replaced, so every run of
// a demo or benchmark uses the same ids.
func TenantID(i int) string {
	if i == 0 {
		return DefaultTenantID
	}
	return fmt.Sprintf("%s%06x", DefaultTenantID[:len(DefaultTenantID)-6], i)
}

// Options configure a Server. The zero value serves one tenant of 5000 users
// with Graph's documented limits and no faults.
type Options struct {
	Addr         string   // listen address; default "127.0.0.1:0"
	Seed         int64    // default 1; all data and probabilistic faults derive from it
	Tenants      []Tenant // default: one tenant {ID: DefaultTenantID, Users: 5000}
	ClientID     string   // accepted client id; default DefaultClientID
	ClientSecret string   // accepted secret; default DefaultClientSecret
	// Now is the simulator's clock. The data served is the tenant's state on
	// the UTC calendar day of Now(); access tokens expire by it too.
	// Throttling windows use the real clock, as clients wait in real time.
	// Default time.Now.
	//
	// A test may pass a clock it moves (Clock.Now) to let access tokens
	// expire mid-run; moving it across UTC midnight also changes the data
	// day (a listing keeps the day it started on), so start such a clock
	// well inside a day, e.g. at noon, and move it by minutes.
	Now func() time.Time
	// TokenLifetime is the access tokens' lifetime, sent as expires_in
	// (seconds). Default 1h. Note that MSAL treats expires_in under 300 s as
	// already expired and fetches a new token for every request.
	TokenLifetime time.Duration
	Limits        Limits
	// EmptyPageEvery: every Nth page of a listing is served with zero
	// records (still carrying the next link). Default 4; negative disables;
	// 1 is treated as 2 so a listing always progresses.
	EmptyPageEvery int
	Faults         Faults
	// Latency is how long each report page takes to build: real Graph
	// takes 1–5 s for a page of these reports. Every page served with 200
	// (also one a Reset or Truncate fault breaks) waits Latency ±20 %,
	// drawn like the faults, before its body is written; errors and 429s
	// answer at once. The limits count the request when it arrives, before
	// the wait. A client that goes away ends the wait. Default 0.
	Latency time.Duration
	// Intercept, when set, is called for every report request (not
	// token/openid requests) after the bearer check and before throttling;
	// if it returns true it has written the response itself and graphsim
	// does nothing more. n is the 1-based count of report requests so far,
	// including this one and those rejected by the bearer check. It is
	// called from the server's goroutines, concurrently for concurrent requests.
	Intercept func(w http.ResponseWriter, r *http.Request, n int) bool
	// Churn makes every tenant's day change while it is read (see Churn).
	// Default: no change, a listing is one frozen snapshot.
	Churn Churn
	// AggregateLag makes Graph's aggregates (usersRegisteredByFeature,
	// usersRegisteredByMethod) count the users as they were this many
	// churn ticks (the tenant's report requests, see Server.Tick) before
	// the aggregate request's own tick, as an aggregate Microsoft
	// recomputes now and then lags the per-user report. It never reaches
	// back past the start of the day served: a lag larger than the day's
	// ticks so far gives the day's state before its first change. 0 (or
	// negative) counts the users as of the request; without Churn the
	// data does not change within a day and the lag changes nothing.
	AggregateLag int
	// AggregatesDelegatedOnly answers both aggregates 403, as Microsoft
	// documents them for delegated permissions only ("Application: Not
	// supported"): graphsim's tokens are all app tokens, so a client sees
	// what an app sees from real Graph. Off by default, which simplifies:
	// graphsim serves the aggregates to app tokens, so the check can be
	// exercised at all.
	AggregatesDelegatedOnly bool
	// CertHosts are extra DNS names or IP addresses for the server
	// certificate, for clients that reach the simulator by another name.
	CertHosts []string
	Logger    *slog.Logger // default: discard
}

// Tenant is one simulated directory.
type Tenant struct {
	ID string // a GUID string
	// Users is the population on 2024-01-01 (the anchor). After it, 5
	// users per 10,000 of Users join a day and 2 in 10,000 of the present
	// users leave (5000 users on 2024-01-01 are about 6500 three years
	// later). In the 400 days before it the tenant already changes (users
	// join and leave, so it has fewer users than Users then); before
	// those its population is flat.
	Users int
	// UsersOn, when set, moves that anchor: Users is the population on
	// this day. The demo sets it to the snapshot day so the tenant it
	// serves has exactly the users asked for. For a history of several
	// days, keep one Server (and one anchor) and move Options.Now: a new
	// anchor each day would serve the same Users users every day.
	UsersOn time.Time
	// NonPremium tenants have no Entra ID P1/P2: the v1.0 report answers 403
	// Authentication_RequestFromNonPremiumTenantOrB2CTenant.
	NonPremium bool
	// Defects are bad records served among the users, for testing what a
	// client does with records that break the data contract (see Defect).
	Defects []Defect
	// Withhold leaves user records out of pages of the v1.0 listing,
	// silently (see Withhold).
	Withhold []Withhold
}

// Limits are the report throttling limits, counted in sliding windows.
type Limits struct {
	PerTenant       int           // default 5
	PerTenantWindow time.Duration // default 10s
	App             int           // default 122 (all tenants, same client id)
	AppWindow       time.Duration // default 10s
	Disabled        bool          // no throttling at all
}

// Faults are probabilities (0..1) per report request. Whether a request
// faults, and how, is a deterministic function of Seed, the tenant, the
// request target as sent (path and query, r.URL.RequestURI()) and how
// many times the tenant requested that target before, counting every
// request past the bearer check: the same requests fault the same way in
// any order, and a retry draws afresh. Each is clamped to [0, 1]; if they
// sum to more than 1, fields earlier in the struct win.
type Faults struct {
	Throttle     float64 // extra 429 with Retry-After: 1
	Unavailable  float64 // 503 with a Graph error body (sometimes with Retry-After)
	Reset        float64 // headers and part of the body, then the TCP connection is reset
	Truncate     float64 // a Content-Length larger than the bytes written, then close
	Unauthorized float64 // 401 InvalidAuthenticationToken although the token is valid
}

// Stats are the server's counters since New.
type Stats struct {
	Requests      int64 // report requests, whatever their outcome
	TokenRequests int64 // token endpoint requests, whatever their outcome
	Throttled     int64 // 429 responses, from the limits and from the Throttle fault
	Faults        FaultCounts
	Pages         int64 // report pages served with 200, empty ones included
	EmptyPages    int64 // pages served empty on purpose (EmptyPageEvery)
	Defects       int64 // injected bad records (Tenant.Defects) in the pages counted by Pages
	Lookups       int64 // per-id lookup requests, whatever their outcome (also counted in Requests)
	Aggregates    int64 // aggregate requests (usersRegisteredBy…), whatever their outcome (also counted in Requests)
	// Withheld counts the user records Tenant.Withhold left out of the
	// pages counted by Pages (a page served twice counts twice).
	Withheld int64
	// RefusedTokens counts report requests refused with 401 for a token
	// that expired (by Options.Now) or that RevokeTokens revoked. The
	// Unauthorized fault is counted in Faults instead.
	RefusedTokens int64
	// EarlyRetries counts requests for a target (path and query) that came
	// again before the Retry-After of its last 429 or 503 had passed: a
	// client that does not honour Retry-After. Real Graph throttles them.
	EarlyRetries int64
}

// FaultCounts counts injected faults by kind.
type FaultCounts struct {
	Throttle, Unavailable, Reset, Truncate, Unauthorized int64
}

// Server is a simulated Entra tenant set: an authority host and a Graph host
// in one HTTPS server.
type Server struct {
	opts      Options
	tenants   map[string]*tenantData  // by lower-case ID
	clocks    map[string]*tenantClock // churn clocks, by lower-case ID
	ca        *x509.Certificate
	srv       *http.Server
	ln        net.Listener
	url       string
	transport *http.Transport
	tokenKey  []byte // per server, random
	pageKey   []byte // from Seed, so pages are byte-identical across servers
	days      *dayCache
	limiter   *limiter
	occ       occurrences

	faultsMu sync.Mutex
	faults   Faults

	requests, tokenRequests, throttled, pages, emptyPages, defects atomic.Int64
	lookups, refusedTokens, aggregates, withheld                   atomic.Int64
	withheldIDs                                                    withheldLog
	retryAfter                                                     retryAfterLog
	faultCounts                                                    [numFaultKinds]atomic.Int64
	seq                                                            atomic.Uint64 // request ids and token nonces
	// revocations counts RevokeTokens calls; a token carries the count at
	// its issue and is refused once it is lower.
	revocations atomic.Int64
	serveDone   chan struct{}
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// New starts a server listening on opts.Addr and serving HTTPS with a freshly
// generated CA. Close it when done.
func New(opts Options) (*Server, error) {
	opts, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:      opts,
		tenants:   map[string]*tenantData{},
		clocks:    map[string]*tenantClock{},
		tokenKey:  make([]byte, 32),
		days:      newDayCache(),
		limiter:   newLimiter(opts.Limits),
		faults:    opts.Faults,
		serveDone: make(chan struct{}),
	}
	rand.Read(s.tokenKey)
	pk := sha256.Sum256([]byte("graphsim page token " + strconv.FormatInt(opts.Seed, 10)))
	s.pageKey = pk[:]
	for _, t := range opts.Tenants {
		s.tenants[t.ID] = newTenantData(opts.Seed, t)
		s.clocks[t.ID] = &tenantClock{}
	}

	tlsCfg, ca, err := newTLSConfig(opts.CertHosts)
	if err != nil {
		return nil, err
	}
	s.ca = ca
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("graphsim: listen on %s: %w", opts.Addr, err)
	}
	s.ln = ln
	s.url = "https://" + urlHost(ln.Addr())

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	s.transport = http.DefaultTransport.(*http.Transport).Clone()
	s.transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		Protocols:         protocols,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.serveDone)
		err := s.srv.Serve(tls.NewListener(ln, tlsCfg))
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("graphsim: serve", "err", err)
		}
	}()
	opts.Logger.Info("graphsim: serving", "url", s.url, "tenants", len(opts.Tenants))
	return s, nil
}

func withDefaults(o Options) (Options, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if len(o.Tenants) == 0 {
		o.Tenants = []Tenant{{ID: DefaultTenantID, Users: 5000}}
	}
	o.Tenants = slices.Clone(o.Tenants)
	seen := map[string]bool{}
	for i, t := range o.Tenants {
		if !guidPattern.MatchString(t.ID) {
			return o, fmt.Errorf("graphsim: tenant %d: id %q is not a GUID", i, t.ID)
		}
		if t.Users < 0 {
			return o, fmt.Errorf("graphsim: tenant %s: negative user count %d", t.ID, t.Users)
		}
		o.Tenants[i].ID = strings.ToLower(t.ID)
		if seen[o.Tenants[i].ID] {
			return o, fmt.Errorf("graphsim: tenant %s listed twice", t.ID)
		}
		seen[o.Tenants[i].ID] = true
		if err := checkDefects(t); err != nil {
			return o, err
		}
		if err := checkWithhold(t); err != nil {
			return o, err
		}
		o.Tenants[i].Defects = slices.Clone(t.Defects)
		o.Tenants[i].Withhold = slices.Clone(t.Withhold)
	}
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = time.Hour
	}
	switch {
	case o.EmptyPageEvery == 0:
		o.EmptyPageEvery = 4
	case o.EmptyPageEvery == 1:
		o.EmptyPageEvery = 2
	}
	o.Latency = max(o.Latency, 0)
	o.AggregateLag = max(o.AggregateLag, 0)
	if o.Churn.enabled() {
		o.Churn = o.Churn.withDefaults()
	} else {
		o.Churn = Churn{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o, nil
}

// urlHost is the host:port clients should use: the listen address, with a
// wildcard address replaced by the loopback the certificate covers.
func urlHost(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// URL is the server's base URL, "https://127.0.0.1:PORT" without a trailing
// slash. It is both the Graph base URL and the authority host.
func (s *Server) URL() string { return s.url }

// CACertPEM is the PEM encoding of the CA that signed the server certificate.
func (s *Server) CACertPEM() []byte { return certPEM(s.ca) }

// Client returns an HTTP client that trusts only this server's CA.
func (s *Server) Client() *http.Client { return &http.Client{Transport: s.transport} }

// Tenants lists the simulated tenants, IDs in lower case.
func (s *Server) Tenants() []Tenant {
	out := slices.Clone(s.opts.Tenants)
	for i := range out {
		out[i].Defects = slices.Clone(out[i].Defects)
		out[i].Withhold = slices.Clone(out[i].Withhold)
	}
	return out
}

// Close stops the server, closing every connection.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.serveDone
	s.transport.CloseIdleConnections()
	return err
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests:      s.requests.Load(),
		TokenRequests: s.tokenRequests.Load(),
		Throttled:     s.throttled.Load(),
		Pages:         s.pages.Load(),
		EmptyPages:    s.emptyPages.Load(),
		Defects:       s.defects.Load(),
		Lookups:       s.lookups.Load(),
		Aggregates:    s.aggregates.Load(),
		Withheld:      s.withheld.Load(),
		RefusedTokens: s.refusedTokens.Load(),
		EarlyRetries:  s.retryAfter.early.Load(),
		Faults: FaultCounts{
			Throttle:     s.faultCounts[faultThrottle].Load(),
			Unavailable:  s.faultCounts[faultUnavailable].Load(),
			Reset:        s.faultCounts[faultReset].Load(),
			Truncate:     s.faultCounts[faultTruncate].Load(),
			Unauthorized: s.faultCounts[faultUnauthorized].Load(),
		},
	}
}

// SetFaults replaces the fault probabilities; safe to call while serving.
func (s *Server) SetFaults(f Faults) {
	s.faultsMu.Lock()
	s.faults = f
	s.faultsMu.Unlock()
}

func (s *Server) currentFaults() Faults {
	s.faultsMu.Lock()
	defer s.faultsMu.Unlock()
	return s.faults
}

// Users returns the ground truth: the tenant's users on the UTC day of day,
// sorted by ID, or nil for an unknown tenant. The result is the caller's.
func (s *Server) Users(tenant string, day time.Time) []User {
	t := s.tenants[strings.ToLower(tenant)]
	if t == nil {
		return nil
	}
	shared := s.days.users(t, dayNumber(day))
	out := make([]User, len(shared))
	for i, u := range shared {
		u.MethodsRegistered = slices.Clone(u.MethodsRegistered)
		u.SystemPreferredAuthenticationMethods = slices.Clone(u.SystemPreferredAuthenticationMethods)
		out[i] = u
	}
	return out
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{tenant}/v2.0/.well-known/openid-configuration", s.handleOpenID)
	mux.HandleFunc("/{tenant}/discovery/v2.0/keys", s.handleKeys)
	mux.HandleFunc("/{tenant}/oauth2/v2.0/token", s.handleToken)
	for _, rep := range reports {
		mux.Handle(rep.path, s.reportHandler(rep, kindListing))
	}
	// Only the v1.0 report has a per-id lookup and aggregates; the beta
	// report's {id} paths fall through to the 404 below.
	mux.Handle(reports[0].path+"/{id}", s.reportHandler(reports[0], kindLookup))
	mux.Handle(aggregatesPath+"{function}", s.reportHandler(reports[0], kindAggregate))
	mux.HandleFunc("/", s.notFound)
	return s.logRequests(mux)
}

// notFound answers a path graphsim does not serve.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeGraphError(w, r, http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist. graphsim serves %s and %s.",
			r.URL.Path, reports[0].path, reports[1].path))
}

// Withheld returns the ids of the users whose records Tenant.Withhold has
// left out of a page served so far, sorted; nil for none or an unknown tenant.
func (s *Server) Withheld(tenant string) []string {
	return s.withheldIDs.list(strings.ToLower(tenant))
}

// logRequests logs method, path and status of every request at debug level.
// Query strings are logged (they hold no secrets); headers and bodies never.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r)
		s.opts.Logger.Debug("graphsim: request", "method", r.Method, "path", r.URL.Path,
			"query", r.URL.RawQuery, "status", rec.status, "duration", time.Since(start))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Hijack and Flush.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// nextID returns a GUID unique within this server and deterministic per Seed.
func (s *Server) nextID() string {
	n := s.seq.Add(1)
	return guid(hash3(uint64(s.opts.Seed), n, 0x1d), hash3(uint64(s.opts.Seed), n, 0x1e))
}
