package graphsim

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/credreg/credreg/schemas"
)

// report describes one of the two report endpoints.
type report struct {
	endpoint schemas.Endpoint
	// path is the report's URL path, written here from Microsoft's
	// documentation rather than taken from schemas.Endpoint.Path, so a
	// wrong path in the client fails its tests against graphsim.
	path     string
	resource string // resource name used in error messages
	context  string // @odata.context of a page
	premium  bool   // needs Entra ID P1/P2
	fields   map[string]fieldSpec
	record   func(*User) any
	// Properties the injected defects break: the methods collection, a
	// boolean, the timestamp ("" when the report has none).
	methodsName, flagName, timeName string
}

// fieldSpec is a property $filter may name. Exactly one of str, flag, coll is set.
type fieldSpec struct {
	name       string
	str        func(*User) string
	startsWith bool
	flag       func(*User) bool
	coll       func(*User) []string
	enumType   string // the collection's enum type, for Type'value' literals
}

func fieldMap(specs ...fieldSpec) map[string]fieldSpec {
	m := map[string]fieldSpec{}
	for _, f := range specs {
		m[strings.ToLower(f.name)] = f
	}
	return m
}

func flagField(name string, get func(*User) bool) fieldSpec {
	return fieldSpec{name: name, flag: get}
}

var nameFields = []fieldSpec{
	{name: "userPrincipalName", str: func(u *User) string { return u.UserPrincipalName }, startsWith: true},
	{name: "userDisplayName", str: func(u *User) string { return u.UserDisplayName }, startsWith: true},
}

var reports = []*report{
	{
		endpoint: schemas.UserRegistrationDetails,
		path:     "/v1.0/reports/authenticationMethods/userRegistrationDetails",
		resource: "userRegistrationDetails",
		context:  "https://graph.microsoft.com/v1.0/$metadata#reports/authenticationMethods/userRegistrationDetails",
		premium:  true,
		fields: fieldMap(append(nameFields,
			fieldSpec{name: "userType", str: func(u *User) string { return u.UserType }},
			flagField("isAdmin", func(u *User) bool { return u.IsAdmin }),
			flagField("isMfaCapable", func(u *User) bool { return u.IsMfaCapable }),
			flagField("isMfaRegistered", func(u *User) bool { return u.IsMfaRegistered }),
			flagField("isPasswordlessCapable", func(u *User) bool { return u.IsPasswordlessCapable }),
			flagField("isSsprCapable", func(u *User) bool { return u.IsSsprCapable }),
			flagField("isSsprEnabled", func(u *User) bool { return u.IsSsprEnabled }),
			flagField("isSsprRegistered", func(u *User) bool { return u.IsSsprRegistered }),
			flagField("isSystemPreferredAuthenticationMethodEnabled", func(u *User) bool {
				return u.IsSystemPreferredAuthenticationMethodEnabled
			}),
			fieldSpec{name: "methodsRegistered", coll: func(u *User) []string { return u.MethodsRegistered }},
		)...),
		record:      func(u *User) any { return newV1Record(u) },
		methodsName: "methodsRegistered",
		flagName:    "isAdmin",
		timeName:    "lastUpdatedDateTime",
	},
	{
		endpoint: schemas.CredentialUserRegistrationDetails,
		path:     "/beta/reports/credentialUserRegistrationDetails",
		resource: "credentialUserRegistrationDetails",
		context:  "https://graph.microsoft.com/beta/reports/$metadata#Collection(microsoft.graph.credentialUserRegistrationDetails)",
		fields: fieldMap(append(nameFields,
			flagField("isRegistered", func(u *User) bool { return u.IsSsprRegistered }),
			flagField("isEnabled", func(u *User) bool { return u.IsSsprEnabled }),
			flagField("isCapable", func(u *User) bool { return u.IsSsprCapable }),
			flagField("isMfaRegistered", func(u *User) bool { return u.IsMfaRegistered }),
			fieldSpec{name: "authMethods", coll: func(u *User) []string { return u.BetaAuthMethods() },
				enumType: "microsoft.graph.registrationAuthMethod"},
		)...),
		record:      func(u *User) any { return newBetaRecord(u) },
		methodsName: "authMethods",
		flagName:    "isRegistered",
	},
}

// graphTimeLayout is Graph's timestamp: UTC with 7 fractional digits.
const graphTimeLayout = "2006-01-02T15:04:05.0000000Z"

