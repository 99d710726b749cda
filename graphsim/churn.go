package graphsim

import (
	"cmp"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Churn makes a tenant's day change while it is being read, as a real
// directory does: users register or lose methods, join and leave during
// an extraction that takes minutes. Without it a listing is one frozen
// snapshot and $filter shards on a boolean are disjoint by construction.
// The zero value changes nothing.
//
// Which users change, how, and at which tick is a pure function of (Seed,
// tenant, day, user, these fields), so every run of a test meets the same
// changes at the same ticks. The ticks are the tenant's report requests
// (see Server.Tick): the changes of a day fall on the tenant's 2nd to
// (Requests+1)th report request of that day, counted from the first
// request that served the day, so they happen during the first read of
// the day and never before its first page.
type Churn struct {
	// Rate is the share of the day's users who change once during the
	// read: a user registered for MFA either loses every MFA method (an
	// admin's "require re-register") or adds a passwordless one; a user
	// without MFA registers one. The flags follow the methods by
	// graphsim's own table, so isMfaRegistered flips both ways.
	Rate float64
	// Created is the share (of the day's users) of users created during
	// the read: absent before their tick, present (with no methods yet, as
	// a new account has) from it on.
	Created float64
	// Deleted is the share of the day's users deleted during the read:
	// present before their tick, absent (404 on lookup) from it on. A user
	// either changes or is deleted, never both.
	Deleted float64
	// Requests is how many report requests of the tenant the changes are
	// spread over, uniformly. Default 40.
	Requests int
}

func (c Churn) enabled() bool { return c.Rate > 0 || c.Created > 0 || c.Deleted > 0 }

func (c Churn) withDefaults() Churn {
	for _, p := range []*float64{&c.Rate, &c.Created, &c.Deleted} {
		if math.IsNaN(*p) || *p < 0 {
			*p = 0
		}
		*p = min(*p, 1)
	}
	if c.Rate+c.Deleted > 1 {
		c.Rate = 1 - c.Deleted
	}
	if c.Requests <= 0 {
		c.Requests = 40
	}
	return c
}

// member is one user who exists at some tick of a (tenant, day): the
// universe a listing walks, in the day's listing order, is every such
// user, so a position in it stays valid when users appear, change or
// vanish.
type member struct {
	// states[0] is the user before changeAt (or always), states[1] after.
	states [2]*User
	// Relative ticks (1 = the day's first request): changeAt is when
	// states[1] starts (0: never), from when the user appears (0: from the
	// start), until when it is gone (0: never).
	changeAt, from, until int64
	// frozen is the index in Users(tenant, day), -1 for a created user;
	// defects follow frozen users.
	frozen int32
	// key orders the universe (see listingKey).
	key uint64
}

// at is the member's state at relative tick k, nil when it does not exist then.
func (m *member) at(k int64) *User {
	if k < m.from || (m.until > 0 && k >= m.until) {
		return nil
	}
	if m.changeAt > 0 && k >= m.changeAt {
		return m.states[1]
	}
	return m.states[0]
}

// id is the member's user id.
func (m *member) id() string { return m.states[0].ID }

// listingKey places a user in the listing order of tenant t's day d: a
// hash of (tenant, day, id), so the order is not the ids' (real Graph
// promises none), differs from day to day, yet is one fixed order for the
// whole day, which page positions (skip tokens) rely on. Users created
// during the read take their place in it like everyone else.
func (t *tenantData) listingKey(d int, id string) uint64 {
	return hash3(t.salt, uint64(d), idHash(id)^0x11571)
}

// sortListing puts members in listing order: by key, ties by id.
func sortListing(ms []member) {
	slices.SortFunc(ms, func(a, b member) int {
		if c := cmp.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.id(), b.id())
	})
}

// Salts of the churn draws.
const (
	fChurnKind uint64 = 0xc4a9 + iota
	fChurnTick
	fChurnHow
	fChurnPref
	fChurnTime
)

