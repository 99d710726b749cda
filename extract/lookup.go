package extract

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

// Lookup is Graph's answer to a lookup of one user by id.
type Lookup struct {
	URL    string
	UserID string
	Body   []byte // exactly as received: the entity, or the 404 error body
	Status int    // http.StatusOK or http.StatusNotFound
	// Found is false when Graph answered 404 Request_ResourceNotFound: the
	// report does not hold the user (any more).
	Found bool
	// Record is the entity as one record (Index 0, Raw the object's
	// bytes, its @odata.context included) when Found.
	Record     odata.Record
	ReceivedAt time.Time
	Attempts   int // requests it took, 1 when nothing was retried
}

// notFoundCode is the error code of Graph's 404 for an id the report
// does not hold. Any other 404 (a proxy, a wrong URL) is an error: only
// Graph saying so makes a user gone.
const notFoundCode = "Request_ResourceNotFound"

// LookupUser fetches one user's record of endpoint by id, through the same
// throttle, token, retries and classification as a page. A user the report
// does not hold is not an error: Found is false. Only the v1.0 report has a
// lookup; for the beta one LookupUser returns ErrNoLookup without a
// request, as it returns ErrBadUserID for an id that is not a GUID.
func (c *Client) LookupUser(ctx context.Context, endpoint schemas.Endpoint, id string) (Lookup, error) {
	if endpoint != schemas.UserRegistrationDetails {
		return Lookup{}, fmt.Errorf("%w: %s (only %s)", ErrNoLookup, endpoint, schemas.UserRegistrationDetails)
	}
	if !isGUID(id) {
		return Lookup{}, fmt.Errorf("%w: %.64q", ErrBadUserID, id)
	}
	link := c.base.String() + endpoint.Path() + "/" + url.PathEscape(id)
	var l Lookup
	attempts, err := c.withRetries(ctx, func(refresh bool) error {
		var err error
		l, err = c.lookupOnce(ctx, link, refresh)
		return err
	})
	if err != nil {
		return Lookup{}, err
	}
	c.stats.lookups.Add(1)
	l.UserID, l.Attempts = id, attempts
	return l, nil
}

// lookupOnce makes one lookup request.
func (c *Client) lookupOnce(ctx context.Context, link string, refresh bool) (Lookup, error) {
	a, err := c.exchange(ctx, link, refresh)
	var ge *GraphError
	if errors.As(err, &ge) && ge.Status == http.StatusNotFound && ge.Code == notFoundCode {
		// Graph was not throttling: this counts towards a backed-off
		// rate's recovery like any answer.
		c.throttle.Succeeded(c.tenant)
		return Lookup{URL: link, Body: a.body, Status: http.StatusNotFound, ReceivedAt: a.received}, nil
	}
	if err != nil {
		return Lookup{}, err
	}
	rec, err := odata.Entity(a.body)
	if err != nil {
		return Lookup{}, &PageError{Err: err, Body: a.body}
	}
	return Lookup{URL: link, Body: a.body, Status: http.StatusOK, Found: true, Record: rec,
		ReceivedAt: a.received}, nil
}

// isGUID reports whether id has a GUID's shape: 8-4-4-4-12 hex digits.
// Entra user ids are GUIDs; anything else would only make a request Graph
// answers 400 or, worse, one that reaches another path.
func isGUID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := range len(id) {
		switch i {
		case 8, 13, 18, 23:
			if id[i] != '-' {
				return false
			}
		default:
			if !isHexDigit(id[i]) {
				return false
			}
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}
