package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/schemas"
	"github.com/credreg/credreg/transform"
)

// After a v1.0 listing the run fetches Graph's own aggregates of the
// report (usersRegisteredByFeature and usersRegisteredByMethod, for all
// user types and roles) and compares them with what it landed: the only
// count of the tenant it did not compute itself. The aggregates are
// recomputed on Microsoft's schedule, not with the per-user report, so a
// small difference is expected; past the allowed drift the run warns, or,
// when strict, refuses to publish. A failed or refused aggregate request is
// never a failure: the manifest says why the check could not be made.

// DefaultMaxAggregateDrift is the largest difference, as a share of Graph's
// user count, that passes without a warning: 0.5 %. Microsoft recomputes
// its aggregates on its own schedule, and in a day a tenant's
// registrations move by a few tenths of a percent; a lost page of 999
// users in a tenant of 100,000 is 1 %.
const DefaultMaxAggregateDrift = 0.005

// ErrAggregateDrift: the snapshot differs from Graph's own counts by more
// than the allowed drift, and the check is strict.
var ErrAggregateDrift = errors.New("the snapshot differs from Graph's own counts by more than the allowed drift; nothing was published")

// featureColumn maps the features of usersRegisteredByFeature to the
// users column that counts the same thing.
func featureColumn(feature string) (string, bool) {
	switch feature {
	case "mfaCapable":
		return "is_mfa_capable", true
	case "ssprRegistered":
		return "is_sspr_registered", true
	case "ssprEnabled":
		return "is_sspr_enabled", true
	case "ssprCapable":
		return "is_sspr_capable", true
	case "passwordlessCapable":
		return "is_passwordless_capable", true
	}
	return "", false
}

// AggregateCount is one of Graph's counts beside ours.
type AggregateCount struct {
	Name string `json:"name"` // Graph's feature or method
	// Counted is what we count: a users column, or the auth_method value.
	Counted string `json:"counted"`
	Graph   int64  `json:"graph"`
	Ours    int64  `json:"ours"`
	Diff    int64  `json:"diff"` // ours − Graph's
}

// GraphAggregates is the manifest's comparison with Graph's aggregates.
type GraphAggregates struct {
	// Available is false when the check could not be made; Reason says why.
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"`
	// GraphUsers is Graph's totalUserCount; OurUsers the users landed.
	GraphUsers int64            `json:"graph_total_users"`
	OurUsers   int64            `json:"our_users"`
	UsersDiff  int64            `json:"users_diff"`
	Features   []AggregateCount `json:"features"`
	Methods    []AggregateCount `json:"methods"`
	// Unmapped are Graph's features with no column of ours; NotInGraph
	// are methods we landed that Graph's summary does not list.
	Unmapped   []string `json:"unmapped,omitempty"`
	NotInGraph []string `json:"not_in_graph,omitempty"`
	// Drift is the largest difference as a share of Graph's users.
	Drift         float64 `json:"drift"`
	MaxDrift      float64 `json:"max_drift"`
	OverTolerance bool    `json:"over_tolerance"`
}

// fetchAggregates asks Graph for both summaries and lands them in the raw
// zone. A summary that cannot be had is reported in the result, not as an
// error; only a cancelled context or a raw zone that cannot be written
// fail the run.
func (r *tenantRun) fetchAggregates(ctx context.Context) ([]extract.Aggregate, string, error) {
	if r.o.Endpoint != schemas.UserRegistrationDetails {
		return nil, fmt.Sprintf("%s has no aggregates (Graph publishes them for %s only)", r.o.Endpoint, schemas.UserRegistrationDetails), nil
	}
	var out []extract.Aggregate
	for _, kind := range extract.AggregateKinds() {
		a, err := r.client.FetchAggregate(ctx, r.o.Endpoint, kind)
		if err != nil {
			if ctx.Err() != nil {
				return nil, "", ctx.Err()
			}
			why := fmt.Sprintf("%s: %v", kind, err)
			var ge *extract.GraphError
			if errors.As(err, &ge) && ge.Status == http.StatusForbidden {
				why += " (Microsoft documents these aggregates for delegated access only; an app's token may be refused)"
			}
			r.log.Warn("could not fetch Graph's aggregates; the snapshot is not compared with them", "err", err)
			return nil, why, nil
		}
		if _, err := r.raw.LandAggregate(ctx, r.seq.Add(1), a); err != nil {
			return nil, "", err
		}
		out = append(out, a)
	}
	return out, "", nil
}

