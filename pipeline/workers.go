package pipeline

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/credreg/credreg/extract"
)

// Scale-out: a run spread over count workers — the tasks of a Kubernetes
// Indexed Job or a Cloud Run job, each a process of its own that knows
// only its index and the count — with no coordinator between them. Each
// worker computes the same assignment from the same config, takes its own
// tenants, and keeps to its share of the app-wide rate.

// AssignTenants returns the tenants of worker index (0 to count-1) of
// count, in the order given. Over the count workers, every tenant falls to
// exactly one. count ≤ 1 is one worker that takes every tenant; an index
// outside 0…count-1 takes none.
//
// A tenant's worker depends only on its id (any case) and count — never
// on the config's order or on which other tenants it lists — so every
// worker reading the same config agrees without talking to the others,
// and adding or removing a tenant moves no other tenant.
func AssignTenants(tenants []TenantSource, index, count int) []TenantSource {
	var out []TenantSource
	for _, t := range tenants {
		if WorkerOf(t.ID, count) == index {
			out = append(out, t)
		}
	}
	return out
}

// WorkerOf is the worker (0 to count-1) that takes tenant id; 0 when
// count ≤ 1.
//
// It is rendezvous (highest-random-weight) hashing: every worker gets a
// score from a hash of (tenant, worker) and the highest score takes the
// tenant. Changing count from N to N+1 moves only the tenants the new
// worker now wins, about 1/(N+1) of them, and from N+1 to N only the
// removed worker's; hash(tenant) mod N would move most tenants. Fewer
// moves matter when count changes while a night's job still runs, or a
// worker retries under the old count: a moved tenant is then in two
// workers at once (its slice lease makes the second wait or fail with
// exit 7), and its logs and failures move to another worker index.
//
// The hash is SHA-256, fixed here for good: a worker built from another
// release must compute the same assignment (workers_test.go pins it).
func WorkerOf(id string, count int) int {
	if count <= 1 {
		return 0
	}
	key := strings.ToLower(id)
	best, bestScore := 0, uint64(0)
	for w := range count {
		if s := workerScore(key, w); w == 0 || s > bestScore {
			best, bestScore = w, s
		}
	}
	return best
}

// workerScore is worker w's score for the tenant (lower-cased) id.
func workerScore(id string, w int) uint64 {
	sum := sha256.Sum256([]byte(id + "\x00" + strconv.Itoa(w)))
	return binary.BigEndian.Uint64(sum[:8])
}

// ShareAppLimit returns l with the app-wide limit cut to one worker's
// share of count: floor(App/count), at least 1, so that count workers
// together send no more than Graph's app limit (122 per 10 s) allows. The
// per-tenant limit is unchanged: a tenant is on one worker only. A zero
// App means the default (extract.Limits); count ≤ 1 leaves l as it is.
// With more workers than App requests per window each still gets 1, and
// together they can exceed the limit: the caller should warn.
func ShareAppLimit(l extract.Limits, count int) extract.Limits {
	if count <= 1 {
		return l
	}
	app := l.App
	if app <= 0 {
		app = extract.NewThrottle(extract.Limits{}).Limits().App
	}
	l.App = max(1, app/count)
	return l
}
