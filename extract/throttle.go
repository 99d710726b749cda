package extract

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// Limits are Graph's request limits for identity and access reports.
// The zero value means the documented defaults.
type Limits struct {
	PerTenant       int           // requests per window per tenant; default 5
	PerTenantWindow time.Duration // default 10 s
	App             int           // requests per window across all tenants; default 122
	AppWindow       time.Duration // default 10 s
	// Margin is added to each window, so that network jitter cannot make
	// two requests sent a window apart arrive closer than that. Default 250 ms.
	Margin time.Duration
	// MinRate is the lowest share of PerTenant the adaptive back-off goes
	// down to after persistent 429s; default 0.2 (1 request per 10 s). The
	// rate moves in whole requests per window, never below one.
	MinRate float64
	// Recovery is how many windows without a 429 a backed-off tenant waits
	// before it sends one more request per window; default 1. (A level
	// Graph keeps refusing waits longer, see Throttle.)
	Recovery int
}

func (l Limits) withDefaults() Limits {
	if l.PerTenant <= 0 {
		l.PerTenant = 5
	}
	if l.PerTenantWindow <= 0 {
		l.PerTenantWindow = 10 * time.Second
	}
	if l.App <= 0 {
		l.App = 122
	}
	if l.AppWindow <= 0 {
		l.AppWindow = 10 * time.Second
	}
	if l.Margin == 0 {
		l.Margin = 250 * time.Millisecond
	}
	if l.MinRate <= 0 || l.MinRate > 1 {
		l.MinRate = 0.2
	}
	if l.Recovery <= 0 {
		l.Recovery = 1
	}
	return l
}

// maxRecovery caps the windows a level is held back: between raises of a
// backed-off tenant, and between probes above a limit found.
const maxRecovery = 32

// Throttle keeps every request of the process under Graph's limits. It is
// shared by all clients, pagers, shards and tenants of a run and safe for
// concurrent use.
//
// Graph counts requests in a window, so the throttle keeps a log of the last
// N send times per tenant and for the app, and lets a request go only when
// it would be at most the N-th in any window: never a 429 from a polite
// client, and a full window's burst at the start. (A token bucket of burst
// N refilled at N per window lets N+1 requests into some window, which is
// exactly what Graph punishes.) A backed-off tenant keeps the same log with
// a smaller count k: at most k requests in any window, so a rate lowered to
// a real limit of k is never exceeded by a burst either (a stretched window
// of N requests would still send N at once).
//
// It adapts, because a 429 may mean Graph counts differently from us
// (another process uses the same app, a tenant's real limit is lower than
// documented), but a 429 may as well say nothing about our rate: Graph and
// its gateways throttle at random under load. Pause holds the whole tenant
// for the Retry-After either way. The rate (k requests per window) comes
// down only when 429s persist, and at most once per window however many
// shards were refused at once (four shards refused together are one piece
// of evidence, not four; halving per 429 took four shards straight to the
// floor on noise):
//
//   - A real limit L below k lets L requests through and refuses the next,
//     whose Retry-After holds the rest, window after window: when Graph
//     let the same number L through between refusals limitEvidence times
//     in a row (random 429s leave gaps of every length), k goes straight
//     to L rather than trying each level on the way, and the levels above
//     are held back for probeWindows × Limits.Recovery windows, doubled
//     each time a probe is refused, never more than maxRecovery windows
//     (with the defaults: 12, 24, then 32). A probe above a limit found
//     is taken back down by its first 429: a real limit of 3 costs two
//     refusals in the first burst, one in each of the next two windows
//     and one per probe, under a tenth of a night's requests, first
//     windows included. Answers to one burst come back in any order, so
//     those within burstSlack of a refusal count before it.
//   - Otherwise one less when two 429s fall in one window, or when more
//     than one in five of at least minEvidence requests answered at k
//     were refused (a limit the gaps did not show); the latter also holds
//     k back for four windows, twice as long each time.
//
// The rate goes up by one request per window after Limits.Recovery
// windows without a 429: a random 429 costs a window, not the run.
type Throttle struct {
	limits Limits
	now    func() time.Time // time.Now; tests move a fake clock

	mu      sync.Mutex
	tenants map[string]*tenantState
	app     *window
	seq     uint64 // waiters so far
}

