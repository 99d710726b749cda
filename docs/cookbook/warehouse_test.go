package cookbook

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// The history the cookbook is checked against: tenant evolving (graphsim's
// evolving tenant, a few thousand users) read twice with the deprecated beta
// report and then daily with v1.0, one night missed; tenant other, smaller,
// daily with v1.0 only, so that rankings have two tenants to rank.
const (
	evolvingTenant = graphsim.DefaultTenantID
	otherTenant    = "6f1c2b3a-9d8e-4f70-a1b2-c3d4e5f60718"
)

var (
	// firstDay is early in graphsim's history (it starts 2024-01-01), where
	// MFA registration still rises fast, and before Microsoft stopped the
	// beta report's data (2024-06-30).
	firstDay = time.Date(2024, 1, 30, 0, 0, 0, 0, time.UTC)
	// betaDays of evolvingTenant are read from the beta report.
	betaDays = 2
	// days is how many days the history spans, from firstDay.
	days = 33
	// missedDay is a night evolvingTenant was not read: a gap.
	missedDay = time.Date(2024, 2, 14, 0, 0, 0, 0, time.UTC)
)

// slice is one published snapshot of the warehouse.
type slice struct {
	key      schemas.Key
	endpoint schemas.Endpoint
}

// history is the warehouse the tests query.
type history struct {
	dir    string
	slices []slice // in date order, tenants in turn
}

// day is the date n days from date (YYYY-MM-DD), as YYYY-MM-DD.
func (h *history) day(date string, n int) string {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		panic(err)
	}
	return d.AddDate(0, 0, n).Format(time.DateOnly)
}

// buildHistory runs the pipeline once per tenant and day against graphsim,
// with graphsim's clock at noon of that day, as a nightly job would.
func buildHistory(t *testing.T) *history {
	t.Helper()
	ctx := context.Background()
	clock := graphsim.NewClock(firstDay.Add(12 * time.Hour))
	sim, err := graphsim.New(graphsim.Options{
		Tenants: []graphsim.Tenant{{ID: evolvingTenant, Users: 3000}, {ID: otherTenant, Users: 800}},
		Limits:  graphsim.Limits{PerTenant: 5, PerTenantWindow: 50 * time.Millisecond, App: 122, AppWindow: 50 * time.Millisecond},
		Now:     clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })

	dir := t.TempDir()
	h := &history{dir: filepath.Join(dir, "warehouse")}
	wh, err := load.OpenWarehouse(ctx, h.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wh.Close() })
	raw, err := load.OpenBucket(ctx, filepath.Join(dir, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	sink := pipeline.ParquetSink{Warehouse: wh}
	throttle := extract.NewThrottle(extract.Limits{PerTenant: 5, PerTenantWindow: 50 * time.Millisecond, App: 122,
		AppWindow: 50 * time.Millisecond, Margin: 10 * time.Millisecond})

	for d := range days {
		day := firstDay.AddDate(0, 0, d)
		if d > 0 {
			clock.Advance(24 * time.Hour)
		}
		for _, tenant := range []string{evolvingTenant, otherTenant} {
			endpoint := schemas.UserRegistrationDetails
			switch {
			case tenant == evolvingTenant && day.Equal(missedDay):
				continue
			case tenant == evolvingTenant && d < betaDays:
				endpoint = schemas.CredentialUserRegistrationDetails
			case tenant == otherTenant && d < betaDays:
				continue
			}
			key := schemas.Key{Date: day, Tenant: tenant}
			_, err := pipeline.RunTenant(ctx, pipeline.Options{
				Key:      key,
				Endpoint: endpoint,
				Source: pipeline.Source{GraphURL: sim.URL(), HTTPClient: sim.Client(), Throttle: throttle,
					Retry: extract.RetryPolicy{BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond, MaxAttempts: 12,
						MaxRetryAfter: 100 * time.Millisecond},
					Credential: extract.CredentialOptions{ClientID: graphsim.DefaultClientID, ClientSecret: graphsim.DefaultClientSecret,
						AuthorityHost: sim.URL(), Getenv: func(string) string { return "" }}},
				Sink:    sink,
				History: sink,
				Raw:     raw, RawURL: filepath.Join(dir, "raw"),
			})
			if err != nil {
				t.Fatalf("%s %s: %v", day.Format(time.DateOnly), tenant, err)
			}
			h.slices = append(h.slices, slice{key, endpoint})
		}
	}
	return h
}
