package extract

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// newFakeThrottle is a throttle of 5 requests per 10 s (no margin) on a
// fake clock.
func newFakeThrottle(l Limits) (*Throttle, *fakeClock) {
	l.PerTenant, l.PerTenantWindow, l.Margin = 5, 10*time.Second, -1
	th := NewThrottle(l)
	clk := &fakeClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	th.now = clk.Now
	return th, clk
}

// level is the tenant's requests per window now.
func level(th *Throttle, tenant string) int {
	return int(th.Rate(tenant)*float64(th.Limits().PerTenant) + 0.5)
}

// simulate sends, for each of windows windows of 10 s, as many requests as
// the throttle allows the tenant, spread over the window; refused says
// whether Graph answers the i-th request of window w with 429. It returns
// the requests sent and the 429s, in the second half of the windows.
func simulate(th *Throttle, clk *fakeClock, windows int, refused func(w, i int) bool) (sent, throttled int, levels []int) {
	start := clk.Now()
	span := th.span()
	for w := range windows {
		n := level(th, "t")
		levels = append(levels, n)
		for i := range n {
			clk.set(start.Add(time.Duration(w)*span + time.Duration(i)*span/time.Duration(n)))
			r := refused(w, i)
			if w >= windows/2 {
				sent++
				if r {
					throttled++
				}
			}
			if r {
				th.Pause("t", time.Second, true)
			} else {
				th.Succeeded("t")
			}
		}
	}
	return sent, throttled, levels
}

// Four shards refused at once are one piece of evidence: the rate comes
// down once in that window, not to the floor, and comes back within a few
// windows once requests succeed.
func TestThrottleOneDecreasePerWindow(t *testing.T) {
	th, clk := newFakeThrottle(Limits{})
	now := clk.Now()
	th.Succeeded("t")
	for range 4 {
		th.Pause("t", time.Second, true)
	}
	if got := level(th, "t"); got != 4 {
		t.Fatalf("four 429s at once: %d requests per window, want 4 (one decrease)", got)
	}
	clk.set(now.Add(9 * time.Second))
	th.Pause("t", time.Second, true)
	th.Pause("t", time.Second, true)
	if got := level(th, "t"); got != 4 {
		t.Fatalf("more 429s in the same window: %d, want still 4", got)
	}
	// The next window refused twice again: one more decrease.
	clk.set(now.Add(11 * time.Second))
	th.Pause("t", time.Second, true)
	if got := level(th, "t"); got != 3 {
		t.Fatalf("429s persisting into the next window: %d, want 3", got)
	}
	// A quiet window brings back one request per window.
	for i, want := range []int{3, 4, 5, 5} {
		clk.set(now.Add(11*time.Second + time.Duration(i)*10*time.Second + 5*time.Second))
		th.Succeeded("t")
		if got := level(th, "t"); got != want {
			t.Fatalf("%ds after the last 429: %d requests per window, want %d", i*10+5, got, want)
		}
	}
	if th.Rate("other") != 1 {
		t.Error("another tenant was slowed down")
	}
}

// A lone 429 pauses but does not slow down; a 503 never slows down.
func TestThrottleLoneAndUnavailable(t *testing.T) {
	th, clk := newFakeThrottle(Limits{})
	th.Pause("t", time.Second, false)
	th.Pause("t", time.Second, false)
	if th.Rate("t") != 1 {
		t.Errorf("503s lowered the rate to %v", th.Rate("t"))
	}
	th.Pause("t", time.Second, true)
	if th.Rate("t") != 1 {
		t.Errorf("one 429 lowered the rate to %v", th.Rate("t"))
	}
	clk.set(clk.Now().Add(30 * time.Second))
	th.Pause("t", time.Second, true)
	if th.Rate("t") != 1 {
		t.Errorf("two 429s three windows apart lowered the rate to %v", th.Rate("t"))
	}
}

// Graph's random 429s (10 % of requests, saying nothing about our rate)
// leave the rate near the limit.
func TestThrottleRandom429sKeepTheRate(t *testing.T) {
	for seed := range uint64(5) {
		th, clk := newFakeThrottle(Limits{})
		rnd := rand.New(rand.NewPCG(seed, 12))
		_, _, levels := simulate(th, clk, 300, func(int, int) bool { return rnd.Float64() < 0.10 })
		total := 0
		for _, l := range levels {
			total += l
		}
		if mean := float64(total) / float64(len(levels)); mean < 0.9*5 {
			t.Errorf("seed %d: %.2f requests per window on average, want at least 4.5 of 5", seed, mean)
		}
	}
}

