package extract

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/schemas"
)

// prevIndex is a complete raw run of plan with pages[i] pages in shard i.
func prevIndex(ep schemas.Endpoint, plan ShardPlan, pages []int) RawIndex {
	idx := RawIndex{Endpoint: ep, RunID: "prev", Complete: true, Listing: "sharded", Shards: plan}
	for i, n := range pages {
		for range n {
			idx.Pages = append(idx.Pages, RawPage{Shard: plan[i].Name})
		}
	}
	// Lookups and aggregates are no chain's pages.
	idx.Pages = append(idx.Pages, RawPage{Kind: RawKindLookup}, RawPage{Kind: RawKindAggregate})
	return idx
}

// A previous run whose last shard was the long chain gives a plan that
// splits that shard further, and the plan is still a disjoint cover of
// the listing, every shard's records passing its Check, for both
// endpoints, also when that plan is planned again.
func TestPlanFromIndexSplitsTheLongChain(t *testing.T) {
	s := newSim(t, graphsim.Options{Limits: graphsim.Limits{Disabled: true}})
	c := newTestClient(t, s, graphsim.DefaultClientSecret)
	c.throttle = NewThrottle(Limits{PerTenant: 1000, PerTenantWindow: time.Millisecond, Margin: -1})
	for _, ep := range schemas.Endpoints {
		four, err := PlanShards(ep, 4)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := PlanFromIndex(ep, 4, prevIndex(ep, four, []int{2, 2, 2, 20}), nil)
		if err != nil {
			t.Fatal(err)
		}
		long := four[3].Filter
		var under []string
		for _, sh := range plan {
			if sh.Filter == long {
				t.Fatalf("%s: the long shard %q was kept whole: %v", ep, long, plan)
			}
			if strings.HasPrefix(sh.Filter, long+" and ") {
				under = append(under, sh.Filter)
			}
		}
		if len(under) < 2 {
			t.Fatalf("%s: the long shard is split into %v, want at least two: %+v", ep, under, plan)
		}
		if len(plan) > MaxShards {
			t.Fatalf("%s: %d shards", ep, len(plan))
		}
		checkPartition(t, c, ep, plan)
		// The night after, from the new plan's own pages: still a cover.
		pages := make([]int, len(plan))
		for i := range pages {
			pages[i] = 1 + 7*i%5
		}
		again, err := PlanFromIndex(ep, 4, prevIndex(ep, plan, pages), nil)
		if err != nil {
			t.Fatal(err)
		}
		checkPartition(t, c, ep, again)
	}
}

// checkPartition lists every shard of plan: each user of the unfiltered
// listing is in exactly one, and each page passes its shard's Check.
func checkPartition(t *testing.T, c *Client, ep schemas.Endpoint, plan ShardPlan) map[string]int {
	t.Helper()
	users := map[string]int{}
	all := ids(t, c.Pages(ep, ""))
	seen := map[string]string{}
	for _, sh := range plan {
		p := c.Pages(ep, sh.Filter)
		for {
			page, err := p.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s %s: %v", ep, sh.Name, err)
			}
			if err := sh.Check(page); err != nil {
				t.Fatalf("%s: %v", ep, err)
			}
			for _, r := range page.Records {
				id := recordID(t, r)
				if prev, dup := seen[id]; dup {
					t.Fatalf("%s: %s is in %s and %s", ep, id, prev, sh.Name)
				}
				seen[id] = sh.Name
				users[sh.Name]++
			}
		}
	}
	if len(seen) != len(all) {
		t.Fatalf("%s: the plan %v holds %d users, the listing %d", ep, plan, len(seen), len(all))
	}
	return users
}

