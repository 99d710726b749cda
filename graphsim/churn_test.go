package graphsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestTruthWithoutChurnIsUsers: with Churn off the truth of any tick
// range is the frozen day, every user whole with one state.
func TestTruthWithoutChurnIsUsers(t *testing.T) {
	s := newServer(t, Options{})
	users := s.Users(DefaultTenantID, testDay)
	truth := s.Truth(DefaultTenantID, testDay, 1, 50)
	if len(truth) != len(users) {
		t.Fatalf("%d truth users, want %d", len(truth), len(users))
	}
	for i, tu := range truth {
		if !tu.Whole || len(tu.States) != 1 || tu.ID != users[i].ID || !reflect.DeepEqual(tu.States[0], users[i]) {
			t.Fatalf("truth %d = %+v, want the whole user %s", i, tu, users[i].ID)
		}
	}
}

// shardRead lists the v1.0 report once per filter, one after the other,
// and returns every record by id with how often it was listed.
func shardRead(t *testing.T, s *Server, tok string, filters ...string) (map[string][]json.RawMessage, int64, int64) {
	t.Helper()
	from := s.Tick(DefaultTenantID) + 1
	got := map[string][]json.RawMessage{}
	for _, f := range filters {
		l := listAll(t, s, tok, s.URL()+v1Path+"?$top=100&$filter="+strings.ReplaceAll(f, " ", "%20"))
		for i, id := range ids(t, l.records) {
			got[id] = append(got[id], l.records[i])
		}
	}
	return got, from, s.Tick(DefaultTenantID)
}

// TestChurnMovesUsersBetweenShards: a read sharded on isMfaRegistered
// while 5 % of the users change misses some users and lists others twice,
// both ways; every record is one of the user's true states in the read's
// tick range; users whole and unchanged are listed exactly once; created
// and deleted users come and go. The check is against Truth, graphsim's
// own record of what changed when.
func TestChurnMovesUsersBetweenShards(t *testing.T) {
	s := newServer(t, Options{
		Tenants: []Tenant{{ID: DefaultTenantID, Users: 3000}},
		Churn:   Churn{Rate: 0.05, Created: 0.01, Deleted: 0.01, Requests: 40},
	})
	tok := accessToken(t, s, DefaultTenantID)
	got, from, to := shardRead(t, s, tok, "isMfaRegistered eq false", "isMfaRegistered eq true")
	truth := s.Truth(DefaultTenantID, testDay, from, to)
	frozen := map[string]bool{}
	for _, u := range s.Users(DefaultTenantID, testDay) {
		frozen[u.ID] = true
	}
	var missed, twice, changed, created, deleted, flippedUp, flippedDown int
	inTruth := map[string]bool{}
	for _, tu := range truth {
		inTruth[tu.ID] = true
		recs := got[tu.ID]
		for _, rec := range recs {
			if !slices.ContainsFunc(tu.States, func(u User) bool { return recordMatches(t, rec, u) }) {
				t.Errorf("%s: record %s is none of its true states", tu.ID, rec)
			}
		}
		for _, u := range tu.States {
			checkOwnTable(t, u)
		}
		switch {
		case !tu.Whole:
			if frozen[tu.ID] {
				deleted++
			} else {
				created++
			}
			if len(tu.States) != 1 || len(recs) > 1 {
				t.Errorf("%s: created or deleted with %d states, listed %d times", tu.ID, len(tu.States), len(recs))
			}
		case len(tu.States) == 1 || tu.States[0].IsMfaRegistered == tu.States[1].IsMfaRegistered:
			if len(recs) != 1 {
				t.Errorf("%s: whole and in one shard all along, listed %d times", tu.ID, len(recs))
			}
			changed += len(tu.States) - 1
		default:
			changed++
			if tu.States[1].IsMfaRegistered {
				flippedUp++
			} else {
				flippedDown++
			}
			switch len(recs) {
			case 0:
				missed++
			case 2:
				twice++
			}
		}
	}
	for id := range got {
		if !inTruth[id] {
			t.Errorf("%s listed but never existed in ticks %d..%d", id, from, to)
		}
	}
	t.Logf("ticks %d..%d: %d changed (%d up, %d down), %d missed, %d twice, %d created, %d deleted",
		from, to, changed, flippedUp, flippedDown, missed, twice, created, deleted)
	if missed == 0 || twice == 0 || flippedUp == 0 || flippedDown == 0 || created == 0 || deleted == 0 {
		t.Errorf("churn too weak to test a sharded read")
	}
}

// recordMatches reports whether a v1.0 record is u's.
func recordMatches(t *testing.T, rec json.RawMessage, u User) bool {
	t.Helper()
	var want bytes.Buffer
	appendJSON(&want, reports[0].record(&u))
	return bytes.Equal(rec, want.Bytes())
}

// checkOwnTable checks u's flags against graphsim's own table.
func checkOwnTable(t *testing.T, u User) {
	t.Helper()
	var mfa, sspr, pl bool
	for _, m := range u.MethodsRegistered {
		e := vocabulary[vocabIndex(m)]
		mfa, sspr, pl = mfa || e.mfa, sspr || e.sspr, pl || e.passwordless
	}
	if u.IsMfaRegistered != mfa || u.IsMfaCapable != mfa || u.IsSsprRegistered != sspr ||
		u.IsSsprCapable != (sspr && u.IsSsprEnabled) || u.IsPasswordlessCapable != pl {
		t.Errorf("%s: flags inconsistent with methods %v: %+v", u.ID, u.MethodsRegistered, u)
	}
	if u.UserPreferredMethodForSecondaryAuthentication != "" && !mfa {
		t.Errorf("%s: preferred %q without an MFA method", u.ID, u.UserPreferredMethodForSecondaryAuthentication)
	}
}

