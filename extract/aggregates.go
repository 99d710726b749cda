package extract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/credreg/credreg/schemas"
)

// Graph publishes tenant-wide aggregates of the v1.0 registration report
// (graph-api.md, "Graph's own aggregates"): how many users each feature and
// each method has. They are the one count of the tenant a run did not
// compute itself, so the pipeline compares its snapshot with them.

// AggregateKind names one of Graph's two summaries.
type AggregateKind string

const (
	// UsersRegisteredByFeature counts users per feature (mfaCapable,
	// ssprRegistered, …): userRegistrationFeatureSummary.
	UsersRegisteredByFeature AggregateKind = "usersRegisteredByFeature"
	// UsersRegisteredByMethod counts users per registered method:
	// userRegistrationMethodSummary.
	UsersRegisteredByMethod AggregateKind = "usersRegisteredByMethod"
)

// AggregateKinds are both summaries, in the order a run fetches them.
func AggregateKinds() []AggregateKind {
	return []AggregateKind{UsersRegisteredByFeature, UsersRegisteredByMethod}
}

// aggregatesPath is where both summaries live, beside the v1.0 report.
const aggregatesPath = "/v1.0/reports/authenticationMethods/"

// RawKindAggregate is RawPage.Kind of a landed aggregate.
const RawKindAggregate = "aggregate"

// Aggregate is one summary as Graph sent it, for all users of all roles.
type Aggregate struct {
	Kind       AggregateKind
	URL        string
	Body       []byte // exactly as received
	ReceivedAt time.Time
	Attempts   int
	// TotalUserCount is Graph's count of the tenant's users (blocked
	// accounts excluded, as disabled users are from the report).
	TotalUserCount int64
	// Counts maps each feature or method name to its user count.
	Counts map[string]int64
}

// ErrNoAggregates: the report has no aggregates (the beta report).
var ErrNoAggregates = errors.New("Graph publishes no aggregates of this report")

// FetchAggregate fetches one of Graph's summaries of endpoint for all user
// types and roles, through the same throttle, token, retries and
// classification as a page.
func (c *Client) FetchAggregate(ctx context.Context, endpoint schemas.Endpoint, kind AggregateKind) (Aggregate, error) {
	if endpoint != schemas.UserRegistrationDetails {
		return Aggregate{}, fmt.Errorf("%w: %s", ErrNoAggregates, endpoint)
	}
	link := c.base.String() + aggregatesPath + string(kind) + "(includedUserTypes='all',includedUserRoles='all')"
	var a Aggregate
	attempts, err := c.withRetries(ctx, func(refresh bool) error {
		ans, err := c.exchange(ctx, link, refresh)
		if err != nil {
			return err
		}
		a, err = ParseAggregate(kind, ans.body)
		if err != nil {
			return &PageError{Err: err, Body: ans.body}
		}
		a.URL, a.ReceivedAt = link, ans.received
		return nil
	})
	if err != nil {
		return Aggregate{}, err
	}
	a.Attempts = attempts
	return a, nil
}

// ParseAggregate decodes a summary body: a replay reads the landed one.
// Property names are matched exactly, as Graph spells them (encoding/json
// alone would also take "TotalUserCount").
func ParseAggregate(kind AggregateKind, body []byte) (Aggregate, error) {
	list, name := "userRegistrationMethodCounts", "authenticationMethod"
	switch kind {
	case UsersRegisteredByFeature:
		list, name = "userRegistrationFeatureCounts", "feature"
	case UsersRegisteredByMethod:
	default:
		return Aggregate{}, fmt.Errorf("unknown aggregate %q", kind)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return Aggregate{}, fmt.Errorf("%s: not a summary: %w", kind, err)
	}
	a := Aggregate{Kind: kind, Body: body, Counts: map[string]int64{}}
	if err := json.Unmarshal(doc["totalUserCount"], &a.TotalUserCount); err != nil || string(doc["totalUserCount"]) == "null" {
		return Aggregate{}, fmt.Errorf("%s: the summary has no numeric totalUserCount", kind)
	}
	var entries []map[string]json.RawMessage
	if raw, ok := doc[list]; ok {
		if err := json.Unmarshal(raw, &entries); err != nil {
			return Aggregate{}, fmt.Errorf("%s: %s is not a list of counts: %w", kind, list, err)
		}
	}
	for _, e := range entries {
		var n int64
		var s string
		if err := json.Unmarshal(e["userCount"], &n); err != nil {
			return Aggregate{}, fmt.Errorf("%s: a count of %s has no numeric userCount", kind, list)
		}
		if err := json.Unmarshal(e[name], &s); err != nil {
			return Aggregate{}, fmt.Errorf("%s: a count of %s has no %s", kind, list, name)
		}
		a.Counts[s] += n
	}
	return a, nil
}

// LandAggregate writes a summary under seq, which the run's pages share.
func (z *RawZone) LandAggregate(ctx context.Context, seq int64, a Aggregate) (string, error) {
	return z.land(ctx, fmt.Sprintf("%saggregate-%06d-%s.json.gz", z.prefix, seq, a.Kind), RawPage{Seq: seq,
		Kind: RawKindAggregate, Aggregate: string(a.Kind), URL: a.URL, ReceivedAt: a.ReceivedAt}, a.Body)
}