// createdIndex is where the generator indexes of users created during a
// read start: far above any population, so their ids are no one else's.
const createdIndex = 1 << 40

// universe builds the members of tenant t on day d from its frozen
// users, in listing order.
func (t *tenantData) universe(d int, frozen []User, c Churn) []member {
	out := make([]member, len(frozen))
	for j := range frozen {
		out[j] = member{states: [2]*User{&frozen[j]}, frozen: int32(j), key: t.listingKey(d, frozen[j].ID)}
	}
	if !c.enabled() {
		sortListing(out)
		return out
	}
	dayH := hash3(t.salt, uint64(d), 0xc4a8)
	tick := func(h uint64) int64 { return 2 + int64(h%uint64(c.Requests)) }
	for j := range out {
		u := &frozen[j]
		h := hash3(dayH, idHash(u.ID), fChurnKind)
		switch r := unit(h); {
		case r < c.Deleted:
			out[j].until = tick(hash3(dayH, idHash(u.ID), fChurnTick))
		case r < c.Deleted+c.Rate:
			changed := t.churned(u, d, hash3(dayH, idHash(u.ID), fChurnHow))
			out[j].states[1] = &changed
			out[j].changeAt = tick(hash3(dayH, idHash(u.ID), fChurnTick))
		}
	}
	n := int(math.Round(float64(len(frozen)) * c.Created))
	var sc scratch
	for j := range n {
		// The day is part of the index, so each day's new users are new.
		i := createdIndex + d<<21 + j
		u := t.user(i, d, guid(t.h(i, fID1), t.h(i, fID2)), &sc)
		out = append(out, member{states: [2]*User{&u}, from: tick(hash3(dayH, uint64(j), fChurnTick)), frozen: -1,
			key: t.listingKey(d, u.ID)})
	}
	sortListing(out)
	return out
}

func idHash(id string) uint64 {
	f := fnv.New64a()
	f.Write([]byte(id))
	return f.Sum64()
}

// passwordlessPick are the methods a user already registered for MFA
// adds when churn changes them; mfaPick those a user without MFA registers.
func passwordlessPick() []string {
	return []string{"windowsHelloForBusiness", "fido2", "passKeyDeviceBound", "microsoftAuthenticatorPasswordless"}
}

func mfaPick() []string {
	return []string{"microsoftAuthenticatorPush", "mobilePhone", "softwareOneTimePasscode"}
}

// churned is u after its one change during day d, with every derived
// property recomputed from the new methods by graphsim's own table.
func (t *tenantData) churned(u *User, d int, h uint64) User {
	has := make([]bool, len(vocabulary))
	for _, m := range u.MethodsRegistered {
		has[vocabIndex(m)] = true
	}
	switch {
	case u.IsMfaRegistered && h&1 == 0:
		for vi := range vocabulary {
			if vocabulary[vi].mfa {
				has[vi] = false
			}
		}
	case u.IsMfaRegistered:
		pick := passwordlessPick()
		has[vocabIndex(pick[(h>>8)%uint64(len(pick))])] = true
	default:
		pick := mfaPick()
		has[vocabIndex(pick[(h>>8)%uint64(len(pick))])] = true
	}
	nu := *u
	nu.IsMfaRegistered, nu.IsMfaCapable, nu.IsSsprRegistered, nu.IsSsprCapable, nu.IsPasswordlessCapable = false, false, false, false, false
	nu.UserPreferredMethodForSecondaryAuthentication = ""
	var idx []int
	nu.MethodsRegistered = []string{}
	for vi, ok := range has {
		if ok {
			idx = append(idx, vi)
			nu.MethodsRegistered = append(nu.MethodsRegistered, vocabulary[vi].value)
		}
	}
	pref := hash3(t.salt, idHash(u.ID), fChurnPref)
	deriveFlags(&nu, idx, pref, pref>>60 == 0)
	tod := time.Duration(hash3(t.salt, idHash(u.ID), fChurnTime)%(secondsPerDay*1e7)) * 100
	if changed := dayStart(d).Add(tod); changed.After(u.LastUpdatedDateTime) {
		nu.LastUpdatedDateTime = changed
	}
	return nu
}

