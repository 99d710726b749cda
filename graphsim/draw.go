package graphsim

import (
	"context"
	"hash/fnv"
	"sync"
	"time"
)

// draw seeds every random choice graphsim makes for one report request (the
// fault, its variant, the latency jitter). It is a hash of what the client
// asked for, (Seed, tenant, request target, occurrence), never of the
// order requests arrive in: a client running shards concurrently then
// meets the same faults in every run, whatever its goroutines' schedule.
type draw uint64

// Salts naming the independent choices drawn for one request.
const (
	drawFault uint64 = iota + 1
	drawUnavailableRetryAfter
	drawTruncateVariant
	drawLatency
)

func (d draw) bits(salt uint64) uint64 { return hash3(uint64(d), salt, 0xd2a3) }

func (d draw) unit(salt uint64) float64 { return unit(d.bits(salt)) }

func newDraw(seed int64, tenant, target string, occurrence int) draw {
	h := fnv.New64a()
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(target))
	return draw(hash3(uint64(seed), h.Sum64(), uint64(occurrence)))
}

type targetKey struct{ tenant, target string }

// occurrences counts the requests of each (tenant, target), so that a
// retry of the same request draws afresh, yet reproducibly. It keeps one
// entry per page a client ever asked for: a few thousand a day even for
// large tenants, so it is never pruned.
type occurrences struct {
	mu   sync.Mutex
	seen map[targetKey]int
}

// next returns how many times k was requested before, and counts this one.
func (o *occurrences) next(k targetKey) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen == nil {
		o.seen = map[targetKey]int{}
	}
	n := o.seen[k]
	o.seen[k] = n + 1
	return n
}

// latencyJitter is the share of Options.Latency a page may deviate by.
const latencyJitter = 0.2

// pageLatency is the time spent "building" one page: lat within ±20 %.
func pageLatency(lat time.Duration, d draw) time.Duration {
	if lat <= 0 {
		return 0
	}
	f := 1 - latencyJitter + 2*latencyJitter*d.unit(drawLatency)
	return time.Duration(float64(lat) * f)
}

// sleepCtx waits for wait, or less when ctx ends first (the client went
// away, or the server is closing); it reports whether it waited in full.
func sleepCtx(ctx context.Context, wait time.Duration) bool {
	if wait <= 0 {
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
