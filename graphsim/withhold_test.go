package graphsim

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// missingFrom lists, sorted, the ids of want that got lacks.
func missingFrom(want []User, keep func(User) bool, got []string) []string {
	listed := map[string]bool{}
	for _, id := range got {
		listed[id] = true
	}
	var out []string
	for _, u := range want {
		if keep(u) && !listed[u.ID] {
			out = append(out, u.ID)
		}
	}
	slices.Sort(out)
	return out
}

// TestWithholdDropsOnePage: the users missing from a full listing are
// exactly those Withheld names and Stats.Withheld counts: a whole page of
// the shard the filter names, the first Records of a page of the
// unfiltered listing; other shards lose nothing; the listing goes on past
// the page; fetching the page again withholds the same users again.
func TestWithholdDropsOnePage(t *testing.T) {
	s := newServer(t, Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: 1200, Withhold: []Withhold{
		{Filter: "isMfaRegistered eq true", Page: 2},
		{Page: 3, Records: 5},
	}}}})
	tok := accessToken(t, s, DefaultTenantID)
	users := s.Users(DefaultTenantID, testDay)
	mfa := func(u User) bool { return u.IsMfaRegistered }

	other := listAll(t, s, tok, s.URL()+v1Path+"?$top=100&$filter=isMfaRegistered%20eq%20false")
	if miss := missingFrom(users, func(u User) bool { return !mfa(u) }, ids(t, other.records)); len(miss) != 0 || s.Withheld(DefaultTenantID) != nil {
		t.Fatalf("another shard lost %v; withheld %v", miss, s.Withheld(DefaultTenantID))
	}

	shard := listAll(t, s, tok, s.URL()+v1Path+"?$top=100&$filter=isMfaRegistered%20eq%20true")
	missShard := missingFrom(users, mfa, ids(t, shard.records))
	if len(missShard) != 100 || shard.pages < 4 {
		t.Fatalf("%d users missing from the shard over %d pages, want page 2's 100 and the listing to go on", len(missShard), shard.pages)
	}
	if got := s.Withheld(DefaultTenantID); !slices.Equal(got, missShard) {
		t.Fatalf("Withheld %v\nwant the users missing from the shard %v", got, missShard)
	}

	all := listAll(t, s, tok, s.URL()+v1Path+"?$top=100")
	missAll := missingFrom(users, func(User) bool { return true }, ids(t, all.records))
	if len(missAll) != 5 {
		t.Fatalf("%d users missing from the unfiltered listing, want 5", len(missAll))
	}
	want := slices.Compact(slices.Sorted(slices.Values(append(missShard, missAll...)))) // pages may share users
	if got := s.Withheld(DefaultTenantID); !slices.Equal(got, want) {
		t.Fatalf("Withheld %v\nwant %v", got, want)
	}
	if st := s.Stats(); st.Withheld != 105 {
		t.Errorf("Stats.Withheld %d, want 105", st.Withheld)
	}

	// The shard's page 2 is fetched through the first next link.
	if r := get(t, s, tok, shard.links[0]); r.status != http.StatusOK || strings.Contains(string(r.body), missShard[0]) {
		t.Errorf("page 2 again: status %d, or it holds %s", r.status, missShard[0])
	}
	if st := s.Stats(); st.Withheld != 205 || !slices.Equal(s.Withheld(DefaultTenantID), want) {
		t.Errorf("Stats.Withheld %d, ids %v, want 205 and the same ids", st.Withheld, s.Withheld(DefaultTenantID))
	}
	if s.Withheld("00000000-0000-0000-0000-000000000000") != nil {
		t.Error("an unknown tenant has withheld records")
	}
}

// TestWithholdRejected: New refuses a Withhold that could never apply.
func TestWithholdRejected(t *testing.T) {
	for _, w := range []Withhold{{Page: 0}, {Page: 1, Records: -1}, {Filter: "isMfaRegistred eq true", Page: 1}} {
		_, err := New(Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: 10, Withhold: []Withhold{w}}}})
		if err == nil || !strings.Contains(err.Error(), "withhold") {
			t.Errorf("%+v: error %v, want one about the withhold", w, err)
		}
	}
}