// tenantState is the throttle's view of one tenant.
type tenantState struct {
	win    *window
	paused time.Time // no request before
	// level is how many requests per window the tenant may send now, in
	// [floor, PerTenant].
	level int
	// changed is when level last changed, lowered when it last came
	// down (at most once per window).
	changed, lowered time.Time
	// throttled and succeeded are the 429s and successes of the last window.
	throttled []time.Time
	succeeded []time.Time
	// Per level (index 0 unused): requests answered and refused at it,
	// and until when it is not raised to again, for how many windows the
	// last time.
	sent, refused []int
	blocked       []time.Time
	backoff       []int
	// found is the limit the persistent 429s showed (0: none yet); a
	// level above it is a probe, which one 429 takes back down.
	found int
	// gap is the requests answered since the last refusal, gaps the
	// last limitEvidence of them at refusals; a refusal before
	// refusedUntil (the last one's Retry-After) was in flight with it,
	// and is not a new one.
	gap          int
	gaps         []gap
	refusedAt    time.Time // the last new refusal
	refusedUntil time.Time
	// waiters are the requests in Wait; wake is closed when one leaves
	// (a slot taken or given up), or the level rises.
	waiters []*waiter
	wake    chan struct{}
}

// NewThrottle returns a throttle enforcing l.
func NewThrottle(l Limits) *Throttle {
	l = l.withDefaults()
	return &Throttle{
		limits:  l,
		now:     time.Now,
		tenants: map[string]*tenantState{},
		app:     newWindow(l.App, l.AppWindow+l.Margin),
	}
}

// Limits returns the limits in force, defaults filled in.
func (t *Throttle) Limits() Limits { return t.limits }

// span is the tenant window the throttle keeps, margin included.
func (t *Throttle) span() time.Duration { return t.limits.PerTenantWindow + t.limits.Margin }

// floor is the fewest requests per window a tenant is brought down to.
func (t *Throttle) floor() int {
	return max(1, int(math.Ceil(t.limits.MinRate*float64(t.limits.PerTenant)-1e-9)))
}

func (t *Throttle) tenant(id string) *tenantState {
	ts := t.tenants[id]
	if ts == nil {
		n := t.limits.PerTenant
		ts = &tenantState{win: newWindow(n, t.span()), level: n,
			sent: make([]int, n+2), refused: make([]int, n+2), blocked: make([]time.Time, n+2), backoff: make([]int, n+2),
			wake: make(chan struct{})}
		t.tenants[id] = ts
	}
	return ts
}

// Wait blocks until a request for tenant may be sent, and counts it as
// sent now. It returns a Slot, how long it waited, or ctx's error if ctx
// ends first. Call Slot.Sent when the request is actually on the wire.
//
// Requests of a tenant that wait together get the slots in order of
// priority (see WithPriority), the same priority first come first served:
// the run lasts as long as its longest chain of pages, so a free slot
// goes to the chain with the most pages left, not to whichever timer
// fires first.
func (t *Throttle) Wait(ctx context.Context, tenant string) (*Slot, time.Duration, error) {
	start := t.now()
	t.mu.Lock()
	ts := t.tenant(tenant)
	t.seq++
	w := &waiter{prio: priorityOf(ctx), seq: t.seq}
	ts.waiters = append(ts.waiters, w)
	t.mu.Unlock()
	for {
		t.mu.Lock()
		now := t.now()
		at := t.next(ts, now)
		if !at.After(now) && ts.first() == w {
			t.take(ts, now)
			ts.leave(w)
			t.mu.Unlock()
			return &Slot{t: t, tenant: tenant, at: now}, now.Sub(start), nil
		}
		// Not yet, or a request of more priority goes first: wait for
		// the window, or for the queue to move.
		wake := ts.wake
		t.mu.Unlock()
		var timer *time.Timer
		var fired <-chan time.Time
		if at.After(now) {
			timer = time.NewTimer(at.Sub(now))
			fired = timer.C
		}
		select {
		case <-ctx.Done():
			t.mu.Lock()
			ts.leave(w)
			t.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return nil, t.now().Sub(start), ctx.Err()
		case <-fired:
		case <-wake:
			if timer != nil {
				timer.Stop()
			}
		}
	}
}