type v1Record struct {
	ID                                            string   `json:"id"`
	UserPrincipalName                             string   `json:"userPrincipalName"`
	UserDisplayName                               string   `json:"userDisplayName"`
	UserType                                      string   `json:"userType"`
	IsAdmin                                       bool     `json:"isAdmin"`
	IsSsprRegistered                              bool     `json:"isSsprRegistered"`
	IsSsprEnabled                                 bool     `json:"isSsprEnabled"`
	IsSsprCapable                                 bool     `json:"isSsprCapable"`
	IsMfaRegistered                               bool     `json:"isMfaRegistered"`
	IsMfaCapable                                  bool     `json:"isMfaCapable"`
	IsPasswordlessCapable                         bool     `json:"isPasswordlessCapable"`
	IsSystemPreferredAuthenticationMethodEnabled  bool     `json:"isSystemPreferredAuthenticationMethodEnabled"`
	LastUpdatedDateTime                           string   `json:"lastUpdatedDateTime"`
	MethodsRegistered                             []string `json:"methodsRegistered"`
	SystemPreferredAuthenticationMethods          []string `json:"systemPreferredAuthenticationMethods"`
	UserPreferredMethodForSecondaryAuthentication string   `json:"userPreferredMethodForSecondaryAuthentication"`
}

func newV1Record(u *User) v1Record {
	return v1Record{
		ID: u.ID, UserPrincipalName: u.UserPrincipalName, UserDisplayName: u.UserDisplayName, UserType: u.UserType,
		IsAdmin: u.IsAdmin, IsSsprRegistered: u.IsSsprRegistered, IsSsprEnabled: u.IsSsprEnabled,
		IsSsprCapable: u.IsSsprCapable, IsMfaRegistered: u.IsMfaRegistered, IsMfaCapable: u.IsMfaCapable,
		IsPasswordlessCapable:                         u.IsPasswordlessCapable,
		IsSystemPreferredAuthenticationMethodEnabled:  u.IsSystemPreferredAuthenticationMethodEnabled,
		LastUpdatedDateTime:                           u.LastUpdatedDateTime.UTC().Format(graphTimeLayout),
		MethodsRegistered:                             nonNil(u.MethodsRegistered),
		SystemPreferredAuthenticationMethods:          nonNil(u.SystemPreferredAuthenticationMethods),
		UserPreferredMethodForSecondaryAuthentication: u.UserPreferredMethodForSecondaryAuthentication,
	}
}

type betaRecord struct {
	ID                string   `json:"id"`
	UserPrincipalName string   `json:"userPrincipalName"`
	UserDisplayName   string   `json:"userDisplayName"`
	AuthMethods       []string `json:"authMethods"`
	IsRegistered      bool     `json:"isRegistered"`
	IsEnabled         bool     `json:"isEnabled"`
	IsCapable         bool     `json:"isCapable"`
	IsMfaRegistered   bool     `json:"isMfaRegistered"`
}

func newBetaRecord(u *User) betaRecord {
	r := betaRecord{ID: u.ID, UserPrincipalName: u.UserPrincipalName, UserDisplayName: u.UserDisplayName,
		AuthMethods: u.BetaAuthMethods()}
	r.IsRegistered, r.IsEnabled, r.IsCapable, r.IsMfaRegistered = u.BetaFlags()
	return r
}

// nonNil makes an empty collection encode as [] (Graph never sends null there).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// pageContentType is what Graph sends with a collection page.
const pageContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// requestKind is what a report request asks for.
type requestKind int

const (
	kindListing   requestKind = iota // a page of the listing
	kindLookup                       // one user by id
	kindAggregate                    // usersRegisteredByFeature or usersRegisteredByMethod
)

