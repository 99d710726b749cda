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
	return l
}

// Throttle keeps every request of the process under Graph's limits. It is
// shared by all clients, pagers and tenants of a run and safe for concurrent
// use.
//
// Graph counts requests in a window, so the throttle keeps a log of the last
// N send times per tenant and for the app, and lets a request go only when
// it would be at most the N-th in any window: never a 429 from a polite
// client, and a full window's burst at the start.
type Throttle struct {
	limits Limits

	mu      sync.Mutex
	tenants map[string]*window
	app     *window
	paused  map[string]time.Time // tenant → no request before
}

// NewThrottle returns a throttle enforcing l.
func NewThrottle(l Limits) *Throttle {
	l = l.withDefaults()
	return &Throttle{
		limits:  l,
		tenants: map[string]*window{},
		app:     newWindow(l.App, l.AppWindow+l.Margin),
		paused:  map[string]time.Time{},
	}
}

// Wait blocks until a request for tenant may be sent, and counts it as
// sent. It returns how long it waited, or ctx's error if ctx ends first.
func (t *Throttle) Wait(ctx context.Context, tenant string) (time.Duration, error) {
	start := time.Now()
	for {
		t.mu.Lock()
		now := time.Now()
		w := t.tenants[tenant]
		if w == nil {
			w = newWindow(t.limits.PerTenant, t.limits.PerTenantWindow+t.limits.Margin)
			t.tenants[tenant] = w
		}
		at := latest(t.paused[tenant], w.next(now), t.app.next(now))
		if !at.After(now) {
			w.add(now)
			t.app.add(now)
			t.mu.Unlock()
			return now.Sub(start), nil
		}
		t.mu.Unlock()
		timer := time.NewTimer(at.Sub(now))
		select {
		case <-ctx.Done():
			timer.Stop()
			return time.Since(start), ctx.Err()
		case <-timer.C:
		}
	}
}

// Pause holds every request for tenant for d, as Graph asks with
// Retry-After: one throttled request pauses all shards of the tenant, not
// only itself.
func (t *Throttle) Pause(tenant string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	until := time.Now().Add(d)
	if until.After(t.paused[tenant]) {
		t.paused[tenant] = until
	}
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

// window is a ring of the last n send times.
type window struct {
	span  time.Duration
	times []time.Time
	head  int
}

func newWindow(n int, span time.Duration) *window {
	return &window{span: span, times: make([]time.Time, n)}
}

// next is the earliest time a request may be sent: when the oldest of the
// last n sends leaves the window.
func (w *window) next(now time.Time) time.Time {
	oldest := w.times[w.head]
	if oldest.IsZero() {
		return now
	}
	return oldest.Add(w.span)
}

func (w *window) add(t time.Time) {
	w.times[w.head] = t
	w.head = (w.head + 1) % len(w.times)
}