// next is when the tenant's next request may go: after its pause, when
// its window and the app's have room.
func (t *Throttle) next(ts *tenantState, now time.Time) time.Time {
	return latest(ts.paused, ts.win.nextAt(now, ts.level), t.app.next(now))
}

// take counts a request of the tenant as sent at now.
func (t *Throttle) take(ts *tenantState, now time.Time) {
	ts.win.add(now)
	t.app.add(now)
}

// gap is how many requests Graph answered before a refusal, since the
// one before, and the level the refusal came at.
type gap struct{ answered, level int }

// waiter is one request waiting in Throttle.Wait.
type waiter struct {
	prio int
	seq  uint64 // order of arrival
}

// first is the waiter that gets the next slot: the highest priority,
// then the earliest.
func (ts *tenantState) first() *waiter {
	var f *waiter
	for _, w := range ts.waiters {
		if f == nil || w.prio > f.prio || w.prio == f.prio && w.seq < f.seq {
			f = w
		}
	}
	return f
}

// leave removes w from the queue and wakes the other waiters, one of
// which may now be first.
func (ts *tenantState) leave(w *waiter) {
	ts.waiters = slices.DeleteFunc(ts.waiters, func(o *waiter) bool { return o == w })
	ts.broadcast()
}

// broadcast wakes every waiter of the tenant to look again.
func (ts *tenantState) broadcast() {
	close(ts.wake)
	ts.wake = make(chan struct{})
}

type priorityKey struct{}

// WithPriority returns a context whose requests go before those of lower
// priority when several requests of the same tenant wait for a slot.
// pagesLeft is how many pages the request's chain (a shard's listing) is
// expected to have left, this one included: the run ends with its
// longest chain, so the longest goes first. Zero or less is no priority,
// the same as a context without one.
func WithPriority(ctx context.Context, pagesLeft int) context.Context {
	return context.WithValue(ctx, priorityKey{}, max(pagesLeft, 0))
}

func priorityOf(ctx context.Context) int {
	p, _ := ctx.Value(priorityKey{}).(int)
	return p
}

// Slot is one request's place in the windows.
type Slot struct {
	t      *Throttle
	tenant string
	at     time.Time // guarded by t.mu
}

// Sent moves the slot to when the request was written. Graph counts a
// request when it arrives, and a new connection's TLS handshake or a busy
// machine can put a second between the slot and the wire: counted at the
// slot, the next window's first request would arrive inside Graph's
// window of this one. A request written twice (a retried dead keep-alive
// connection) moves again.
func (s *Slot) Sent(when time.Time) {
	if s == nil {
		return
	}
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if !when.After(s.at) {
		return
	}
	if ts := s.t.tenants[s.tenant]; ts != nil {
		ts.win.move(s.at, when)
	}
	s.t.app.move(s.at, when)
	s.at = when
}

