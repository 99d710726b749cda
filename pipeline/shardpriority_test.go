package pipeline

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/schemas"
)

// A tenant's second run knows from the first how many pages each shard
// takes, and a free slot goes to the shard with the most pages left. With
// one request per window, long enough for a page to come back in it, every
// slot is contested: once the longest shard has proved the filters alone,
// its next pages come first, where the shards served in turn would give it
// the first slot at most. The window is 300 ms so that a page comes back
// well inside it on a loaded machine under -race (at 100 ms CI once saw a
// page come back after the next slot had gone to another shard).
func TestRunTenantLongestChainGoesFirst(t *testing.T) {
	t.Parallel() // most of its 25 s is spent waiting for windows
	e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 2000}}})
	o := e.options(t, schemas.UserRegistrationDetails)
	o.Source.PageSize = 50
	o.Shards = extract.AutoShards
	if _, err := RunTenant(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	// The plan the second run makes, with each shard's pages.
	plan, err := planShards(context.Background(), o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	o.Source.Throttle = extract.NewThrottle(extract.Limits{PerTenant: 1, PerTenantWindow: 300 * time.Millisecond,
		App: 122, AppWindow: 300 * time.Millisecond, Margin: 10 * time.Millisecond})
	second, err := RunTenant(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := extract.ListRawRuns(context.Background(), o.Raw, o.Key)
	if err != nil {
		t.Fatal(err)
	}
	var idx extract.RawIndex
	for _, r := range runs {
		if r.RunID == second.RunID {
			idx = r
		}
	}
	if !samePlan(idx.Shards, plan) {
		t.Fatalf("second run's plan %v, want %v", idx.Shards, plan)
	}
	var order []string
	alone := 0 // pages up to the longest shard's first with records
	for _, p := range idx.Pages {
		if p.Kind == "" {
			order = append(order, p.Shard)
			if alone == 0 && p.Records > 0 {
				alone = len(order)
			}
		}
	}
	// The plan is longest first, with the previous run's counts. The
	// longest shard goes alone to its first page with records; from
	// there on it competes for every slot, first while it has more
	// pages left than any other.
	long, next := plan[0], 0
	for _, s := range plan[1:] {
		next = max(next, s.Pages)
	}
	lead := min(long.Pages-alone-next, 3)
	if lead < 2 {
		t.Fatalf("plan %+v, %d pages alone: the longest chain leads by %d pages, too few to tell", plan, alone, lead)
	}
	got := 0
	for _, s := range order[alone:min(len(order), alone+lead)] {
		if s == long.Name {
			got++
		}
	}
	if got < lead {
		t.Errorf("%d of the first %d pages are the longest shard %s's (%d pages planned, the next %d), want all: %v",
			got, lead, long.Name, long.Pages, next, order[alone:])
	}
}