// With a page of each previous shard to read, the long shard is split on
// the property that halves it (graphsim's isMfaCapable follows
// isMfaRegistered: a split on it would leave an empty shard), so no shard
// of the plan is empty and the long shard's parts are within a factor of
// three of each other.
func TestPlanFromIndexSamplesTheSplit(t *testing.T) {
	s := newSim(t, graphsim.Options{Limits: graphsim.Limits{Disabled: true},
		Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 20000}}})
	c := newTestClient(t, s, graphsim.DefaultClientSecret)
	c.throttle = NewThrottle(Limits{PerTenant: 1000, PerTenantWindow: time.Millisecond, Margin: -1})
	ep := schemas.UserRegistrationDetails
	four, _ := PlanShards(ep, 4)
	first := map[string][]byte{}
	pages := make([]int, len(four))
	for i, sh := range four {
		n := len(ids(t, c.Pages(ep, sh.Filter)))
		pages[i] = 1 + n/500
		p, err := c.Pages(ep, sh.Filter).Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		first[sh.Name] = p.Body
	}
	prev := prevIndex(ep, four, pages)
	for i := range prev.Pages {
		if sh := prev.Pages[i].Shard; sh != "" {
			prev.Pages[i].Key, prev.Pages[i].Records = sh, 1
		}
	}
	read := func(key string) ([]byte, error) { return first[key], nil }
	plan, err := PlanFromIndex(ep, 4, prev, read)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) <= len(four) && samePlanNames(plan, four) {
		t.Fatalf("pages %v gave the even plan %v", pages, plan)
	}
	users := checkPartition(t, c, ep, plan)
	most := 0
	for _, sh := range plan {
		if users[sh.Name] == 0 {
			t.Errorf("shard %s (%s) is empty; plan %v, users %v", sh.Name, sh.Filter, plan, users)
		}
		most = max(most, users[sh.Name])
	}
	t.Logf("pages %v: plan %v, users per shard %v", pages, plan, users)
	var longest int
	for i := range pages {
		if pages[i] > pages[longest] {
			longest = i
		}
	}
	before := len(ids(t, c.Pages(ep, four[longest].Filter)))
	if most > before*3/4 {
		t.Errorf("the longest shard had %d users, the largest of the new plan %d", before, most)
	}
	if plan[0].Name != "s0" && !strings.HasPrefix(plan[0].Name, "s0-") || users[plan[0].Name] != most {
		t.Errorf("the plan does not start with its longest chain: %v, users %v", plan, users)
	}
}

func samePlanNames(a, b ShardPlan) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Filter != b[i].Filter {
			return false
		}
	}
	return true
}

// Short sibling chains are merged back; a first run, an unsharded or
// foreign previous run, and --shards off keep PlanShards' plan.
func TestPlanFromIndexMergesAndFallsBack(t *testing.T) {
	ep := schemas.UserRegistrationDetails
	four, _ := PlanShards(ep, 4)
	eight, _ := PlanShards(ep, 8)
	plan, err := PlanFromIndex(ep, 4, prevIndex(ep, eight, []int{1, 1, 1, 1, 5, 5, 5, 5}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 5 || plan[4].Filter != "isMfaRegistered eq false" || plan[3].Filter != eight[7].Filter {
		t.Errorf("merged plan = %v, want the four short chains merged into one and the rest kept", plan)
	}
	one, _ := PlanShards(ep, 1)
	other := prevIndex(schemas.CredentialUserRegistrationDetails, four, []int{1, 1, 1, 9})
	other.Shards, _ = PlanShards(schemas.CredentialUserRegistrationDetails, 4)
	foreign := prevIndex(ep, four, []int{1, 1, 1, 9})
	foreign.Shards = append(ShardPlan{}, four...)
	foreign.Shards[0].Filter = "startswith(userPrincipalName,'a')"
	incomplete := prevIndex(ep, four, []int{1, 1, 1, 9})
	incomplete.Complete = false
	for _, c := range []struct {
		name string
		n    int
		prev RawIndex
		want ShardPlan
	}{
		{"first run", 4, RawIndex{}, four},
		{"unsharded", 4, prevIndex(ep, one, []int{30}), four},
		{"shards off", 1, prevIndex(ep, four, []int{1, 1, 1, 9}), one},
		{"other endpoint", 4, other, four},
		{"not a plan of ours", 4, foreign, four},
		{"incomplete", 4, incomplete, four},
		{"even", 4, prevIndex(ep, four, []int{6, 5, 5, 5}), four},
	} {
		got, err := PlanFromIndex(ep, c.n, c.prev, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(got) != len(c.want) {
			t.Fatalf("%s: %v, want %v", c.name, got, c.want)
		}
		for i := range got {
			if got[i].Name != c.want[i].Name || got[i].Filter != c.want[i].Filter {
				t.Errorf("%s: shard %d = %+v, want %+v", c.name, i, got[i], c.want[i])
			}
		}
	}
}

// A plan from the previous night carries each shard's pages (estimated
// for a split one), longest first, for the run to serve the longest chain
// first; today's even plan carries none.
func TestPlanFromIndexCountsPages(t *testing.T) {
	ep := schemas.UserRegistrationDetails
	four, err := PlanShards(ep, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range four {
		if s.Pages != 0 {
			t.Fatalf("even plan %+v: want no page counts", four)
		}
	}
	plan, err := PlanFromIndex(ep, 4, prevIndex(ep, four, []int{3, 5, 2, 20}), nil)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, s := range plan {
		if s.Pages < 1 || i > 0 && s.Pages > plan[i-1].Pages {
			t.Fatalf("plan %+v: want counts of at least 1, longest first", plan)
		}
		total += s.Pages
	}
	if total < 28 || total > 30+len(plan) {
		t.Errorf("plan %+v: %d pages in all, want about the previous night's 30", plan, total)
	}
}
