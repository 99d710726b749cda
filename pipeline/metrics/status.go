package metrics

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gocloud.dev/blob"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// DefaultStatusDays is how many days back ReadStatus looks for gaps.
const DefaultStatusDays = 90

// StatusOptions configure ReadStatus. The zero value reads the last
// DefaultStatusDays days of every tenant, as of now, without a raw zone.
type StatusOptions struct {
	// Days is how many days, today included, are searched for gaps.
	Days int
	// Now is the time the status is taken at; zero means time.Now().
	Now time.Time
	// Raw, when set, is the raw zone: a gap whose day has a complete raw
	// run there can still be filled with `credreg backfill`.
	Raw *blob.Bucket
}

// TenantStatus is one tenant's nights as the warehouse keeps them.
type TenantStatus struct {
	Tenant string `json:"tenant_id"`
	// Last is the newest published slice; nil when the tenant has none.
	Last *SliceStatus `json:"last_slice"`
	// DaysSinceLastSlice counts the days from Last's date to today
	// (UTC); -1 when there is no slice.
	DaysSinceLastSlice int `json:"days_since_last_slice"`
	// Gaps are the days (YYYY-MM-DD) without a published slice, from the
	// tenant's first slice in the window (or the window's first day, when
	// the tenant has older slices) to yesterday: today's night may still
	// be ahead. Graph cannot serve a past day, so a gap is lost data
	// unless the raw zone holds the day (Recoverable).
	Gaps []string `json:"gaps"`
	// Recoverable are the gaps whose day has a complete raw run: a
	// backfill rebuilds them. Empty without StatusOptions.Raw.
	Recoverable []string `json:"recoverable_gaps"`
	// LastFailure is the newest run that failed for this tenant and kept
	// its manifest under _failed; nil when there is none.
	LastFailure *FailureStatus `json:"last_failure"`
}

// SliceStatus is a published slice.
type SliceStatus struct {
	Date  string `json:"snapshot_date"`
	RunID string `json:"run_id"`
	// FinishedAt is when the run (or replay) that published it ended.
	FinishedAt time.Time `json:"finished_at"`
	// AgeSeconds is the time from FinishedAt to the status's now.
	AgeSeconds float64 `json:"age_seconds"`
}

// Age is AgeSeconds as a duration.
func (s SliceStatus) Age() time.Duration { return time.Duration(s.AgeSeconds * float64(time.Second)) }

// FailureStatus is a failed run kept for inspection.
type FailureStatus struct {
	RunID      string    `json:"run_id"`
	Date       string    `json:"snapshot_date"`
	Status     string    `json:"status"`
	Error      string    `json:"error"`
	FinishedAt time.Time `json:"finished_at"`
	// Where is the failed run's folder, as the warehouse shows it.
	Where string `json:"where"`
}

// ReadStatus reports every tenant that has a published slice or a kept
// failure in wh, sorted by tenant id. It reads the listing of the
// manifests, the newest manifest and the newest failure of each tenant,
// and, with a raw zone, the listing of the gaps' days.
func ReadStatus(ctx context.Context, wh *load.Warehouse, o StatusOptions) ([]TenantStatus, error) {
	if o.Days <= 0 {
		o.Days = DefaultStatusDays
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	today := utcDay(o.Now)
	windowStart := today.AddDate(0, 0, -(o.Days - 1))
	keys, err := wh.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	type days struct {
		first, last time.Time
		have        map[time.Time]bool
	}
	byTenant := map[string]*days{}
	for _, k := range keys { // sorted by date
		d := byTenant[k.Tenant]
		if d == nil {
			d = &days{first: k.Date, have: map[time.Time]bool{}}
			byTenant[k.Tenant] = d
		}
		d.have[k.Date], d.last = true, k.Date
	}
	failures, err := lastFailures(ctx, wh)
	if err != nil {
		return nil, err
	}
	tenants := make([]string, 0, len(byTenant)+len(failures))
	for t := range byTenant {
		tenants = append(tenants, t)
	}
	for t := range failures {
		if byTenant[t] == nil {
			tenants = append(tenants, t)
		}
	}
	slices.Sort(tenants)

	out := make([]TenantStatus, 0, len(tenants))
	for _, t := range tenants {
		st := TenantStatus{Tenant: t, DaysSinceLastSlice: -1, Gaps: []string{}, Recoverable: []string{}, LastFailure: failures[t]}
		var gaps []time.Time
		if d := byTenant[t]; d != nil {
			m, err := readManifest(ctx, wh, d.last, t)
			if err != nil {
				return nil, err
			}
			st.Last = &SliceStatus{Date: d.last.Format(time.DateOnly), RunID: m.RunID, FinishedAt: m.FinishedAt,
				AgeSeconds: o.Now.Sub(m.FinishedAt).Seconds()}
			st.DaysSinceLastSlice = daysBetween(d.last, o.Now)
			start := d.first
			if start.Before(windowStart) {
				start = windowStart
			}
			for day := start; day.Before(today); day = day.AddDate(0, 0, 1) {
				if !d.have[day] {
					gaps = append(gaps, day)
					st.Gaps = append(st.Gaps, day.Format(time.DateOnly))
				}
			}
		}
		if o.Raw != nil && len(gaps) > 0 {
			if st.Recoverable, err = recoverable(ctx, o.Raw, t, gaps); err != nil {
				return nil, err
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// recoverable returns the days of gaps that have a complete raw run.
func recoverable(ctx context.Context, raw *blob.Bucket, tenant string, gaps []time.Time) ([]string, error) {
	found, err := extract.ListRawSlices(ctx, raw, gaps[0], gaps[len(gaps)-1], []string{tenant})
	if err != nil {
		return nil, fmt.Errorf("metrics: listing the raw zone: %w", err)
	}
	out := []string{}
	for _, s := range found {
		if _, ok := s.Newest(""); ok && slices.ContainsFunc(gaps, s.Date.Equal) {
			out = append(out, s.Date.Format(time.DateOnly))
		}
	}
	return out, nil
}

// lastFailures returns, per tenant, the newest failed run kept under
// _failed (run ids sort by start time).
func lastFailures(ctx context.Context, wh *load.Warehouse) (map[string]*FailureStatus, error) {
	failed, err := wh.FailedSlices(ctx)
	if err != nil {
		return nil, err
	}
	newest := map[string]load.FailedSlice{}
	for _, f := range failed { // sorted by run id: the last one wins
		newest[f.Key.Tenant] = f
	}
	out := map[string]*FailureStatus{}
	for t, f := range newest {
		sub, err := wh.Failed(f.RunID)
		if err != nil {
			return nil, err
		}
		m, err := decodeManifest(sub.ReadManifest(ctx, f.Key))
		if err != nil {
			return nil, err
		}
		out[t] = &FailureStatus{RunID: f.RunID, Date: f.Key.DateString(), Status: m.Status, Error: m.Error,
			FinishedAt: m.FinishedAt, Where: sub.String()}
	}
	return out, nil
}

// newestSlices returns each tenant's newest published slice.
func newestSlices(ctx context.Context, wh *load.Warehouse) (map[string]schemas.Key, error) {
	keys, err := wh.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]schemas.Key{}
	for _, k := range keys { // sorted by date: the last one wins
		out[k.Tenant] = k
	}
	return out, nil
}

func sliceKey(date time.Time, tenant string) schemas.Key {
	return schemas.Key{Date: date, Tenant: tenant}
}

// utcDay is the UTC midnight of t's day.
func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// daysBetween counts the days from date to now's UTC day.
func daysBetween(date, now time.Time) int {
	return int(utcDay(now).Sub(utcDay(date)).Hours() / 24)
}