// vocabIndex is the index of a v1.0 value in vocabulary; every value a
// user carries is in it.
func vocabIndex(v string) int {
	for i := range vocabulary {
		if vocabulary[i].value == v {
			return i
		}
	}
	panic("graphsim: method " + v + " not in the vocabulary")
}

// tenantClock counts a tenant's report requests: the churn clock.
type tenantClock struct {
	mu sync.Mutex
	n  int64
	// base is, per day, the tick before the first request that served
	// it: that day's relative tick 1 is its first request.
	base map[int]int64
}

// tick counts one report request arriving on day d and returns its tick.
func (c *tenantClock) tick(d int) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if _, ok := c.base[d]; !ok {
		if c.base == nil {
			c.base = map[int]int64{}
		}
		c.base[d] = c.n - 1
	}
	return c.n
}

// rel is tick k as a relative tick of day d. A day not served yet starts
// now: every tick so far is before its changes.
func (c *tenantClock) rel(d int, k int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.base[d]
	if !ok {
		b = c.n
	}
	return k - b
}

func (c *tenantClock) now() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Tick is the churn clock of tenant: how many report requests (pages of
// either report and per-id lookups, whatever their outcome, counted
// once the bearer token names the tenant) it has received since New. A
// request is served as of its own tick: the first request after Tick
// returned k has tick k+1. 0 for an unknown tenant.
func (s *Server) Tick(tenant string) int64 {
	c := s.clocks[strings.ToLower(tenant)]
	if c == nil {
		return 0
	}
	return c.now()
}

// TruthUser is one user of a tenant's day as it was between two ticks.
type TruthUser struct {
	ID string
	// Whole reports that the user existed at every tick of the range.
	Whole bool
	// States are the distinct states the user had in the range, in order:
	// one, or two when Churn changed it within the range.
	States []User
}

// Truth describes every user who existed at some tick in [from, to] (see
// Tick) of the tenant's UTC day of day, in ID order: the ground truth a
// test holds a read made between those ticks to. A read that started
// after Tick returned t0 and ended when it returned t1 made its requests
// at ticks t0+1..t1. With Churn off every user is Whole with one state,
// the one Users returns. A day the tenant has not served yet has not
// started changing. Nil for an unknown tenant. The result is the caller's.
func (s *Server) Truth(tenant string, day time.Time, from, to int64) []TruthUser {
	t := s.tenants[strings.ToLower(tenant)]
	if t == nil {
		return nil
	}
	d := dayNumber(day)
	c := s.clocks[t.ID]
	rf, rt := c.rel(d, from), c.rel(d, to)
	var out []TruthUser
	for _, m := range s.days.universe(t, d, s.opts.Churn) {
		if m.from > rt || (m.until > 0 && m.until <= rf) || rf > rt {
			continue
		}
		first, last := m.at(max(rf, m.from)), m.at(rt)
		if m.until > 0 && m.until <= rt {
			last = m.at(m.until - 1)
		}
		tu := TruthUser{ID: m.id(), Whole: m.at(rf) != nil && m.at(rt) != nil, States: []User{cloneUser(*first)}}
		if last != first {
			tu.States = append(tu.States, cloneUser(*last))
		}
		out = append(out, tu)
	}
	slices.SortFunc(out, func(a, b TruthUser) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func cloneUser(u User) User {
	u.MethodsRegistered = slices.Clone(u.MethodsRegistered)
	u.SystemPreferredAuthenticationMethods = slices.Clone(u.SystemPreferredAuthenticationMethods)
	return u
}
