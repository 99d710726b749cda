package graphsim

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// monthStart is the first of the 30 consecutive days (monthDays) the
// evolution tests walk.
var monthStart = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

const monthDays = 30

// changes counts, between each day and the next, what the change tables
// downstream are made of.
type changes struct {
	left, joined, appointed, removed, lostMethod, lostMFA, adminLostMFA, gainedMFA int
	firstMFA, lastMFA                                                              float64
	firstUsers, lastUsers                                                          int
}

// monthOfChanges walks 30 days of a 5,000-user tenant anchored at anchor
// and checks, on the way, that a user who left never comes back, every
// user's flags follow its methods, and lastUpdatedDateTime moves to the
// day exactly when the methods change.
func monthOfChanges(t *testing.T, anchor time.Time) changes {
	t.Helper()
	s := newServer(t, Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: 5000, UsersOn: anchor}}})
	var c changes
	gone := map[string]bool{}
	var prev map[string]User
	share := func(us []User) float64 {
		n := 0
		for _, u := range us {
			if u.IsMfaRegistered {
				n++
			}
		}
		return float64(n) / float64(len(us))
	}
	for k := range monthDays {
		us := s.Users(DefaultTenantID, monthStart.AddDate(0, 0, k))
		cur := make(map[string]User, len(us))
		for _, u := range us {
			cur[u.ID] = u
			if gone[u.ID] {
				t.Fatalf("day %d: %s left and came back", k, u.ID)
			}
			checkOwnTable(t, u)
			if u.IsAdmin && u.UserType != "member" {
				t.Errorf("day %d: guest %s is an admin", k, u.ID)
			}
		}
		if k == 0 {
			c.firstMFA, c.firstUsers = share(us), len(us)
		}
		c.lastMFA, c.lastUsers = share(us), len(us)
		for id, p := range prev {
			u, ok := cur[id]
			if !ok {
				gone[id] = true
				c.left++
				continue
			}
			switch {
			case !p.IsAdmin && u.IsAdmin:
				c.appointed++
			case p.IsAdmin && !u.IsAdmin:
				c.removed++
			}
			if slices.ContainsFunc(p.MethodsRegistered, func(m string) bool { return !slices.Contains(u.MethodsRegistered, m) }) {
				c.lostMethod++
			}
			if slices.Equal(p.MethodsRegistered, u.MethodsRegistered) != p.LastUpdatedDateTime.Equal(u.LastUpdatedDateTime) ||
				(!p.LastUpdatedDateTime.Equal(u.LastUpdatedDateTime) && dayNumber(u.LastUpdatedDateTime) != dayNumber(monthStart)+k) {
				t.Errorf("day %d: %s methods %v -> %v, lastUpdatedDateTime %v -> %v", k, id,
					p.MethodsRegistered, u.MethodsRegistered, p.LastUpdatedDateTime, u.LastUpdatedDateTime)
			}
			if !p.IsMfaRegistered && u.IsMfaRegistered {
				c.gainedMFA++
			}
			if p.IsMfaRegistered && !u.IsMfaRegistered {
				c.lostMFA++
				if p.IsAdmin || u.IsAdmin {
					c.adminLostMFA++
				}
			}
		}
		if prev != nil {
			for id := range cur {
				if _, ok := prev[id]; !ok {
					c.joined++
				}
			}
		}
		prev = cur
	}
	return c
}

// TestMonthOfChanges: over 30 days of a 5,000-user tenant, whether it is
// anchored at the first day (the population grows after it) or at the
// last (the demo's way: the history window before it), users leave and
// never come back, more join, admins are appointed and removed, users
// lose methods and MFA, some admin among them, and the MFA share rises
// visibly (the rollout campaign: at least 2 points, what a trend chart
// shows), far more users gaining MFA than losing it.
func TestMonthOfChanges(t *testing.T) {
	for _, tt := range []struct {
		name   string
		anchor time.Time
	}{
		{"anchored at the first day", monthStart},
		{"anchored at the last day", monthStart.AddDate(0, 0, monthDays-1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := monthOfChanges(t, tt.anchor)
			t.Logf("%+v", c)
			if c.left < 10 || c.joined <= c.left || c.lastUsers <= c.firstUsers {
				t.Errorf("%d left, %d joined, %d -> %d users: want dozens leaving and net growth",
					c.left, c.joined, c.firstUsers, c.lastUsers)
			}
			if c.appointed == 0 || c.removed == 0 {
				t.Errorf("%d admins appointed, %d removed: want both", c.appointed, c.removed)
			}
			if c.lostMethod < 3 || c.lostMFA == 0 || c.adminLostMFA == 0 {
				t.Errorf("%d users lost a method, %d lost MFA, %d of them admins: want several, some, some",
					c.lostMethod, c.lostMFA, c.adminLostMFA)
			}
			if c.lastMFA-c.firstMFA < 0.02 || c.gainedMFA < 5*c.lostMFA {
				t.Errorf("MFA share %.4f -> %.4f, %d users gained MFA, %d lost it: want a rise of 2 points or more",
					c.firstMFA, c.lastMFA, c.gainedMFA, c.lostMFA)
			}
		})
	}
}

