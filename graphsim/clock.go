package graphsim

import (
	"sync/atomic"
	"time"
)

// Clock is a simulated clock a test moves forward, for Options.Now: pass
// clock.Now. Advancing it lets access tokens expire in the middle of a
// run without waiting (azidentity refreshes a token only within 5 minutes
// of its expiry, so a 6-minute token is cached and reused, and expires
// when the clock moves 7 minutes). The data day follows the clock too:
// start it well inside a UTC day so that moving it by minutes does not
// change the day served.
type Clock struct {
	start  time.Time
	offset atomic.Int64 // nanoseconds
}

// NewClock returns a clock that reads start until advanced.
func NewClock(start time.Time) *Clock { return &Clock{start: start} }

// Now is the start plus every Advance so far; safe for concurrent use.
func (c *Clock) Now() time.Time { return c.start.Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
