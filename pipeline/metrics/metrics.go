package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
)

// The exported metrics. Alert rules (deploy/prometheus) name them; a test
// checks the two agree.
const (
	LastSuccess        = "credreg_last_success_timestamp_seconds"
	DaysSinceLastSlice = "credreg_days_since_last_slice"
	RunDuration        = "credreg_run_duration_seconds"
	Users              = "credreg_users"
	MethodRows         = "credreg_method_rows"
	RecordsIn          = "credreg_records_in"
	RejectedRecords    = "credreg_rejected_records"
	RejectBudgetRatio  = "credreg_reject_budget_ratio"
	Requests           = "credreg_requests_total"
	ThrottledRequests  = "credreg_throttled_requests_total"
	Retries            = "credreg_retries_total"
	ThrottleWait       = "credreg_throttle_wait_seconds_total"
	BackfillSlices     = "credreg_backfill_slices"
)

// Names lists every metric a Set exports, sorted.
func Names() []string {
	return []string{BackfillSlices, DaysSinceLastSlice, LastSuccess, MethodRows, RecordsIn, RejectBudgetRatio,
		RejectedRecords, Retries, RunDuration, ThrottleWait, ThrottledRequests, Requests, Users}
}

// Labels.
const (
	LabelTenant  = "tenant_id"
	LabelStatus  = "status"
	LabelClass   = "class"
	LabelOutcome = "outcome"
)

// StatusInterrupted is the status of a tenant whose run was stopped (a
// signal) before it ended: such a run keeps no manifest.
const StatusInterrupted = "interrupted"

// Set is the metrics of one credreg command. It is not safe for
// concurrent use: fill it from one goroutine (pipeline's callbacks are
// never concurrent).
type Set struct {
	reg *prometheus.Registry

	lastSuccess, daysSince                         *prometheus.GaugeVec
	duration                                       *prometheus.GaugeVec
	users, methods, recordsIn, rejected, rejBudget *prometheus.GaugeVec
	requests, throttled, throttleWait              *prometheus.CounterVec
	retries                                        *prometheus.CounterVec
	backfill                                       *prometheus.GaugeVec
	// backfillSeconds sums each tenant's slice durations by outcome.
	backfillSeconds map[[2]string]float64
}

// New returns an empty Set.
func New() *Set {
	s := &Set{reg: prometheus.NewRegistry(), backfillSeconds: map[[2]string]float64{}}
	tenant := []string{LabelTenant}
	run := []string{LabelTenant, LabelStatus}
	gauge := func(name, help string, labels []string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		s.reg.MustRegister(g)
		return g
	}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		s.reg.MustRegister(c)
		return c
	}
	s.lastSuccess = gauge(LastSuccess, "When the run that published the tenant's newest slice finished (Unix seconds), read from the warehouse: a failed run still reports the last success.", tenant)
	s.daysSince = gauge(DaysSinceLastSlice, "Days from the tenant's newest published slice to today (UTC): 1 after a normal night, more after a missed one (Graph cannot serve a past day).", tenant)
	s.duration = gauge(RunDuration, "How long the tenant's run took, by how it ended (published, failed, contract_breached, interrupted; a backfill's slice outcomes, summed).", run)
	s.users = gauge(Users, "Users in the tenant's snapshot (for a failed run: users read before it failed).", run)
	s.methods = gauge(MethodRows, "Rows of user_auth_methods in the tenant's snapshot.", run)
	s.recordsIn = gauge(RecordsIn, "Records Graph listed for the tenant.", run)
	s.rejected = gauge(RejectedRecords, "Records rejected into rejected_records.", run)
	s.rejBudget = gauge(RejectBudgetRatio, "The largest share of records_in the error budget lets be rejected.", run)
	s.requests = counter(Requests, "Requests to Graph in the run, lookups included.", run)
	s.throttled = counter(ThrottledRequests, "Requests Graph answered 429 (throttled) in the run.", run)
	s.throttleWait = counter(ThrottleWait, "Seconds the tenant's requests waited for the rate limiter or a Retry-After.", run)
	s.retries = counter(Retries, "Requests retried, by class (throttled, transient, unauthorized).", []string{LabelTenant, LabelStatus, LabelClass})
	s.backfill = gauge(BackfillSlices, "Slices of the backfill, by outcome (replayed, up_to_date, no_raw_data, loaded, failed).", []string{LabelTenant, LabelOutcome})
	return s
}

