package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/schemas"
)

// The first run of a tenant reads the even plan; the next plans from its
// raw index: the shard whose chain was longest is split further, and the
// snapshot still holds exactly the tenant's users.
func TestRunTenantPlansShardsFromThePreviousRun(t *testing.T) {
	e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 2000}}})
	o := e.options(t, schemas.UserRegistrationDetails)
	o.Source.PageSize = 50
	even, err := extract.PlanShards(o.Endpoint, extract.AutoShards)
	if err != nil {
		t.Fatal(err)
	}
	first, err := RunTenant(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !samePlan(first.Shards, even) {
		t.Fatalf("first run's plan %v, want the even plan %v", first.Shards, even)
	}
	runs, err := extract.ListRawRuns(context.Background(), o.Raw, o.Key)
	if err != nil || len(runs) != 1 {
		t.Fatalf("raw runs %v, %v", runs, err)
	}
	pages := map[string]int{}
	longest := ""
	for _, p := range runs[0].Pages {
		if p.Kind == "" {
			pages[p.Shard]++
			if pages[p.Shard] > pages[longest] {
				longest = p.Shard
			}
		}
	}
	var long string
	for _, s := range even {
		if s.Name == longest {
			long = s.Filter
		}
	}
	second, err := RunTenant(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	split := 0
	for _, s := range second.Shards {
		if strings.HasPrefix(s.Filter, long+" and ") {
			split++
		}
	}
	if split < 2 {
		t.Errorf("second run's plan %v does not split the longest chain %s (%q, pages %v)", second.Shards, longest, long, pages)
	}
	checkSnapshotMatches(t, e, o.Key, o.Endpoint)

	// --shards off stays one listing whatever the previous run did.
	o.Shards = 1
	third, err := RunTenant(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(third.Shards) != 1 {
		t.Errorf("--shards off planned %v", third.Shards)
	}
}

func samePlan(a, b extract.ShardPlan) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Filter != b[i].Filter {
			return false
		}
	}
	return true
}
