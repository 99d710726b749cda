package graphsim

import (
	"fmt"
	"slices"
	"sync"
)

// Withhold makes the v1.0 listing of a tenant serve one page with user
// records silently left out: the page is otherwise as it would be, and its
// next link goes on where it would have, so a client sees nothing wrong. It
// is the fault a check against Graph's own aggregates exists to catch (a
// lost page of a shard). The same page withholds the same records every
// time it is served, retries included.
type Withhold struct {
	// Filter selects the listing: its $filter exactly as the client sends
	// it, after URL decoding ("isMfaRegistered eq true"); "" the unfiltered
	// listing. Listings with any other $filter are not touched.
	Filter string
	// Page is the 1-based number of the page in that listing, counting the
	// pages EmptyPageEvery leaves empty (a page left empty has nothing to
	// withhold: with the default 4, pick a page that is not a multiple of 4).
	Page int
	// Records is how many of the page's user records, from its first, are
	// left out; 0 means all of them. Injected defect records stay.
	Records int
}

func checkWithhold(t Tenant) error {
	for j, w := range t.Withhold {
		if w.Page < 1 || w.Records < 0 {
			return fmt.Errorf("graphsim: tenant %s: withhold %d: Page %d, Records %d: want Page >= 1 and Records >= 0",
				t.ID, j, w.Page, w.Records)
		}
		if w.Filter != "" {
			if _, err := parseFilter(reports[0], w.Filter); err != nil {
				return fmt.Errorf("graphsim: tenant %s: withhold %d: filter %q: %w", t.ID, j, w.Filter, err)
			}
		}
	}
	return nil
}

// withhold drops from records, page page of the listing with $filter
// filter, what t.Withhold says, and returns the rest with the ids dropped.
func withhold(t *tenantData, filter string, page uint32, records []listed) ([]listed, []string) {
	n := -1 // how many user records to drop; -1 none
	for _, w := range t.Withhold {
		if w.Filter == filter && uint32(w.Page) == page {
			n = max(n, w.Records)
			if w.Records == 0 {
				n = len(records)
				break
			}
		}
	}
	if n <= 0 {
		return records, nil
	}
	var kept []listed
	var dropped []string
	for _, l := range records {
		if l.defect == 0 && len(dropped) < n {
			dropped = append(dropped, l.user.ID)
			continue
		}
		kept = append(kept, l)
	}
	return kept, dropped
}

// withheldLog remembers the ids of every user record withheld, per tenant.
type withheldLog struct {
	mu  sync.Mutex
	ids map[string]map[string]bool // tenant -> user ids
}

func (l *withheldLog) add(tenant string, ids []string) {
	if len(ids) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids == nil {
		l.ids = map[string]map[string]bool{}
	}
	if l.ids[tenant] == nil {
		l.ids[tenant] = map[string]bool{}
	}
	for _, id := range ids {
		l.ids[tenant][id] = true
	}
}

func (l *withheldLog) list(tenant string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for id := range l.ids[tenant] {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