// A real limit of 3 per window (below the documented 5) is found and kept
// to: the rate settles at 3 and under 10 % of the requests are refused.
func TestThrottleFindsALowerLimit(t *testing.T) {
	th, clk := newFakeThrottle(Limits{})
	sent, throttled, levels := simulate(th, clk, 60, func(_, i int) bool { return i >= 3 })
	if got := level(th, "t"); got > 3 {
		t.Errorf("level %d at the end, want at most the real limit 3 (levels %v)", got, levels)
	}
	ok := 0
	for _, l := range levels[30:] {
		if l >= 3 {
			ok++
		}
	}
	if ok < 25 {
		t.Errorf("only %d of the last 30 windows at 3 requests or more: %v", ok, levels)
	}
	if share := float64(throttled) / float64(sent); share >= 0.10 {
		t.Errorf("%d of %d requests refused (%.0f %%), want under 10 %% (levels %v)", throttled, sent, 100*share, levels)
	}
}

// A backed-off tenant sends at most its level in any window, even in a
// burst: 2 of 5 per 40 ms lets the third request wait a window.
func TestThrottleBackedOffWaitsLonger(t *testing.T) {
	th := NewThrottle(Limits{PerTenant: 5, PerTenantWindow: 40 * time.Millisecond, Margin: -1})
	th.mu.Lock()
	th.tenant("t").level = 2
	th.mu.Unlock()
	ctx := context.Background()
	var waits []time.Duration
	for range 3 {
		_, w, err := th.Wait(ctx, "t")
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, w)
	}
	if waits[1] > 20*time.Millisecond || waits[2] < 35*time.Millisecond {
		t.Errorf("waits %v, want the second at once and the third about 40ms", waits)
	}
}

// wake makes the tenant's waiters look at the (fake) clock again, as
// their timers would when it moved.
func wake(th *Throttle, tenant string) {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.tenant(tenant).broadcast()
}

// waiting is how many requests of tenant are in Wait.
func waiting(th *Throttle, tenant string) int {
	th.mu.Lock()
	defer th.mu.Unlock()
	return len(th.tenant(tenant).waiters)
}

// untilWaiting polls until n requests of tenant are in Wait.
func untilWaiting(t *testing.T, th *Throttle, tenant string, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); waiting(th, tenant) != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting, want %d", waiting(th, tenant), n)
		}
	}
}

// When requests of a tenant wait together, each freed slot goes to the one
// of most priority (pages left in its chain), equal priorities and no
// priority in order of arrival; another tenant's queue is its own.
func TestThrottlePriorityOrder(t *testing.T) {
	th, clk := newFakeThrottle(Limits{})
	start := clk.Now()
	ctx := context.Background()
	// A full window: one send a second.
	for i := range 5 {
		clk.set(start.Add(time.Duration(i) * time.Second))
		if _, _, err := th.Wait(ctx, "t"); err != nil {
			t.Fatal(err)
		}
	}
	prios := []int{2, 0, 7, 2, 5, -3}
	done := make(chan int, len(prios))
	for i, p := range prios {
		go func() {
			if _, _, err := th.Wait(WithPriority(ctx, p), "t"); err != nil {
				t.Error(err)
			}
			done <- i
		}()
		untilWaiting(t, th, "t", i+1) // arrivals in a known order
	}
	// Another tenant is not held behind them.
	if _, w, err := th.Wait(WithPriority(ctx, 1), "other"); err != nil || w != 0 {
		t.Fatalf("another tenant waited %v (%v)", w, err)
	}
	var got []int
	for i := range prios {
		// One slot frees a second: exactly one waiter gets it (the
		// sixth the slot of the first grant).
		clk.set(start.Add(time.Duration(10*(1+i/5)+i%5) * time.Second))
		wake(th, "t")
		got = append(got, <-done)
		untilWaiting(t, th, "t", len(prios)-i-1)
	}
	// 7, 5, the two 2s as they came, then no priority (0 and -3) as
	// they came.
	if want := []int{2, 4, 0, 3, 1, 5}; !slices.Equal(got, want) {
		t.Fatalf("slots went to the requests %v (priorities %v), want %v", got, prios, want)
	}
}