// compareAggregates compares Graph's summaries with a transformer's counts.
func compareAggregates(aggs []extract.Aggregate, why string, cs transform.Stats, maxDrift float64) GraphAggregates {
	g := GraphAggregates{OurUsers: cs.Users, MaxDrift: maxDrift, Features: []AggregateCount{}, Methods: []AggregateCount{}}
	if len(aggs) == 0 {
		g.Reason = why
		if g.Reason == "" {
			g.Reason = "no aggregates were fetched"
		}
		return g
	}
	g.Available = true
	g.GraphUsers = aggs[0].TotalUserCount
	g.UsersDiff = cs.Users - g.GraphUsers
	worst := abs(g.UsersDiff)
	for _, a := range aggs {
		if a.TotalUserCount != g.GraphUsers {
			// The two summaries were computed at different times; compare
			// each with its own total.
			worst = max(worst, abs(cs.Users-a.TotalUserCount))
		}
		for _, name := range slices.Sorted(maps.Keys(a.Counts)) {
			var c AggregateCount
			switch a.Kind {
			case extract.UsersRegisteredByFeature:
				col, ok := featureColumn(name)
				if !ok {
					g.Unmapped = append(g.Unmapped, name)
					continue
				}
				c = AggregateCount{Name: name, Counted: col, Graph: a.Counts[name], Ours: cs.TrueFlags[col]}
				c.Diff = c.Ours - c.Graph
				g.Features = append(g.Features, c)
			case extract.UsersRegisteredByMethod:
				c = AggregateCount{Name: name, Counted: "auth_method = " + name, Graph: a.Counts[name], Ours: cs.MethodUsers[name]}
				c.Diff = c.Ours - c.Graph
				g.Methods = append(g.Methods, c)
			}
			worst = max(worst, abs(c.Diff))
		}
		if a.Kind == extract.UsersRegisteredByMethod {
			for _, m := range slices.Sorted(maps.Keys(cs.MethodUsers)) {
				if _, ok := a.Counts[m]; !ok {
					g.NotInGraph = append(g.NotInGraph, m)
				}
			}
		}
	}
	g.Drift = math.Round(float64(worst)/float64(max(g.GraphUsers, 1))*1e6) / 1e6
	g.OverTolerance = float64(worst) > maxDrift*float64(max(g.GraphUsers, 1))
	return g
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// judgeAggregates warns about a snapshot that differs from Graph's counts
// past the allowed drift, or, when strict, refuses it.
func (r *tenantRun) judgeAggregates() error {
	g := r.aggs
	if !g.Available || !g.OverTolerance {
		return nil
	}
	if r.o.StrictAggregates {
		return fmt.Errorf("%w: %s", ErrAggregateDrift, g.Summary())
	}
	r.log.Warn("the snapshot differs from Graph's own counts by more than the allowed drift; published anyway",
		"drift", g.Drift, "max_drift", g.MaxDrift, "differences", g.Summary())
	return nil
}

// Summary says in one line how the snapshot compares with Graph's counts.
func (g GraphAggregates) Summary() string {
	if !g.Available {
		return "not compared with Graph's counts: " + g.Reason
	}
	s := fmt.Sprintf("Graph counts %s users, we landed %s", thousands(g.GraphUsers), thousands(g.OurUsers))
	var diffs []string
	for _, c := range slices.Concat(g.Features, g.Methods) {
		if c.Diff != 0 {
			diffs = append(diffs, fmt.Sprintf("%s %s vs %s", c.Name, thousands(c.Graph), thousands(c.Ours)))
		}
	}
	if len(diffs) > 0 {
		const most = 5
		if len(diffs) > most {
			diffs = append(diffs[:most], fmt.Sprintf("%d more", len(diffs)-most))
		}
		s += "; differences: " + strings.Join(diffs, ", ")
	}
	return s
}

// thousands writes n with comma separators, as people read counts.
func thousands(n int64) string {
	s := strconv.FormatInt(abs(n), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if n < 0 {
		return "-" + s
	}
	return s
}