// Pause holds every request of tenant for d, as Graph asks with
// Retry-After: one throttled request pauses all shards of the tenant, not
// only itself. throttled says Graph answered 429, which lowers the
// tenant's rate when 429s persist (see Throttle); a 503 with Retry-After
// only pauses.
func (t *Throttle) Pause(tenant string, d time.Duration, throttled bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	ts := t.tenant(tenant)
	if until := now.Add(d); until.After(ts.paused) {
		ts.paused = until
	}
	if !throttled {
		return
	}
	if !now.Before(ts.refusedUntil) {
		// A new refusal, not one of the requests in flight when the
		// last one paused the tenant: how many Graph let through since
		// the last is evidence of a limit.
		ts.gaps = append(ts.gaps, gap{ts.gap, ts.level})
		ts.gaps = ts.gaps[max(0, len(ts.gaps)-limitEvidence):]
		ts.gap = 0
		ts.refusedAt = now
	}
	ts.refusedUntil = latest(ts.refusedUntil, now.Add(d))
	span := t.span()
	ts.throttled = append(recent(ts.throttled, now, span), now)
	ts.succeeded = recent(ts.succeeded, now, span)
	k := ts.level
	ts.sent[k]++
	ts.refused[k]++
	if t.judgeGaps(ts, now) {
		return
	}
	if !ts.lowered.IsZero() && now.Sub(ts.lowered) < span || k <= t.floor() {
		return // one decrease per window, however many shards were refused
	}
	switch {
	case ts.found > 0 && k > ts.found:
		// A probe above the limit found earlier, refused: back to the
		// limit at once, and not tried again for twice as long.
		ts.level = ts.found
		t.block(ts, k, now)
	case len(ts.throttled) >= 2:
		// Refused twice in a window: one less. (Not down to what
		// Graph let through: random 429s come in pairs too, and a real
		// limit shows at the lower level in a window or two.)
		ts.level = k - 1
	case ts.sent[k] >= minEvidence && ts.refused[k]*5 > ts.sent[k]:
		// More than one in five refused at this level, over enough
		// requests to tell a limit from Graph's noise: one less, and
		// this level is not tried again for four windows, twice as long
		// each time it is refused again.
		ts.level = k - 1
		ts.backoff[k] = min(max(2*ts.backoff[k], 4*t.limits.Recovery), maxRecovery)
		ts.blocked[k] = now.Add(time.Duration(ts.backoff[k]) * span)
	default:
		return // a lone 429: Graph's noise until it persists
	}
	ts.changed, ts.lowered = now, now
}

// judgeGaps lowers the tenant's level to a limit its gaps show, and
// reports whether it did. Graph let the same number of requests through
// between refusals, time after time: that is a limit (random 429s leave
// gaps of every length, and none of no request at all), so the level goes
// straight to it rather than trying each level on the way, a window or two
// of refusals each; it may come down further in the window of another
// decrease. The levels above are held for probeWindows, twice as long
// each time a probe is refused again.
func (t *Throttle) judgeGaps(ts *tenantState, now time.Time) bool {
	if len(ts.gaps) < limitEvidence {
		return false
	}
	g := ts.gaps[0].answered
	// A limit of g refuses only at levels above g: random 429s at g
	// itself, one a window, leave gaps of g too.
	if g < 1 || g > ts.level || g == ts.found || slices.ContainsFunc(ts.gaps, func(o gap) bool { return o.answered != g || o.level <= g }) {
		return false
	}
	// (At g itself, other rules got there first: it is found all the
	// same, so that the level above is held back.)
	k := ts.level
	ts.level = max(t.floor(), g)
	ts.found = ts.level
	t.block(ts, max(k, ts.level+1), now)
	ts.changed, ts.lowered = now, now
	return true
}

// burstSlack is how soon after a refusal an answer still belongs to the
// same burst of requests: sent together, answered in any order.
const burstSlack = time.Second

// block keeps the levels above the tenant's level up to k from being
// tried again for k's back-off, which doubles each time, from
// probeWindows up to maxRecovery windows.
func (t *Throttle) block(ts *tenantState, k int, now time.Time) {
	ts.backoff[k] = min(max(2*ts.backoff[k], probeWindows*t.limits.Recovery), maxRecovery)
	until := now.Add(time.Duration(ts.backoff[k]) * t.span())
	for j := ts.level + 1; j <= k; j++ {
		ts.blocked[j] = latest(ts.blocked[j], until)
	}
}

// limitEvidence is how many refusals in a row, each after the same
// number of requests let through, show a limit: random 429s at 10 % give
// three equal gaps of at most four requests about three times in a
// thousand.
const limitEvidence = 3

// probeWindows is how many windows a level found too high is held back
// before it is tried again: a probe of a real limit costs a refusal, so
// it is made only after a long clean stretch.
const probeWindows = 12

