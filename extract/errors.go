package extract

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Class says how a failed request may be handled. It is decided once, at the
// HTTP boundary, and travels with the error.
type Class int

const (
	// Permanent failures are not retried: the request or the setup is wrong.
	Permanent Class = iota
	// Throttled: Graph answered 429; wait as told and retry.
	Throttled
	// Transient: 5xx, reset connections, truncated or unparseable bodies,
	// timeouts. Retried from the last good link with backoff.
	Transient
	// Unauthorized: 401. The token is refreshed once and the request retried.
	Unauthorized
)

func (c Class) String() string {
	switch c {
	case Throttled:
		return "throttled"
	case Transient:
		return "transient"
	case Unauthorized:
		return "unauthorized"
	}
	return "permanent"
}

// Sentinels to test errors with errors.Is.
var (
	ErrThrottled    = errors.New("throttled by Graph")
	ErrTransient    = errors.New("transient Graph failure")
	ErrUnauthorized = errors.New("Graph rejected the access token")
	ErrForbidden    = errors.New("Graph denied access")
	ErrNotPremium   = errors.New("the report needs Entra ID P1 or P2")
	ErrBadRequest   = errors.New("Graph rejected the request")
	// ErrNotFound is a 404 on a listing: a wrong Graph URL or endpoint,
	// or a report the cloud does not offer. Like a 400, it will not fix
	// itself. (A lookup's 404 is no error: the user is gone.)
	ErrNotFound      = errors.New("Graph has no such resource")
	ErrBodyTooLarge  = errors.New("response body exceeds the size cap")
	ErrNoLookup      = errors.New("the report offers no lookup by id")
	ErrBadUserID     = errors.New("not a user id (a GUID)")
	ErrForeignHost   = errors.New("next link points to a host other than the configured Graph host")
	ErrBadPage       = errors.New("page is not a valid Graph collection response")
	ErrRetriesExceed = errors.New("retries exhausted")
	ErrCredential    = errors.New("cannot get an access token")
)

// GraphError is a non-success HTTP answer from Graph.
type GraphError struct {
	Status     int
	Code       string // error.code of the body, e.g. TooManyRequests
	Message    string // error.message of the body
	RequestID  string // request-id header, for Microsoft support
	RetryAfter time.Duration
	Class      Class
}

func (e *GraphError) Error() string {
	msg := fmt.Sprintf("graph: HTTP %d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if hint := e.hint(); hint != "" {
		msg += " (" + hint + ")"
	}
	if e.RequestID != "" {
		msg += " [request-id " + e.RequestID + "]"
	}
	return msg
}

// hint tells a person what to do about a permanent failure.
func (e *GraphError) hint() string {
	switch {
	case e.Code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant":
		return "the userRegistrationDetails report needs Entra ID P1 or P2 in this tenant"
	case e.Status == http.StatusForbidden:
		return "grant the app the application permission AuditLog.Read.All (userRegistrationDetails) or Reports.Read.All (credentialUserRegistrationDetails), with admin consent"
	case e.Status == http.StatusUnauthorized:
		return "check AZURE_TENANT_ID, AZURE_CLIENT_ID and the client secret or certificate"
	case e.Status == http.StatusNotFound:
		return "check the Graph base URL (the host, no path) and the report endpoint; a national cloud may not offer this report"
	case e.Status == http.StatusBadRequest:
		return "Graph refuses this query (its $filter or $top); asking again will not change that"
	}
	return ""
}

func (e *GraphError) Unwrap() error {
	switch {
	case e.Class == Throttled:
		return ErrThrottled
	case e.Class == Transient:
		return ErrTransient
	case e.Class == Unauthorized:
		return ErrUnauthorized
	case e.Code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant":
		return ErrNotPremium
	case e.Status == http.StatusForbidden:
		return ErrForbidden
	case e.Status == http.StatusNotFound:
		return ErrNotFound
	}
	return ErrBadRequest
}

// classifyStatus decides the class of an HTTP status once.
func classifyStatus(status int) Class {
	switch status {
	case http.StatusTooManyRequests:
		return Throttled
	case http.StatusUnauthorized:
		return Unauthorized
	case http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return Transient
	}
	return Permanent
}

// TransportError is a request that got no complete answer: a reset
// connection, a timeout, a truncated body. Always transient.
type TransportError struct {
	Op  string // "request" or "read body"
	Err error
}

func (e *TransportError) Error() string { return "graph: " + e.Op + ": " + e.Err.Error() }
func (e *TransportError) Unwrap() []error {
	return []error{ErrTransient, e.Err}
}

// ForeignHostError stops a pager whose next link leaves the Graph host.
type ForeignHostError struct {
	Host, Want string
}

func (e *ForeignHostError) Error() string {
	return fmt.Sprintf("graph: next link points to host %q, not the configured Graph host %q; refusing to send the access token there", e.Host, e.Want)
}
func (e *ForeignHostError) Unwrap() error { return ErrForeignHost }

// PageError is a response body that is not a Graph collection page (not
// JSON, truncated, no value array). It is retried as transient; when Graph
// sends the same bytes again it is Persistent and returned at once, else
// after the retries; either way it wraps ErrBadPage and carries the body
// so the caller can land it for inspection.
type PageError struct {
	Seq        int64 // the page's number in its listing (1-based); 0 for a lookup
	Err        error
	Body       []byte // the last body received; nil when none was read
	Persistent bool   // the same body came twice
}

func (e *PageError) Error() string {
	msg := fmt.Sprintf("graph: page %d is not a report page: %v", e.Seq, e.Err)
	if e.Seq == 0 {
		msg = fmt.Sprintf("graph: the answer is not a report page or record: %v", e.Err)
	}
	if e.Persistent {
		msg += " (the same body twice)"
	}
	return msg
}
func (e *PageError) Unwrap() []error { return []error{ErrBadPage, e.Err} }

// errSalvaged marks a page that is not valid JSON as a whole but whose
// records could be split; it is fetched again before it is accepted.
var errSalvaged = errors.New("body is not valid JSON (records salvaged); fetching it again")

// classOf returns the class of any error this package produces.
func classOf(err error) Class {
	var ge *GraphError
	if errors.As(err, &ge) {
		return ge.Class
	}
	var te *TransportError
	var pe *PageError
	if errors.As(err, &te) {
		return Transient
	}
	if errors.As(err, &pe) && !pe.Persistent {
		return Transient
	}
	return Permanent
}
