package extract

import (
	"fmt"
	"sync/atomic"
	"time"
)

// counters are the client's request statistics.
type counters struct {
	requests       atomic.Int64
	lookups        atomic.Int64
	throttled      atomic.Int64
	tokenRefreshes atomic.Int64
	throttleWait   atomic.Int64 // nanoseconds
	retries        [4]atomic.Int64
	retried        atomic.Int64 // all classes, against RetryPolicy.Budget
}

// retrySummary says what the retries were spent on.
func (c *Client) retrySummary() string {
	return fmt.Sprintf("%d throttled, %d transient, %d unauthorized",
		c.stats.retries[Throttled].Load(), c.stats.retries[Transient].Load(), c.stats.retries[Unauthorized].Load())
}

// Stats are a client's request counters.
type Stats struct {
	Requests       int64            `json:"requests"` // every request, lookups included
	Lookups        int64            `json:"lookups"`  // users looked up by id (LookupUser calls that got an answer)
	Throttled      int64            `json:"throttled_429"`
	Retries        map[string]int64 `json:"retries_by_class"`
	TokenRefreshes int64            `json:"token_refreshes"`
	ThrottleWait   time.Duration    `json:"throttle_wait_ns"`
}

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	s := Stats{Requests: c.stats.requests.Load(), Lookups: c.stats.lookups.Load(), Throttled: c.stats.throttled.Load(),
		TokenRefreshes: c.stats.tokenRefreshes.Load(), ThrottleWait: time.Duration(c.stats.throttleWait.Load()),
		Retries: map[string]int64{}}
	for _, cl := range []Class{Throttled, Transient, Unauthorized} {
		s.Retries[cl.String()] = c.stats.retries[cl].Load()
	}
	return s
}