// Gatherer is the Set's registry.
func (s *Set) Gatherer() prometheus.Gatherer { return s.reg }

// tenantLabel is a tenant id as the warehouse spells it.
func tenantLabel(id string) string { return strings.ToLower(id) }

// ObserveRun records how one tenant's run ended: m is its published
// manifest, or the manifest a failed run kept under _failed; nil when the
// run kept none (interrupted, or failed before it read anything), and
// then only the status and elapsed are recorded.
func (s *Set) ObserveRun(tenant, status string, m *pipeline.Manifest, elapsed time.Duration) {
	if m != nil && m.Status != "" {
		status = m.Status
	}
	tenant = tenantLabel(tenant)
	l := prometheus.Labels{LabelTenant: tenant, LabelStatus: status}
	if m == nil {
		s.duration.With(l).Set(elapsed.Seconds())
		return
	}
	s.duration.With(l).Set(m.Timings.TotalSeconds)
	s.users.With(l).Set(float64(m.Counts.Users))
	s.methods.With(l).Set(float64(m.Counts.Methods))
	s.recordsIn.With(l).Set(float64(m.Counts.RecordsIn))
	s.rejected.With(l).Set(float64(m.Counts.Rejected))
	s.rejBudget.With(l).Set(m.Budget.MaxRejectRatio)
	s.requests.With(l).Add(float64(m.Requests.Requests))
	s.throttled.With(l).Add(float64(m.Requests.Throttled))
	s.throttleWait.With(l).Add(m.Timings.ThrottleWaitSeconds)
	for class, n := range m.Requests.Retries {
		s.retries.With(prometheus.Labels{LabelTenant: tenant, LabelStatus: status, LabelClass: class}).Add(float64(n))
	}
}

// ObserveBackfillSlice records one slice of a backfill: its outcome is
// counted per tenant and its time added to the tenant's
// credreg_run_duration_seconds{status=<outcome>}.
func (s *Set) ObserveBackfillSlice(tenant, outcome string, elapsed time.Duration) {
	tenant = tenantLabel(tenant)
	s.backfill.With(prometheus.Labels{LabelTenant: tenant, LabelOutcome: outcome}).Inc()
	k := [2]string{tenant, outcome}
	s.backfillSeconds[k] += elapsed.Seconds()
	s.duration.With(prometheus.Labels{LabelTenant: tenant, LabelStatus: outcome}).Set(s.backfillSeconds[k])
}

// ObserveWarehouse records, for each tenant given (every tenant with a
// published slice when none is), the time of the last success and the
// days since the newest published slice, as of now. A tenant given
// without any published slice gets neither: an alert on the absence of
// credreg_last_success_timestamp_seconds covers it.
func (s *Set) ObserveWarehouse(ctx context.Context, wh *load.Warehouse, tenants []string, now time.Time) error {
	newest, err := newestSlices(ctx, wh)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, t := range tenants {
		want[tenantLabel(t)] = true
	}
	for tenant, key := range newest {
		if len(want) > 0 && !want[tenant] {
			continue
		}
		m, err := readManifest(ctx, wh, key.Date, tenant)
		if err != nil {
			return err
		}
		l := prometheus.Labels{LabelTenant: tenant}
		s.lastSuccess.With(l).Set(float64(m.FinishedAt.UnixMilli()) / 1000)
		s.daysSince.With(l).Set(float64(daysBetween(key.Date, now)))
	}
	return nil
}

// readManifest reads and decodes a published manifest.
func readManifest(ctx context.Context, wh *load.Warehouse, date time.Time, tenant string) (*pipeline.Manifest, error) {
	return decodeManifest(wh.ReadManifest(ctx, sliceKey(date, tenant)))
}

// decodeManifest decodes a manifest that was read.
func decodeManifest(b []byte, err error) (*pipeline.Manifest, error) {
	if err != nil {
		return nil, err
	}
	var m pipeline.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("metrics: a manifest does not decode: %w", err)
	}
	return &m, nil
}
