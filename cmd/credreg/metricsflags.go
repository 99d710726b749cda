package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/pipeline/metrics"
	"github.com/credreg/credreg/schemas"
)

// metricsFlags are the flags of run and backfill that publish the
// command's metrics for Prometheus.
type metricsFlags struct {
	MetricsFile string
	Pushgateway string
}

func (o *metricsFlags) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.MetricsFile, "metrics-file", "", "at the end, whatever the outcome, write the command's Prometheus metrics to this file, atomically (for node_exporter's textfile collector, e.g. /var/lib/node_exporter/textfile/credreg.prom)")
	f.StringVar(&o.Pushgateway, "pushgateway", "", "at the end, push the same metrics to this Prometheus Pushgateway URL (job credreg); a push that fails is a warning, not a failed command")
}

// metricsFlushTimeout bounds what the metrics read and write once the
// command is over, an interrupted one included: a stop asked for by a
// signal must still come within seconds.
const metricsFlushTimeout = 10 * time.Second

// commandMetrics gathers one command's metrics. A nil one, for a command
// that asked for none, does nothing. Its callbacks are called as
// pipeline's are, never concurrently.
type commandMetrics struct {
	flags   metricsFlags
	command string
	set     *metrics.Set
	// tenants are those the command worked on, for the warehouse's last
	// successes; none means every tenant of the warehouse.
	tenants []string
	started map[string]time.Time
	// grouping labels the Pushgateway group besides job="credreg". A
	// scaled-out run adds its worker index here, so that workers do not
	// replace each other's metrics.
	grouping map[string]string
}

// start checks the flags and returns the command's metrics, nil when no
// flag asks for them. A dry run writes nothing, metrics included.
func (o metricsFlags) start(command string, dryRun bool) (*commandMetrics, error) {
	if o.MetricsFile == "" && o.Pushgateway == "" {
		return nil, nil
	}
	if dryRun {
		return nil, usagef("--metrics-file and --pushgateway do not go with --dry-run, which writes nothing")
	}
	if o.Pushgateway != "" {
		u, err := url.Parse(o.Pushgateway)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usagef("--pushgateway %q: want the Pushgateway's http(s) URL, e.g. http://pushgateway:9091",
				load.Location(o.Pushgateway))
		}
	}
	return &commandMetrics{flags: o, command: command, set: metrics.New(), started: map[string]time.Time{},
		grouping: map[string]string{"command": command}}, nil
}

// tenantStarted wraps a run's Started callback to time each tenant.
func (m *commandMetrics) tenantStarted(next func(pipeline.TenantSource)) func(pipeline.TenantSource) {
	if m == nil {
		return next
	}
	return func(t pipeline.TenantSource) {
		m.started[t.ID] = time.Now()
		m.tenants = append(m.tenants, t.ID)
		next(t)
	}
}

// tenantFinished wraps a run's Finished callback to record each tenant's
// outcome: its manifest, or for a failed tenant the one it kept in
// failed (the run's _failed folder) for inspection.
func (m *commandMetrics) tenantFinished(ctx context.Context, day time.Time, failed *load.Warehouse,
	next func(pipeline.TenantResult)) func(pipeline.TenantResult) {
	if m == nil {
		return next
	}
	return func(r pipeline.TenantResult) {
		next(r)
		elapsed := time.Since(m.started[r.Tenant.ID])
		man, status := r.Manifest, pipeline.StatusFailed
		if man == nil && ctx.Err() != nil {
			status = metrics.StatusInterrupted
		}
		if man == nil && ctx.Err() == nil {
			rctx, cancel := context.WithTimeout(ctx, metricsFlushTimeout)
			defer cancel()
			key := schemas.Key{Date: day, Tenant: strings.ToLower(r.Tenant.ID)}
			if b, err := failed.ReadManifest(rctx, key); err == nil {
				man = decodeKeptManifest(b)
			}
		}
		m.set.ObserveRun(r.Tenant.ID, status, man, elapsed)
	}
}

// decodeKeptManifest decodes a failed run's manifest; nil when it does not
// decode (the metrics then say only that the tenant failed).
func decodeKeptManifest(b []byte) *pipeline.Manifest {
	var man pipeline.Manifest
	if json.Unmarshal(b, &man) != nil {
		return nil
	}
	return &man
}

// sliceFinished wraps a backfill's Finished callback to count each
// slice's outcome.
func (m *commandMetrics) sliceFinished(next func(pipeline.SliceResult)) func(pipeline.SliceResult) {
	if m == nil {
		return next
	}
	return func(r pipeline.SliceResult) {
		if !slices.Contains(m.tenants, r.Key.Tenant) {
			m.tenants = append(m.tenants, r.Key.Tenant)
		}
		m.set.ObserveBackfillSlice(r.Key.Tenant, string(r.Outcome), r.Elapsed)
		next(r)
	}
}

// finish reads each tenant's last success from the warehouse, then
// writes the metrics file and pushes, whatever the command's outcome. It
// is deferred by the command: its own failures are warnings, so the
// command's exit status stays the command's. Writing the file can fail
// the scheduler's alerting, so that warning says where.
func (m *commandMetrics) finish(ctx context.Context, wh *load.Warehouse, log *slog.Logger) {
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), metricsFlushTimeout)
	defer cancel()
	if err := m.set.ObserveWarehouse(ctx, wh, m.tenants, time.Now()); err != nil {
		log.Warn("metrics: could not read the last successes from the warehouse; the metrics lack them", "err", err)
	}
	if m.flags.MetricsFile != "" {
		if err := m.set.WriteFile(m.flags.MetricsFile); err != nil {
			log.Warn("metrics: the metrics file was not written", "err", err)
		}
	}
	if m.flags.Pushgateway != "" {
		if err := m.set.Push(ctx, m.flags.Pushgateway, metrics.PushOptions{Grouping: m.grouping}); err != nil {
			log.Warn("metrics: the push to the Pushgateway failed; the command's outcome stands", "err", err)
		}
	}
}

// forWorker groups the pushed metrics by worker index when the run is
// spread over several workers, so that one worker's push does not
// replace another's.
func (m *commandMetrics) forWorker(index, count int) {
	if m == nil || count <= 1 {
		return
	}
	m.grouping["worker"] = strconv.Itoa(index)
}
