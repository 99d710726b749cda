package pipeline

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/schemas"
)

// The snapshot is checked against Graph's own counts: an exact run agrees
// to the user; a run that lost a page is caught with the right
// difference; a lagging aggregate within the tolerance publishes; strict,
// over the tolerance, nothing is published and the previous slice stays.
func TestRunTenantComparesWithGraphsAggregates(t *testing.T) {
	const lostFilter = "isMfaRegistered eq false and isSsprRegistered eq false"
	t.Run("exact", func(t *testing.T) {
		e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 4000}}})
		o := e.options(t, schemas.UserRegistrationDetails)
		m, err := RunTenant(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		g := m.GraphAggregates
		if !g.Available || g.GraphUsers != m.Counts.Users || g.UsersDiff != 0 || g.Drift != 0 || g.OverTolerance {
			t.Fatalf("aggregates %+v", g)
		}
		if len(g.Features) != 5 || len(g.Methods) == 0 {
			t.Errorf("%d features and %d methods compared", len(g.Features), len(g.Methods))
		}
		for _, c := range append(g.Features, g.Methods...) {
			if c.Diff != 0 || (c.Name == "mfaCapable" && c.Graph == 0) {
				t.Errorf("%+v", c)
			}
		}
		if want := "Graph counts " + thousands(g.GraphUsers) + " users, we landed " + thousands(g.OurUsers); g.Summary() != want {
			t.Errorf("summary %q, want %q", g.Summary(), want)
		}
		if n := e.sim.Stats().Aggregates; n != 2 {
			t.Errorf("%d aggregate requests, want 2", n)
		}
		if rm := checkReplaySameRows(t, e, o, m); !reflect.DeepEqual(rm.GraphAggregates, g) {
			t.Errorf("the replay compared %+v, the run %+v", rm.GraphAggregates, g)
		}
	})
	t.Run("a lost page", func(t *testing.T) {
		e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 4000,
			Withhold: []graphsim.Withhold{{Filter: lostFilter, Page: 2}}}}})
		o := e.options(t, schemas.UserRegistrationDetails)
		o.Source.PageSize = 200
		m, err := RunTenant(context.Background(), o)
		if err != nil {
			t.Fatalf("not strict: the run publishes with a warning, got %v", err)
		}
		lost := int64(len(e.sim.Withheld(e.tenant)))
		g := m.GraphAggregates
		if lost == 0 || g.UsersDiff != -lost || !g.OverTolerance || !strings.Contains(g.Summary(), "differences") {
			t.Fatalf("lost %d users; aggregates %+v (%s)", lost, g, g.Summary())
		}
		// A strict replay of the landed run refuses it too.
		_, err = ReplayTenant(context.Background(), ReplayOptions{Raw: o.Raw, Prefix: m.Raw.Prefix,
			Sink: ParquetSink{Warehouse: e.wh}, StrictAggregates: true})
		if !errors.Is(err, ErrAggregateDrift) {
			t.Errorf("strict replay: err = %v, want ErrAggregateDrift", err)
		}
	})
	t.Run("strict keeps the previous slice", func(t *testing.T) {
		withhold := []graphsim.Withhold{}
		e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 4000}}})
		o := e.options(t, schemas.UserRegistrationDetails)
		o.Source.PageSize = 200
		o.StrictAggregates = true
		if _, err := RunTenant(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		before := snapshotFiles(t, e.whDir)
		e2 := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 4000,
			Withhold: append(withhold, graphsim.Withhold{Filter: lostFilter, Page: 2})}}})
		o2 := e2.options(t, schemas.UserRegistrationDetails)
		o2.Source.PageSize, o2.StrictAggregates, o2.Sink = 200, true, o.Sink
		_, err := RunTenant(context.Background(), o2)
		if !errors.Is(err, ErrAggregateDrift) || !strings.Contains(err.Error(), "Graph counts") {
			t.Fatalf("err = %v, want ErrAggregateDrift with the differences", err)
		}
		after := snapshotFiles(t, e.whDir)
		for p := range after {
			if strings.Contains(p, "_leases") {
				delete(after, p)
				delete(before, p)
			}
		}
		if !maps.Equal(before, after) {
			t.Fatal("a strict run over the tolerance changed the published slice")
		}
	})
	t.Run("a lagging aggregate within the tolerance", func(t *testing.T) {
		clock := graphsim.NewClock(testDay.Add(9 * time.Hour))
		e := newEnv(t, graphsim.Options{Now: clock.Now, AggregateLag: 3, Churn: graphsim.Churn{Rate: 0.004, Requests: 10},
			Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 4000}}})
		o := e.options(t, schemas.UserRegistrationDetails)
		o.Shards, o.StrictAggregates = 1, true
		m, err := RunTenant(context.Background(), o)
		if err != nil {
			t.Fatalf("a lag within the tolerance must publish: %v", err)
		}
		g := m.GraphAggregates
		if !g.Available || g.Drift == 0 || g.OverTolerance {
			t.Errorf("aggregates %+v: want a small drift within the tolerance", g)
		}
	})
	t.Run("refused to an app", func(t *testing.T) {
		e := newEnv(t, graphsim.Options{AggregatesDelegatedOnly: true})
		o := e.options(t, schemas.UserRegistrationDetails)
		m, err := RunTenant(context.Background(), o)
		if err != nil {
			t.Fatalf("a refused aggregate is a warning, never a failure: %v", err)
		}
		if g := m.GraphAggregates; g.Available || !strings.Contains(g.Reason, "403") || !strings.Contains(g.Reason, "delegated") {
			t.Errorf("aggregates %+v: the manifest must say why", g)
		}
	})
	t.Run("beta has none", func(t *testing.T) {
		e := newEnv(t, graphsim.Options{})
		o := e.options(t, schemas.CredentialUserRegistrationDetails)
		m, err := RunTenant(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if g := m.GraphAggregates; g.Available || !strings.Contains(g.Reason, "no aggregates") {
			t.Errorf("aggregates %+v", g)
		}
	})
}
