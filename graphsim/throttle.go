package graphsim

import (
	"sync"
	"time"
)

// limiter enforces Graph's documented limits for identity and access
// reports with sliding windows: at most PerTenant admitted requests per
// tenant in any PerTenantWindow, and at most App across all tenants in any
// AppWindow. A refused request is not recorded, so it takes no slot and a
// client that waits as told gets through.
type limiter struct {
	mu           sync.Mutex
	tenantLog    map[string][]time.Time // admission times, oldest first
	appLog       []time.Time
	disabled     bool
	perTenant    int
	app          int
	tenantWindow time.Duration
	appWindow    time.Duration
}

func newLimiter(l Limits) *limiter {
	orDefault := func(v, d int) int {
		if v <= 0 {
			return d
		}
		return v
	}
	orDefaultD := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	return &limiter{
		tenantLog:    map[string][]time.Time{},
		disabled:     l.Disabled,
		perTenant:    orDefault(l.PerTenant, 5),
		app:          orDefault(l.App, 122),
		tenantWindow: orDefaultD(l.PerTenantWindow, 10*time.Second),
		appWindow:    orDefaultD(l.AppWindow, 10*time.Second),
	}
}

// admit records a request of tenant at now and reports true, or reports
// false and how long until a slot frees for it.
func (l *limiter) admit(tenant string, now time.Time) (wait time.Duration, ok bool) {
	if l.disabled {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	tl := expire(l.tenantLog[tenant], now, l.tenantWindow)
	l.appLog = expire(l.appLog, now, l.appWindow)
	if len(tl) >= l.perTenant {
		wait = tl[len(tl)-l.perTenant].Add(l.tenantWindow).Sub(now)
	}
	if len(l.appLog) >= l.app {
		wait = max(wait, l.appLog[len(l.appLog)-l.app].Add(l.appWindow).Sub(now))
	}
	if wait > 0 {
		l.tenantLog[tenant] = tl
		return wait, false
	}
	l.tenantLog[tenant] = append(tl, now)
	l.appLog = append(l.appLog, now)
	return 0, true
}

// expire drops the admissions that left the window ending at now.
func expire(log []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(log) && !log[i].Add(window).After(now) {
		i++
	}
	if i == len(log) {
		return log[:0]
	}
	return log[i:]
}