// TestChurnIsReproducible: two servers with the same Seed change the
// same users at the same ticks.
func TestChurnIsReproducible(t *testing.T) {
	opts := Options{Churn: Churn{Rate: 0.1, Created: 0.02, Deleted: 0.02}}
	a, b := newServer(t, opts), newServer(t, opts)
	for _, s := range []*Server{a, b} {
		get(t, s, accessToken(t, s, DefaultTenantID), s.URL()+v1Path+"?$top=1")
	}
	ta, tb := a.Truth(DefaultTenantID, testDay, 1, 100), b.Truth(DefaultTenantID, testDay, 1, 100)
	if !reflect.DeepEqual(ta, tb) {
		t.Fatal("same seed, different churn")
	}
	var two int
	for _, tu := range ta {
		if len(tu.States) == 2 {
			two++
		}
	}
	if two == 0 {
		t.Fatal("no user changed")
	}
}

// TestLookup: the per-id lookup serves the listing's record with the
// entity context first, 404 for an id the report does not hold, counts a
// tick and a lookup; the beta report has no lookup.
func TestLookup(t *testing.T) {
	s := newServer(t, Options{})
	tok := accessToken(t, s, DefaultTenantID)
	u := s.Users(DefaultTenantID, testDay)[7]
	r := get(t, s, tok, s.URL()+v1Path+"/"+strings.ToUpper(u.ID))
	if r.status != http.StatusOK {
		t.Fatalf("lookup: %d %s", r.status, r.body)
	}
	var rec bytes.Buffer
	appendJSON(&rec, reports[0].record(&u))
	want := `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#reports/authenticationMethods/userRegistrationDetails/$entity",` +
		rec.String()[1:]
	if string(r.body) != want {
		t.Errorf("lookup body\n%s\nwant\n%s", r.body, want)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	const missing = "00000000-0000-4000-8000-000000000000"
	msg := wantError(t, get(t, s, tok, s.URL()+v1Path+"/"+missing), http.StatusNotFound, "Request_ResourceNotFound")
	if msg != "Resource '"+missing+"' does not exist or one of its queried reference-property objects are not present." {
		t.Errorf("404 message %q", msg)
	}
	wantError(t, get(t, s, tok, s.URL()+betaPath+"/"+u.ID), http.StatusNotFound, "Request_ResourceNotFound")
	wantError(t, get(t, s, "", s.URL()+v1Path+"/"+u.ID), http.StatusUnauthorized, "InvalidAuthenticationToken")
	if st := s.Stats(); st.Lookups != 3 || st.Pages != 0 {
		t.Errorf("stats %+v, want 3 lookups and no pages", st)
	}
	if k := s.Tick(DefaultTenantID); k != 2 {
		t.Errorf("tick %d after two lookups past the bearer check, want 2", k)
	}
}

// TestLookupFollowsChurn: a deleted user is found before its tick and not
// after it; a created user the other way round; a changed user shows its
// new state from its tick on.
func TestLookupFollowsChurn(t *testing.T) {
	s := newServer(t, Options{Churn: Churn{Rate: 0.05, Created: 0.05, Deleted: 0.05, Requests: 10}})
	tok := accessToken(t, s, DefaultTenantID)
	uni := s.days.universe(s.tenants[DefaultTenantID], dayNumber(testDay), s.opts.Churn)
	pick := func(f func(m *member) bool) *member {
		for i := range uni {
			if f(&uni[i]) {
				return &uni[i]
			}
		}
		t.Fatal("no such member")
		return nil
	}
	del := pick(func(m *member) bool { return m.until > 2 })
	cre := pick(func(m *member) bool { return m.from > 2 })
	chg := pick(func(m *member) bool { return m.changeAt > 2 })
	status := func(m *member) (int, []byte) {
		r := get(t, s, tok, s.URL()+v1Path+"/"+m.id())
		return r.status, r.body
	}
	for k := int64(1); k <= 12; k++ { // lookups are ticks 1, 2, ...; three per k
		for _, c := range []struct {
			m    *member
			name string
		}{{del, "deleted"}, {cre, "created"}, {chg, "changed"}} {
			tick := s.Tick(DefaultTenantID) + 1
			code, body := status(c.m)
			want := c.m.at(tick)
			switch {
			case want == nil && code != http.StatusNotFound, want != nil && code != http.StatusOK:
				t.Fatalf("%s user at tick %d: status %d", c.name, tick, code)
			case want != nil:
				var rec bytes.Buffer
				appendJSON(&rec, reports[0].record(want))
				if !bytes.HasSuffix(body, rec.Bytes()[1:]) {
					t.Fatalf("%s user at tick %d: %s, want state %+v", c.name, tick, body, want)
				}
			}
		}
	}
	if st := s.Stats(); st.Lookups != 36 {
		t.Errorf("%d lookups", st.Lookups)
	}
}
