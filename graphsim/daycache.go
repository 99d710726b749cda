package graphsim

import (
	"slices"
	"strings"
	"sync"
)

// dayCacheSize bounds how many generated days stay in memory. A listing
// touches one day; a backfill walks days in order; so a handful is plenty.
const dayCacheSize = 4

type dayKey struct {
	tenant string
	day    int
}

type dayEntry struct {
	once  sync.Once
	users []User
	// members is the day's universe under the server's Churn, built on
	// first use from users.
	membersOnce sync.Once
	members     []member
	// byID is members' positions in ID order, for lookups by id, built
	// on first use.
	byIDOnce sync.Once
	byID     []int32
}

// dayCache holds the generated population of the most recently used
// (tenant, day) pairs. Concurrent requests for the same day generate it once.
type dayCache struct {
	mu      sync.Mutex
	entries map[dayKey]*dayEntry
	recent  []dayKey // least recently used first
}

func newDayCache() *dayCache { return &dayCache{entries: map[dayKey]*dayEntry{}} }

// users returns the tenant's users on day d, sorted by ID. The slice is
// shared: callers must not modify it.
func (c *dayCache) users(t *tenantData, d int) []User {
	return c.entry(t, d).users
}

// universe returns the members of the tenant's day d under churn ch, in
// the day's listing order. ch must be the same for every call (the
// server's Churn). The slice is shared: callers must not modify it.
func (c *dayCache) universe(t *tenantData, d int, ch Churn) []member {
	return c.members(c.entry(t, d), t, d, ch)
}

func (c *dayCache) members(e *dayEntry, t *tenantData, d int, ch Churn) []member {
	e.membersOnce.Do(func() { e.members = t.universe(d, e.users, ch) })
	return e.members
}

// find returns the member of the tenant's day d (under churn ch) whose id
// is id (lowercase), nil when none is.
func (c *dayCache) find(t *tenantData, d int, ch Churn, id string) *member {
	e := c.entry(t, d)
	uni := c.members(e, t, d, ch)
	e.byIDOnce.Do(func() {
		e.byID = make([]int32, len(uni))
		for i := range e.byID {
			e.byID[i] = int32(i)
		}
		slices.SortFunc(e.byID, func(a, b int32) int { return strings.Compare(uni[a].id(), uni[b].id()) })
	})
	i, ok := slices.BinarySearchFunc(e.byID, id, func(p int32, id string) int { return strings.Compare(uni[p].id(), id) })
	if !ok {
		return nil
	}
	return &uni[e.byID[i]]
}

func (c *dayCache) entry(t *tenantData, d int) *dayEntry {
	k := dayKey{t.ID, d}
	c.mu.Lock()
	e, ok := c.entries[k]
	if ok {
		c.recent = slices.DeleteFunc(c.recent, func(x dayKey) bool { return x == k })
	} else {
		e = &dayEntry{}
		c.entries[k] = e
		if len(c.recent) >= dayCacheSize {
			delete(c.entries, c.recent[0])
			c.recent = c.recent[1:]
		}
	}
	c.recent = append(c.recent, k)
	c.mu.Unlock()
	e.once.Do(func() { e.users = t.users(d) })
	return e
}
