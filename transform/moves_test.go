package transform

import (
	"fmt"
	"slices"
	"testing"

	"github.com/credreg/credreg/schemas"
)

// movedPage is one page of a sharded listing in a moves test.
type movedPage struct {
	seq     int64
	shard   string
	records []string
}

func v1User(id, upn, updated string, methods ...string) string {
	ts := "null"
	if updated != "" {
		ts = `"` + updated + `"`
	}
	ms := "[]"
	if len(methods) > 0 {
		ms = `["` + methods[0] + `"]`
	}
	return fmt.Sprintf(`{"id":%q,"userPrincipalName":%q,"lastUpdatedDateTime":%s,"methodsRegistered":%s}`, id, upn, ts, ms)
}

func betaUser(id, upn string, methods ...string) string {
	ms := "[]"
	if len(methods) > 0 {
		ms = `["` + methods[0] + `"]`
	}
	return fmt.Sprintf(`{"id":%q,"userPrincipalName":%q,"authMethods":%s}`, id, upn, ms)
}

// transformTwice runs the pages as the pipeline does: once, and again with
// the winners when a loaded copy was superseded. It returns the loaded
// users as "id:upn" sorted, the stats, and whether a second pass ran.
func transformTwice(t *testing.T, endpoint schemas.Endpoint, pages []movedPage) ([]string, Stats, bool) {
	t.Helper()
	pass := func(winners map[string]RecordRef) ([]string, Stats, *Transformer) {
		tr := New(Options{Key: testKey, RunID: "r", Endpoint: endpoint, Allocator: checkedAllocator(t), Winners: winners})
		c := collected{}
		feed := pages
		if winners != nil {
			// The second pass reads the landed pages in sequence order,
			// as a replay does, not in the order they arrived.
			feed = slices.Clone(pages)
			slices.SortFunc(feed, func(a, b movedPage) int { return int(a.seq - b.seq) })
		}
		for _, p := range feed {
			c.add(t, tr.AddShardPage(p.seq, p.shard, testReceived, split(t, p.records...)))
		}
		c.add(t, tr.Finish())
		ids, upns := c.column(t, "user_registration_details", "user_id"), c.column(t, "user_registration_details", "user_principal_name")
		c.release()
		var got []string
		for i := range ids {
			got = append(got, ids[i]+":"+upns[i])
		}
		slices.Sort(got)
		return got, tr.Stats(), tr
	}
	got, st, tr := pass(nil)
	defer tr.Release()
	if tr.Superseded() == 0 {
		return got, st, false
	}
	got, st, tr2 := pass(tr.Winners())
	defer tr2.Release()
	if tr2.Superseded() != 0 {
		t.Fatalf("the second pass superseded %d copies; it must load exactly the winners", tr2.Superseded())
	}
	return got, st, true
}

func TestTransformerKeepsTheTruerCopyOfAUserReadInTwoShards(t *testing.T) {
	const (
		early = "2026-11-27T01:00:00Z"
		late  = "2026-11-27T02:00:00Z"
	)
	tests := []struct {
		name       string
		endpoint   schemas.Endpoint
		pages      []movedPage
		want       []string
		moved      int64
		rejected   int64
		secondPass bool
	}{{
		name: "later lastUpdated read second wins",
		pages: []movedPage{
			{1, "s0", []string{v1User("a", "old@x", early), v1User("b", "b@x", early)}},
			{2, "s1", []string{v1User("a", "new@x", late)}},
		},
		want: []string{"a:new@x", "b:b@x"}, moved: 1, secondPass: true,
	}, {
		name: "later lastUpdated read first wins",
		pages: []movedPage{
			{1, "s1", []string{v1User("a", "new@x", late)}},
			{2, "s0", []string{v1User("a", "old@x", early)}},
		},
		want: []string{"a:new@x"}, moved: 1,
	}, {
		name: "a tie goes to the copy read later",
		pages: []movedPage{
			{1, "s0", []string{v1User("a", "first@x", early)}},
			{2, "s1", []string{v1User("a", "second@x", early)}},
		},
		want: []string{"a:second@x"}, moved: 1, secondPass: true,
	}, {
		name: "three copies: the latest timestamp, not the last read",
		pages: []movedPage{
			{1, "s0", []string{v1User("a", "mid@x", "2026-11-27T02:00:00Z")}},
			{2, "s1", []string{v1User("a", "low@x", "2026-11-27T01:00:00Z")}},
			{3, "s2", []string{v1User("a", "high@x", "2026-11-27T03:00:00Z")}},
		},
		want: []string{"a:high@x"}, moved: 2, secondPass: true,
	}, {
		name:     "beta has no timestamp: the copy read later",
		endpoint: schemas.CredentialUserRegistrationDetails,
		pages: []movedPage{
			{1, "s0", []string{betaUser("a", "first@x")}},
			{2, "s1", []string{betaUser("a", "second@x", "email")}},
		},
		want: []string{"a:second@x"}, moved: 1, secondPass: true,
	}, {
		name: "a repeat inside a shard and a move: the first copy of each shard competes",
		pages: []movedPage{
			{5, "s0", []string{v1User("a", "s0-first@x", early)}},
			{9, "s0", []string{v1User("a", "s0-again@x", early)}},
			{7, "s1", []string{v1User("a", "s1@x", early)}},
		},
		want: []string{"a:s1@x"}, moved: 1, rejected: 1, secondPass: true,
	}, {
		name: "the same, arriving in sequence order",
		pages: []movedPage{
			{5, "s0", []string{v1User("a", "s0-first@x", early)}},
			{7, "s1", []string{v1User("a", "s1@x", early)}},
			{9, "s0", []string{v1User("a", "s0-again@x", early)}},
		},
		want: []string{"a:s1@x"}, moved: 1, rejected: 1, secondPass: true,
	}, {
		name: "a repeat inside one shard stays a duplicate_id reject",
		pages: []movedPage{
			{1, "s0", []string{v1User("a", "first@x", early)}},
			{2, "s0", []string{v1User("a", "again@x", late)}},
		},
		want: []string{"a:first@x"}, rejected: 1,
	}, {
		name: "an unsharded listing rejects repeats too",
		pages: []movedPage{
			{1, "", []string{v1User("a", "first@x", early), v1User("a", "again@x", late)}},
		},
		want: []string{"a:first@x"}, rejected: 1,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, st, second := transformTwice(t, tc.endpoint, tc.pages)
			if !slices.Equal(got, tc.want) {
				t.Errorf("loaded %v, want %v", got, tc.want)
			}
			if st.MovedBetweenShards != tc.moved || st.Rejected != tc.rejected {
				t.Errorf("moved %d rejected %d, want %d and %d", st.MovedBetweenShards, st.Rejected, tc.moved, tc.rejected)
			}
			if st.RecordsIn != st.Users+st.Rejected+st.MovedBetweenShards {
				t.Errorf("counts do not add up: %d in, %d users, %d rejected, %d moved", st.RecordsIn, st.Users, st.Rejected, st.MovedBetweenShards)
			}
			if second != tc.secondPass {
				t.Errorf("second pass %v, want %v", second, tc.secondPass)
			}
		})
	}
}