// TestLeftUserIsGone: the day after a user leaves, the listing, the lookup
// (404) and the aggregates' total no longer count it.
func TestLeftUserIsGone(t *testing.T) {
	day := monthStart
	clock := NewClock(day)
	s := newServer(t, Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: 2000, UsersOn: day}}, Now: clock.Now})
	tok := accessToken(t, s, DefaultTenantID)
	// A day after which someone left and the population changed size, so
	// that a count of the wrong day shows.
	var leaver string
	for k := 0; leaver == "" && k < 60; k++ {
		now := map[string]bool{}
		next, cur := s.Users(DefaultTenantID, day.AddDate(0, 0, k+1)), s.Users(DefaultTenantID, day.AddDate(0, 0, k))
		if len(next) == len(cur) {
			continue
		}
		for _, u := range next {
			now[u.ID] = true
		}
		for _, u := range cur {
			if !now[u.ID] {
				leaver, day = u.ID, day.AddDate(0, 0, k)
				break
			}
		}
	}
	if leaver == "" {
		t.Fatal("nobody left in 60 days")
	}
	clock.Advance(day.Sub(clock.Now()))
	tok = accessToken(t, s, DefaultTenantID) // the old one expired with the clock's move
	if r := get(t, s, tok, s.URL()+v1Path+"/"+leaver); r.status != http.StatusOK {
		t.Fatalf("lookup of %s on its last day: %d", leaver, r.status)
	}
	clock.Advance(24 * time.Hour)
	tok = accessToken(t, s, DefaultTenantID)
	wantError(t, get(t, s, tok, s.URL()+v1Path+"/"+leaver), http.StatusNotFound, "Request_ResourceNotFound")
	l := listAll(t, s, tok, s.URL()+v1Path+"?$top=999")
	if got := ids(t, l.records); slices.Contains(got, leaver) || len(got) != len(s.Users(DefaultTenantID, clock.Now())) {
		t.Errorf("listing holds %d records (the leaver: %v), want the day's %d users",
			len(got), slices.Contains(got, leaver), len(s.Users(DefaultTenantID, clock.Now())))
	}
	sum := getSummary(t, s, tok, aggregateURL(s, featureFunction, "all", "all"))
	if want := len(s.Users(DefaultTenantID, clock.Now())); sum.TotalUserCount != int64(want) {
		t.Errorf("totalUserCount %d, want %d", sum.TotalUserCount, want)
	}
}

// TestListingOrderIsNotIDs: a full listing serves every user exactly once
// in an order that is not the ids' (Graph promises none), a $filter shard
// serves its users in the same relative order, and the next day's order
// is another one.
func TestListingOrderIsNotIDs(t *testing.T) {
	clock := NewClock(testDay)
	s := newServer(t, Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: 1500}}, Now: clock.Now})
	tok := accessToken(t, s, DefaultTenantID)
	got := ids(t, listAll(t, s, tok, s.URL()+v1Path+"?$top=200").records)
	if slices.IsSorted(got) {
		t.Fatal("the listing is sorted by id")
	}
	want := userIDs(s.Users(DefaultTenantID, testDay))
	if sorted := slices.Sorted(slices.Values(got)); !slices.Equal(sorted, want) {
		t.Fatalf("the listing's %d ids are not the day's %d users, each once", len(got), len(want))
	}
	pos := map[string]int{}
	for i, id := range got {
		pos[id] = i
	}
	shard := ids(t, listAll(t, s, tok, s.URL()+v1Path+"?$top=50&$filter=isMfaRegistered%20eq%20true").records)
	if !slices.IsSortedFunc(shard, func(a, b string) int { return pos[a] - pos[b] }) || slices.IsSorted(shard) {
		t.Error("the shard is not in the listing's order")
	}
	clock.Advance(24 * time.Hour)
	tok = accessToken(t, s, DefaultTenantID)
	next := ids(t, listAll(t, s, tok, s.URL()+v1Path+"?$top=200").records)
	if strings.Join(next[:20], ",") == strings.Join(got[:20], ",") {
		t.Error("the next day's listing starts like today's")
	}
}