// minEvidence is how many requests at a level it takes to judge its share
// of 429s: about four windows' worth, as two windows of random 429s at 10
// to 17 % refuse one in five too often (at eight, three of twenty
// simulated fault-mix nights sank to 1 or 2 requests per window and ran
// past 1.3x the bound). A real limit is found from the gaps first.
const minEvidence = 16

// Succeeded records a request of tenant that Graph did not throttle; after
// Limits.Recovery windows without a 429 a backed-off tenant sends one more
// request per window, unless that level was refused of late.
func (t *Throttle) Succeeded(tenant string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	span := t.span()
	ts := t.tenant(tenant)
	ts.succeeded = append(recent(ts.succeeded, now, span), now)
	ts.sent[ts.level]++
	if n := len(ts.gaps); n > 0 && now.Sub(ts.refusedAt) < burstSlack {
		// Answered just after a refusal: sent in the same burst, before
		// it, so Graph let it through ahead of the refusal.
		ts.gaps[n-1].answered++
		if t.judgeGaps(ts, now) {
			return
		}
	} else {
		ts.gap++
	}
	quiet := ts.changed
	if n := len(ts.throttled); n > 0 && ts.throttled[n-1].After(quiet) {
		quiet = ts.throttled[n-1]
	}
	if ts.found > 0 && ts.level > ts.found && now.Sub(quiet) >= span {
		ts.found = ts.level // a probe that held for a window: a higher limit
	}
	if ts.level >= t.limits.PerTenant || now.Before(ts.blocked[ts.level+1]) {
		return
	}
	if now.Sub(quiet) >= time.Duration(t.limits.Recovery)*span {
		ts.level, ts.changed = ts.level+1, now
		ts.broadcast()
	}
}

// Rate is the share of the per-tenant limit tenant may use now: 1 unless
// Graph throttled it persistently of late.
func (t *Throttle) Rate(tenant string) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return float64(t.tenant(tenant).level) / float64(t.limits.PerTenant)
}

// recent drops the times of ts older than span before now, in place; ts
// is in time order.
func recent(ts []time.Time, now time.Time, span time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= span {
		i++
	}
	return append(ts[:0], ts[i:]...)
}

func latest(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

// window holds the last n send times. n is small (5 per tenant, 122 for
// the app), so it is scanned rather than kept sorted: Slot.Sent moves an
// entry later, out of insertion order.
type window struct {
	span  time.Duration
	times []time.Time
}

func newWindow(n int, span time.Duration) *window {
	return &window{span: span, times: make([]time.Time, n)}
}

// oldest is the index of the earliest entry; a zero entry is a free slot.
func (w *window) oldest() int {
	o := 0
	for i, t := range w.times {
		if t.IsZero() {
			return i
		}
		if t.Before(w.times[o]) {
			o = i
		}
	}
	return o
}

// next is the earliest time a request may be sent: when the earliest of
// the last n sends leaves the window.
func (w *window) next(now time.Time) time.Time { return w.nextAt(now, len(w.times)) }

// nextAt is next for a tenant allowed only k of the window's n
// requests: when the k-th most recent send leaves the window.
func (w *window) nextAt(now time.Time, k int) time.Time {
	if k >= len(w.times) {
		oldest := w.times[w.oldest()]
		if oldest.IsZero() {
			return now
		}
		return oldest.Add(w.span)
	}
	sent := make([]time.Time, 0, len(w.times))
	for _, t := range w.times {
		if !t.IsZero() {
			sent = append(sent, t)
		}
	}
	if len(sent) < k {
		return now
	}
	slices.SortFunc(sent, func(a, b time.Time) int { return b.Compare(a) })
	return sent[k-1].Add(w.span)
}

// add records a send, in place of the earliest.
func (w *window) add(t time.Time) { w.times[w.oldest()] = t }

// move changes the entry recorded at from to to.
func (w *window) move(from, to time.Time) {
	for i, t := range w.times {
		if t.Equal(from) {
			w.times[i] = to
			return
		}
	}
}