// A request that gives up leaves the queue: the one behind it gets the
// slot it would have had.
func TestThrottlePriorityCancelled(t *testing.T) {
	th, clk := newFakeThrottle(Limits{})
	start := clk.Now()
	ctx := context.Background()
	for range 5 {
		if _, _, err := th.Wait(ctx, "t"); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithCancel(WithPriority(ctx, 9))
	gaveUp := make(chan error, 1)
	go func() {
		_, _, err := th.Wait(cctx, "t")
		gaveUp <- err
	}()
	untilWaiting(t, th, "t", 1)
	done := make(chan struct{})
	go func() {
		if _, _, err := th.Wait(WithPriority(ctx, 4), "t"); err != nil {
			t.Error(err)
		}
		close(done)
	}()
	untilWaiting(t, th, "t", 2)
	clk.set(start.Add(10 * time.Second))
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the request behind a cancelled one never got the free slot")
	}
}

// Refusals with nothing let through between them (random 429s in a row,
// a window apart) show no limit: a lone 429 a window leaves the rate, and
// never jumps it to the floor.
func TestThrottleRefusalsInARowAreNoLimit(t *testing.T) {
	th, clk := newFakeThrottle(Limits{})
	start := clk.Now()
	for i := range 3 {
		clk.set(start.Add(time.Duration(11*i) * time.Second))
		th.Pause("t", time.Second, true)
	}
	if got := level(th, "t"); got != 5 {
		t.Errorf("three 429s a window apart with none answered between: %d requests per window, want 5", got)
	}
}

// Graph letting the same number through between refusals, three times,
// is a limit: the level goes straight to it, and a probe above it is
// taken back down by its first 429 and not tried again for longer.
func TestThrottleEqualGapsAreALimit(t *testing.T) {
	th, clk := newFakeThrottle(Limits{})
	at := clk.Now()
	step := func(d time.Duration) { at = at.Add(d); clk.set(at) }
	for range 3 {
		for range 2 {
			th.Succeeded("t")
			step(time.Millisecond)
		}
		th.Pause("t", 10*time.Second, true) // the third refused
		step(10 * time.Second)
	}
	if got := level(th, "t"); got != 2 {
		t.Fatalf("two let through before each of three refusals: %d requests per window, want 2", got)
	}
	// Held there for probeWindows windows however quiet.
	for range probeWindows - 1 {
		th.Succeeded("t")
		step(10 * time.Second)
	}
	if got := level(th, "t"); got != 2 {
		t.Fatalf("probed after less than %d windows: level %d", probeWindows, got)
	}
	for range 3 {
		th.Succeeded("t")
		if level(th, "t") != 2 {
			break
		}
		step(10 * time.Second)
	}
	if got := level(th, "t"); got != 3 {
		t.Fatalf("no probe after %d quiet windows: level %d", probeWindows+2, got)
	}
	th.Pause("t", 10*time.Second, true)
	if got := level(th, "t"); got != 2 {
		t.Fatalf("a refused probe: level %d, want back to 2", got)
	}
}

// Random 429s at a lowered level, one a window after as many answers as
// the level allows, leave equal gaps too; a limit refuses only above
// itself, so they show none and the level above is not held back.
func TestThrottleEqualGapsAtTheLevelAreNoLimit(t *testing.T) {
	th, clk := newFakeThrottle(Limits{})
	at := clk.Now()
	th.mu.Lock()
	th.tenant("t").level = 4
	th.tenant("t").blocked[5] = at.Add(time.Hour) // held at 4 throughout
	th.mu.Unlock()
	for range 4 {
		for range 4 {
			th.Succeeded("t")
			at = at.Add(time.Millisecond)
			clk.set(at)
		}
		th.Pause("t", time.Second, true)
		at = at.Add(11 * time.Second)
		clk.set(at)
	}
	th.mu.Lock()
	found := th.tenant("t").found
	th.mu.Unlock()
	if found != 0 {
		t.Errorf("gaps of 4 refused at level 4 taken for a limit of %d", found)
	}
}
