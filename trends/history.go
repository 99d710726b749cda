package trends

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// ErrNoSnapshots reports that the range holds no published slice of the
// tenants asked for.
var ErrNoSnapshots = errors.New("no published snapshot")

// Warehouse is what trends reads: a *load.Warehouse.
type Warehouse interface {
	// Manifests lists the published slices, sorted by date then tenant.
	Manifests(ctx context.Context) ([]schemas.Key, error)
	// ReadSlice reads one table of one slice; errors.Is(err,
	// load.ErrNotFound) when the slice has no file of that table.
	ReadSlice(ctx context.Context, table *schemas.Table, key schemas.Key) (arrow.Table, error)
}

// Options selects the history to read. The zero value reads every tenant
// over the 90 days up to the latest snapshot.
type Options struct {
	// Tenants to read (compared case-insensitively); empty: every tenant.
	Tenants []string
	// From is the first day; zero: 90 days before To.
	From time.Time
	// To is the last day; zero: the latest snapshot of the tenants read.
	To time.Time
	// Parallel is the number of slices read at once; 0: 8. Reading from a
	// bucket is bound by round trips, not by this machine.
	Parallel int
}

// DefaultDays is how far back the range goes when Options.From is zero.
const DefaultDays = 90

// History is the daily summary of each tenant over a range of days.
type History struct {
	From, To time.Time
	Tenants  []*TenantHistory // sorted by tenant id
}

// TenantHistory is one tenant's series: one entry per calendar day from
// Start to the History's To, nil where the day has no summary.
type TenantHistory struct {
	Tenant string
	// Start is the later of the range's first day and the tenant's first
	// snapshot ever.
	Start time.Time
	Days  []*Day
	// Missing lists the days without a published slice: gaps.
	Missing []time.Time
	// NoSummary lists the days whose slice was published before
	// registration_daily_summary existed: gaps too, until a backfill.
	NoSummary []time.Time
}

// Date is the calendar day of Days[i].
func (t *TenantHistory) Date(i int) time.Time { return t.Start.AddDate(0, 0, i) }

// Present returns the days that have a summary, oldest first.
func (t *TenantHistory) Present() []*Day {
	var out []*Day
	for _, d := range t.Days {
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

// Latest is the newest day with a summary; nil when none.
func (t *TenantHistory) Latest() *Day {
	for i := len(t.Days) - 1; i >= 0; i-- {
		if t.Days[i] != nil {
			return t.Days[i]
		}
	}
	return nil
}

// Load reads the daily summaries of the range.
func Load(ctx context.Context, wh Warehouse, opts Options) (*History, error) {
	keys, err := wh.Manifests(ctx)
	if err != nil {
		return nil, fmt.Errorf("trends: list snapshots: %w", err)
	}
	want := func(tenant string) bool {
		return len(opts.Tenants) == 0 || slices.ContainsFunc(opts.Tenants, func(t string) bool { return strings.EqualFold(t, tenant) })
	}
	first := map[string]time.Time{} // each tenant's first snapshot ever
	var latest time.Time
	for _, k := range keys {
		if !want(k.Tenant) {
			continue
		}
		d := day(k.Date)
		if f, ok := first[k.Tenant]; !ok || d.Before(f) {
			first[k.Tenant] = d
		}
		if d.After(latest) {
			latest = d
		}
	}
	for _, t := range opts.Tenants {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(first)), func(have string) bool { return strings.EqualFold(have, t) }) {
			return nil, fmt.Errorf("trends: tenant %s: %w", t, ErrNoSnapshots)
		}
	}
	if len(first) == 0 {
		return nil, fmt.Errorf("trends: the warehouse holds %w yet", ErrNoSnapshots)
	}
	to := day(opts.To)
	if opts.To.IsZero() {
		to = latest
	}
	from := day(opts.From)
	if opts.From.IsZero() {
		from = to.AddDate(0, 0, -DefaultDays)
	}
	if from.After(to) {
		return nil, fmt.Errorf("trends: the range starts %s, after its end %s", from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	h := &History{From: from, To: to}
	var inRange []schemas.Key
	byTenant := map[string]*TenantHistory{}
	for _, tenant := range slices.Sorted(maps.Keys(first)) {
		start := first[tenant]
		if start.Before(from) {
			start = from
		}
		if start.After(to) {
			continue
		}
		th := &TenantHistory{Tenant: tenant, Start: start, Days: make([]*Day, daysBetween(start, to)+1)}
		h.Tenants = append(h.Tenants, th)
		byTenant[tenant] = th
	}
	for _, k := range keys {
		if th := byTenant[k.Tenant]; th != nil && !day(k.Date).Before(th.Start) && !day(k.Date).After(to) {
			inRange = append(inRange, k)
		}
	}
	if len(inRange) == 0 {
		return nil, fmt.Errorf("trends: %s to %s: %w", from.Format(time.DateOnly), to.Format(time.DateOnly), ErrNoSnapshots)
	}
	days, err := readSummaries(ctx, wh, inRange, opts.Parallel)
	if err != nil {
		return nil, err
	}
	published := map[schemas.Key]bool{}
	for i, k := range inRange {
		th := byTenant[k.Tenant]
		published[schemas.Key{Date: day(k.Date), Tenant: k.Tenant}] = true
		if days[i] == nil {
			th.NoSummary = append(th.NoSummary, day(k.Date))
			continue
		}
		th.Days[daysBetween(th.Start, day(k.Date))] = days[i]
	}
	for _, th := range h.Tenants {
		for i := range th.Days {
			if !published[schemas.Key{Date: th.Date(i), Tenant: th.Tenant}] {
				th.Missing = append(th.Missing, th.Date(i))
			}
		}
	}
	return h, nil
}

// readSummaries reads the summary row of each slice, side by side; nil
// for a slice that has no summary file.
func readSummaries(ctx context.Context, wh Warehouse, keys []schemas.Key, parallel int) ([]*Day, error) {
	out := make([]*Day, len(keys))
	err := forEach(ctx, len(keys), parallel, func(ctx context.Context, i int) error {
		tbl, err := wh.ReadSlice(ctx, schemas.RegistrationDailySummaryTable, keys[i])
		if errors.Is(err, load.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("trends: read the summary of %s/%s: %w", keys[i].DateString(), keys[i].Tenant, err)
		}
		defer tbl.Release()
		rows, err := decodeSummary(tbl)
		if err != nil {
			return fmt.Errorf("trends: summary of %s/%s: %w", keys[i].DateString(), keys[i].Tenant, err)
		}
		if len(rows) != 1 {
			return fmt.Errorf("trends: summary of %s/%s has %d rows, want 1", keys[i].DateString(), keys[i].Tenant, len(rows))
		}
		out[i] = rows[0]
		return nil
	})
	return out, err
}

// forEach calls fn for 0..n-1, at most parallel at once (0: 8), and
// returns the first error; the others are cancelled.
func forEach(ctx context.Context, n, parallel int, fn func(ctx context.Context, i int) error) error {
	if parallel <= 0 {
		parallel = 8
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(parallel, n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// day is t's UTC calendar day at midnight.
func day(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func daysBetween(a, b time.Time) int { return int(b.Sub(a).Hours()/24 + 0.5) }
