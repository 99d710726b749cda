package extract

import (
	"context"
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
	// down to after repeated 429s; default 0.2 (1 request per 10 s).
	MinRate float64
	// Recovery is how many requests in a row must succeed for a throttled
	// tenant's rate to double again, back up to PerTenant; default 5.
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
		l.Recovery = 5
	}
	return l
}

// Throttle keeps every request of the process under Graph's limits. It is
// shared by all clients, pagers, shards and tenants of a run and safe for
// concurrent use.
//
// Graph counts requests in a window, so the throttle keeps a log of the last
// N send times per tenant and for the app, and lets a request go only when
// it would be at most the N-th in any window: never a 429 from a polite
// client, and a full window's burst at the start. (A token bucket of burst
// N refilled at N per window lets N+1 requests into some window, which is
// exactly what Graph punishes.)
//
// It adapts: a 429 means Graph counts differently from us (another process
// uses the same app, clocks drift), so Pause holds the tenant for the
// Retry-After and halves its rate, down to Limits.MinRate; every
// Limits.Recovery successes in a row double it again up to the limit.
type Throttle struct {
	limits Limits

	mu      sync.Mutex
	tenants map[string]*tenantState
	app     *window
}

// tenantState is the throttle's view of one tenant.
type tenantState struct {
	win    *window
	paused time.Time // no request before
	rate   float64   // share of the limit in use, in [MinRate, 1]
	streak int       // successes since the last change of rate
}

// NewThrottle returns a throttle enforcing l.
func NewThrottle(l Limits) *Throttle {
	l = l.withDefaults()
	return &Throttle{
		limits:  l,
		tenants: map[string]*tenantState{},
		app:     newWindow(l.App, l.AppWindow+l.Margin),
	}
}

// Limits returns the limits in force, defaults filled in.
func (t *Throttle) Limits() Limits { return t.limits }

func (t *Throttle) tenant(id string) *tenantState {
	ts := t.tenants[id]
	if ts == nil {
		ts = &tenantState{win: newWindow(t.limits.PerTenant, t.limits.PerTenantWindow+t.limits.Margin), rate: 1}
		t.tenants[id] = ts
	}
	return ts
}

// Wait blocks until a request for tenant may be sent, and counts it as
// sent now. It returns a Slot, how long it waited, or ctx's error if ctx
// ends first. Call Slot.Sent when the request is actually on the wire.
func (t *Throttle) Wait(ctx context.Context, tenant string) (*Slot, time.Duration, error) {
	start := time.Now()
	for {
		t.mu.Lock()
		now := time.Now()
		ts := t.tenant(tenant)
		at := latest(ts.paused, ts.win.nextAt(now, ts.rate), t.app.next(now))
		if !at.After(now) {
			ts.win.add(now)
			t.app.add(now)
			t.mu.Unlock()
			return &Slot{t: t, tenant: tenant, at: now}, now.Sub(start), nil
		}
		t.mu.Unlock()
		timer := time.NewTimer(at.Sub(now))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, time.Since(start), ctx.Err()
		case <-timer.C:
		}
	}
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
// only itself. throttled says Graph answered 429, which also halves the
// tenant's rate (a 503 with Retry-After only pauses).
func (t *Throttle) Pause(tenant string, d time.Duration, throttled bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ts := t.tenant(tenant)
	if until := time.Now().Add(d); until.After(ts.paused) {
		ts.paused = until
	}
	if throttled {
		ts.rate = max(ts.rate/2, t.limits.MinRate)
		ts.streak = 0
	}
}

// Succeeded records a request of tenant that Graph did not throttle; after
// Limits.Recovery of them in a row a backed-off rate doubles.
func (t *Throttle) Succeeded(tenant string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ts := t.tenant(tenant)
	if ts.rate >= 1 {
		return
	}
	if ts.streak++; ts.streak >= t.limits.Recovery {
		ts.rate, ts.streak = min(ts.rate*2, 1), 0
	}
}

// Rate is the share of the per-tenant limit tenant may use now: 1 unless
// Graph throttled it recently.
func (t *Throttle) Rate(tenant string) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tenant(tenant).rate
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
func (w *window) next(now time.Time) time.Time { return w.nextAt(now, 1) }

// nextAt is next for a rate reduced to share of the limit: the window
// stretches, so the same n requests spread over span/share.
func (w *window) nextAt(now time.Time, share float64) time.Time {
	oldest := w.times[w.oldest()]
	if oldest.IsZero() {
		return now
	}
	if share >= 1 {
		return oldest.Add(w.span)
	}
	return oldest.Add(time.Duration(float64(w.span) / share))
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