// reportHandler serves one report's listing, per-id lookup or aggregates.
// The order of checks is Graph's as far as it is observable: bearer
// token, (Intercept), throttling, license, query. The injected 429 and
// 401 come before the limiter and take no slot. All three kinds are the
// same identity-and-access report requests to Graph's throttling, so
// they share the limits, faults and churn clock.
func (s *Server) reportHandler(rep *report, kind requestKind) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if kind == kindAggregate && !isAggregateFunction(r.PathValue("function")) {
			s.notFound(w, r) // another name under authenticationMethods
			return
		}
		// Graph counts a request when it arrives, not when a busy front
		// end gets round to it.
		arrived := time.Now()
		n := s.requests.Add(1)
		switch kind {
		case kindLookup:
			s.lookups.Add(1)
		case kindAggregate:
			s.aggregates.Add(1)
		}
		s.setRequestIDs(w, r)
		if r.Method != http.MethodGet {
			s.writeGraphError(w, r, http.StatusMethodNotAllowed, "Request_BadRequest",
				"Specified HTTP method is not allowed for the request target; the report supports GET only.")
			return
		}
		t, err := s.bearer(r)
		if err != nil {
			if errors.Is(err, errTokenExpired) || errors.Is(err, errTokenRevoked) {
				s.refusedTokens.Add(1)
			}
			s.writeUnauthorized(w, r, err)
			return
		}
		tick := s.clocks[t.ID].tick(dayNumber(s.opts.Now()))
		target := r.URL.RequestURI()
		s.retryAfter.check(targetKey{t.ID, target}, arrived)
		d := newDraw(s.opts.Seed, t.ID, target, s.occ.next(targetKey{t.ID, target}))
		if s.opts.Intercept != nil && s.opts.Intercept(w, r, int(n)) {
			return
		}
		fault := decideFault(d, s.currentFaults())
		switch fault {
		case faultUnauthorized:
			s.faultCounts[fault].Add(1)
			s.writeUnauthorized(w, r, errTokenExpired)
			return
		case faultThrottle:
			s.faultCounts[fault].Add(1)
			s.writeThrottled(w, r, time.Second)
			s.retryAfter.note(targetKey{t.ID, target}, arrived, w)
			return
		}
		if wait, ok := s.limiter.admit(t.ID, arrived); !ok {
			s.writeThrottled(w, r, wait)
			s.retryAfter.note(targetKey{t.ID, target}, arrived, w)
			return
		}
		if fault == faultUnavailable {
			s.faultCounts[fault].Add(1)
			s.writeUnavailable(w, r, d)
			s.retryAfter.note(targetKey{t.ID, target}, arrived, w)
			return
		}
		if rep.premium && t.NonPremium {
			s.writeGraphError(w, r, http.StatusForbidden, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
				"Tenant is not a B2C tenant and doesn't have premium license")
			return
		}
		var pg servedPage
		switch kind {
		case kindLookup:
			pg, err = s.lookup(r, rep, t, tick)
		case kindAggregate:
			pg, err = s.aggregate(r, t, tick)
		default:
			pg, err = s.page(r, rep, t, tick)
		}
		if err != nil {
			var ge *graphError
			if !errors.As(err, &ge) {
				ge = &graphError{http.StatusInternalServerError, "generalException", err.Error()}
			}
			s.writeGraphError(w, r, ge.status, ge.code, ge.message)
			return
		}
		if kind == kindListing {
			if !sleepCtx(r.Context(), pageLatency(s.opts.Latency, d)) {
				return // nobody left to read the page
			}
			s.pages.Add(1)
			if pg.empty {
				s.emptyPages.Add(1)
			}
			s.defects.Add(int64(pg.defects))
			s.withheld.Add(int64(len(pg.withheld)))
			s.withheldIDs.add(t.ID, pg.withheld)
		}
		w.Header().Set("Content-Type", pageContentType)
		switch fault {
		case faultReset, faultTruncate:
			s.faultCounts[fault].Add(1)
			s.writeBroken(w, fault, d, pg.body)
		default:
			w.Header().Set("Content-Length", strconv.Itoa(len(pg.body)))
			w.Write(pg.body)
		}
	})
}

// bearer returns the tenant the request's access token was issued for.
func (s *Server) bearer(r *http.Request) (*tenantData, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, errTokenMissing
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, errTokenInvalid
	}
	return s.verifyToken(strings.TrimSpace(tok))
}

var errTokenMissing = errors.New("access token missing")

func (s *Server) writeUnauthorized(w http.ResponseWriter, r *http.Request, err error) {
	msg := "Access token validation failed."
	switch err {
	case errTokenMissing:
		msg = "Access token is empty."
	case errTokenExpired, errTokenRevoked:
		msg = "Access token has expired or is not yet valid."
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://`+r.Host+
		`/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
	s.writeGraphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
}

func (s *Server) writeThrottled(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	s.throttled.Add(1)
	secs := max(1, int((wait+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.writeGraphError(w, r, http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.")
}

// graphError is an error response in Graph's shape.
type graphError struct {
	status        int
	code, message string
}

func (e *graphError) Error() string { return e.code + ": " + e.message }

type graphErrorBody struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			Date            string `json:"date"`
			RequestID       string `json:"request-id"`
			ClientRequestID string `json:"client-request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

func (s *Server) setRequestIDs(w http.ResponseWriter, r *http.Request) {
	id := s.nextID()
	w.Header().Set("request-id", id)
	if c := r.Header.Get("client-request-id"); c != "" {
		id = c
	}
	w.Header().Set("client-request-id", id)
}

func (s *Server) writeGraphError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if w.Header().Get("request-id") == "" {
		s.setRequestIDs(w, r)
	}
	var b graphErrorBody
	b.Error.Code, b.Error.Message = code, msg
	b.Error.InnerError.Date = s.opts.Now().UTC().Format("2006-01-02T15:04:05")
	b.Error.InnerError.RequestID = w.Header().Get("request-id")
	b.Error.InnerError.ClientRequestID = w.Header().Get("client-request-id")
	out, _ := json.Marshal(b)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	w.Write(out)
}
