package extract

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// fetch fetches link, retrying as withRetries does. A page that is not
// valid JSON may have been damaged on the way, so it is asked for again;
// the same bytes twice are what Graph sends, and are accepted: the good
// records load and the bad ones are quarantined.
func (c *Client) fetch(ctx context.Context, link string) (Page, error) {
	var salvaged [sha256.Size]byte // body of the last salvaged answer
	var p Page
	attempts, err := c.withRetries(ctx, func(refresh bool) error {
		var err error
		p, err = c.FetchPage(ctx, link, refresh)
		if err == nil && p.Salvaged {
			sum := sha256.Sum256(p.Body)
			if sum != salvaged {
				salvaged = sum
				return &PageError{Err: errSalvaged}
			}
		}
		return err
	})
	if err != nil {
		return Page{}, err
	}
	p.Attempts = attempts
	return p, nil
}

// withRetries calls try until it succeeds, retrying throttled and
// transient failures with backoff and a 401 once with a fresh token
// (try's refresh argument). Retry-After pauses the whole tenant in the
// shared throttle. It returns the number of calls made. Pages and lookups
// share it, and with it the policy and the tenant's retry budget.
func (c *Client) withRetries(ctx context.Context, try func(refresh bool) error) (int, error) {
	refresh := false
	refreshed := false
	var garbage [sha256.Size]byte // body of the last answer that was no page at all
	var last error
	for attempt := 1; attempt <= c.retry.MaxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return attempt - 1, err
		}
		err := try(refresh)
		if err == nil {
			return attempt, nil
		}
		if ctx.Err() != nil {
			return attempt, ctx.Err()
		}
		var pe *PageError
		if errors.As(err, &pe) && pe.Body != nil && !errors.Is(err, errSalvaged) {
			// Damage on the way rarely repeats byte for byte; the same
			// garbage twice is what Graph serves, and asking again will
			// not change it.
			sum := sha256.Sum256(pe.Body)
			if sum == garbage {
				pe.Persistent = true
				return attempt, pe
			}
			garbage = sum
		}
		last = err
		refresh = false
		class := classOf(err)
		switch class {
		case Permanent:
			return attempt, err
		case Unauthorized:
			if refreshed {
				return attempt, err
			}
			refresh, refreshed = true, true
			c.stats.retried.Add(1)
			c.stats.retries[Unauthorized].Add(1)
			c.log.Info("graph refused the token; fetching a fresh one")
			continue
		}
		if n := c.stats.retried.Add(1); n > int64(c.retry.Budget) {
			return attempt, fmt.Errorf("%w: the retry budget of %d retries for this tenant is spent (%s); last error: %w",
				ErrRetriesExceed, c.retry.Budget, c.retrySummary(), err)
		}
		c.stats.retries[class].Add(1)
		delay := c.backoff(attempt)
		var ge *GraphError
		if errors.As(err, &ge) && ge.RetryAfter > 0 {
			delay = min(ge.RetryAfter, c.retry.MaxRetryAfter)
		}
		if class == Throttled || (ge != nil && ge.RetryAfter > 0) {
			// The throttle holds every request of the tenant (every
			// shard), this one included: as long as Graph said, or the
			// backoff when a 429 did not say. Only a 429 slows the rate.
			c.throttle.Pause(c.tenant, delay, class == Throttled)
			c.log.Warn("graph asked to wait; retrying", "class", class.String(), "attempt", attempt,
				"wait", delay.Round(time.Millisecond), "err", err)
			continue
		}
		c.log.Warn("retrying graph request", "class", class.String(),
			"attempt", attempt, "backoff", delay.Round(time.Millisecond), "err", err)
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return attempt, ctx.Err()
			case <-t.C:
			}
		}
	}
	return c.retry.MaxAttempts, fmt.Errorf("%w after %d attempts: %w", ErrRetriesExceed, c.retry.MaxAttempts, last)
}

// backoff is full-jitter exponential backoff for attempt (1-based).
func (c *Client) backoff(attempt int) time.Duration {
	d := c.retry.BaseDelay << min(attempt-1, 20)
	if d <= 0 || d > c.retry.MaxDelay {
		d = c.retry.MaxDelay
	}
	return d/2 + rand.N(d/2+1)
}
