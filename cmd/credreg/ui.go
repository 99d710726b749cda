package main

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/pipeline"
)

// logOptions are the logging and progress flags shared by commands.
type logOptions struct {
	LogFormat string
	LogLevel  string
	Progress  string
}

func (o *logOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.LogFormat, "log-format", "text", "log format on stderr: text or json (json also makes the summary one JSON line, for schedulers)")
	f.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.Progress, "progress", "auto", "progress display: auto (bars on a terminal, log lines otherwise), bars, log or none")
}

func (o logOptions) validate() error {
	switch o.LogFormat {
	case "text", "json":
	default:
		return usagef("--log-format %q: want text or json", o.LogFormat)
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", o.LogLevel)
	}
	switch o.Progress {
	case "auto", "bars", "log", "none":
	default:
		return usagef("--progress %q: want auto, bars, log or none", o.Progress)
	}
	return nil
}

// ui is the logger and the progress display of one command.
type ui struct {
	logger   *slog.Logger
	progress *mpb.Progress // nil without bars
	mode     string
	once     sync.Once
}

func newUI(o logOptions, stderr io.Writer) *ui {
	u := &ui{mode: o.Progress}
	if u.mode == "auto" {
		u.mode = "log"
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && o.LogFormat == "text" {
			u.mode = "bars"
		}
	}
	out := stderr
	if u.mode == "bars" {
		u.progress = mpb.New(mpb.WithOutput(stderr), mpb.WithWidth(24), mpb.WithRefreshRate(150*time.Millisecond))
		out = u.progress // log lines print above the bars
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(o.LogLevel))
	hopts := &slog.HandlerOptions{Level: level}
	if o.LogFormat == "json" {
		u.logger = slog.New(slog.NewJSONHandler(out, hopts))
	} else {
		u.logger = slog.New(slog.NewTextHandler(out, hopts))
	}
	return u
}

func (u *ui) close() {
	u.once.Do(func() {
		if u.progress != nil {
			u.progress.Wait()
		}
	})
}

// tenantBars shows each tenant's progress: a line with counters per
// tenant on a terminal, a log line every few seconds otherwise.
type tenantBars struct {
	ui *ui

	mu   sync.Mutex
	bars map[string]*tenantBar
}

type tenantBar struct {
	label    string
	bar      *mpb.Bar
	last     pipeline.Progress
	lastLine time.Time
}

func newTenantBars(u *ui) *tenantBars {
	return &tenantBars{ui: u, bars: map[string]*tenantBar{}}
}

func (b *tenantBars) get(tenant string) *tenantBar {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.bars[tenant]
	if t == nil {
		t = &tenantBar{label: shortID(tenant), lastLine: time.Now()}
		b.bars[tenant] = t
	}
	return t
}

// start adds the tenant's bar as it starts, so a run of many tenants shows
// the ones at work.
func (b *tenantBars) start(t pipeline.TenantSource) {
	tb := b.get(t.ID)
	if t.Name != "" {
		tb.label = t.Name
	}
	if b.ui.progress == nil {
		return
	}
	tb.bar = b.ui.progress.New(0, mpb.SpinnerStyle(),
		mpb.PrependDecorators(decor.Name(tb.label, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return b.line(tb) }),
			decor.Elapsed(decor.ET_STYLE_GO, decor.WCSyncSpace)),
		mpb.BarFillerOnComplete("✓"))
}

func (b *tenantBars) line(t *tenantBar) string {
	b.mu.Lock()
	p := t.last
	b.mu.Unlock()
	return fmt.Sprintf("pages %d  users %d  rejected %d  requests %d  throttled %d (waited %s)",
		p.Pages, p.Users, p.Rejected, p.Requests, p.Throttled, p.ThrottleWait.Round(100*time.Millisecond))
}

func (b *tenantBars) update(p pipeline.Progress) {
	t := b.get(p.Tenant)
	b.mu.Lock()
	t.last = p
	logNow := b.ui.mode == "log" && time.Since(t.lastLine) >= 5*time.Second
	if logNow {
		t.lastLine = time.Now()
	}
	b.mu.Unlock()
	if logNow {
		b.ui.logger.Info("progress", "tenant", t.label, "pages", p.Pages, "users", p.Users, "requests", p.Requests,
			"throttled", p.Throttled, "throttle_wait", p.ThrottleWait.Round(time.Millisecond))
	}
}

func (b *tenantBars) finish(r pipeline.TenantResult) {
	t := b.get(r.Tenant.ID)
	if r.Err != nil {
		b.ui.logger.Error("tenant failed; nothing published for it", "tenant", r.Tenant.Label(), "err", r.Err)
	}
	if t.bar == nil {
		return
	}
	if r.Err != nil {
		t.bar.Abort(false)
		return
	}
	t.bar.SetTotal(-1, true)
}

func shortID(id string) string {
	if len(id) > 13 {
		return id[:8] + "…"
	}
	return id
}

// writeRunSummary ends a run: the one tenant's summary, or a table of
// tenants; with --log-format json, one record per tenant. Failed tenants
// are listed with why.
func writeRunSummary(w io.Writer, log *slog.Logger, o logOptions, res pipeline.Result, where string) error {
	var ok []*pipeline.Manifest
	for _, t := range res.Tenants {
		if t.Manifest != nil {
			ok = append(ok, t.Manifest)
		}
	}
	if len(res.Tenants) == 1 || o.LogFormat == "json" {
		for _, m := range ok {
			if err := writeSummary(w, log, o, m, where); err != nil {
				return err
			}
		}
		if o.LogFormat == "json" && len(res.Tenants) > 1 {
			log.Info("run summary", "tenants", len(res.Tenants), "published", len(ok), "failed", len(res.Tenants)-len(ok))
		}
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "published %d of %d tenants into %s\n", len(ok), len(res.Tenants), where)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tenant\tusers\tmethods\trejected\tpages\trequests\t429s\tretries\tseconds\t")
	var tot pipeline.Counts
	var req, thr, ret int64
	for _, t := range res.Tenants {
		m := t.Manifest
		if m == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\tfailed\t\n", t.Tenant.Label())
			continue
		}
		r := retriesOf(m.Requests)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t\n", t.Tenant.Label(), m.Counts.Users,
			m.Counts.Methods, m.Counts.Rejected, m.Counts.Pages, m.Requests.Requests, m.Requests.Throttled, r,
			m.Timings.TotalSeconds)
		tot.Users, tot.Methods, tot.Rejected, tot.Pages = tot.Users+m.Counts.Users, tot.Methods+m.Counts.Methods,
			tot.Rejected+m.Counts.Rejected, tot.Pages+m.Counts.Pages
		req, thr, ret = req+m.Requests.Requests, thr+m.Requests.Throttled, ret+r
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\t\n", tot.Users, tot.Methods, tot.Rejected, tot.Pages, req, thr, ret)
	tw.Flush()
	for _, m := range ok {
		if m.BigQuery != nil && (m.BigQuery.Status != "loaded" || len(ok) == 1) {
			fmt.Fprintf(&b, "%s: %s\n", shortID(m.Tenant), bigQueryLine(m.BigQuery))
		}
	}
	if loaded, dataset := countLoaded(ok); loaded > 0 && len(ok) > 1 {
		fmt.Fprintf(&b, "loaded %d of %d published tenants into %s\n", loaded, len(ok), dataset)
	}
	if len(ok) > 0 {
		fmt.Fprintf(&b, "run id %s\n", ok[0].RunID)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func retriesOf(s extract.Stats) int64 {
	var n int64
	for _, v := range s.Retries {
		n += v
	}
	return n
}

// writeSummary ends a tenant's run: a few human lines, or one JSON log record.
func writeSummary(w io.Writer, log *slog.Logger, o logOptions, m *pipeline.Manifest, where string) error {
	c, r := m.Counts, m.Requests
	retries := retriesOf(r)
	if o.LogFormat == "json" {
		log.Info("run summary", "tenant", m.Tenant, "snapshot_date", m.SnapshotDate, "endpoint", m.Endpoint,
			"run_id", m.RunID, "users", c.Users, "methods", c.Methods, "rejected", c.Rejected,
			"pages", c.Pages, "requests", r.Requests, "throttled", r.Throttled, "retries", retries,
			"throttle_wait_seconds", m.Timings.ThrottleWaitSeconds, "files", len(m.Files),
			"moved_between_shards", m.Reconcile.MovedBetweenShards, "recovered", m.Reconcile.Recovered,
			"gone", m.Reconcile.Gone, "unconfirmed", m.Reconcile.Unconfirmed,
			"graph_counts", m.GraphAggregates.Summary(), "graph_drift", m.GraphAggregates.Drift,
			"warehouse", where, "duration_seconds", m.Timings.TotalSeconds)
		if m.BigQuery != nil {
			log.Info("bigquery load", "tenant", m.Tenant, "snapshot_date", m.SnapshotDate, "dataset", m.BigQuery.Dataset,
				"status", m.BigQuery.Status, "error", m.BigQuery.Error, "jobs", m.BigQueryJobs)
		}
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "published %s snapshot %s for tenant %s\n", m.Endpoint, m.SnapshotDate, m.Tenant)
	row := func(k, v string) { fmt.Fprintf(&b, "  %-14s %s\n", k, v) }
	row("users", fmt.Sprint(c.Users))
	row("method rows", fmt.Sprint(c.Methods))
	rej := fmt.Sprint(c.Rejected)
	if c.Rejected > 0 {
		rej += " (" + formatCounts(c.RejectsByReason) + ")"
	}
	row("rejected", rej)
	if len(c.UnknownMethods) > 0 {
		row("unknown values", formatCounts(c.UnknownMethods)+" (kept, is_known_value=false)")
	}
	if len(c.UnknownFields) > 0 {
		row("unknown fields", formatCounts(c.UnknownFields)+" (kept in the raw zone)")
	}
	if len(c.UnknownValues) > 0 {
		row("unknown enums", formatCounts(c.UnknownValues)+" (loaded as sent)")
	}
	if rc := reconcileLine(m.Reconcile); rc != "" {
		row("reconciled", rc)
	}
	row("graph counts", m.GraphAggregates.Summary())
	row("pages", fmt.Sprintf("%d (%d empty)", c.Pages, c.EmptyPages))
	row("requests", fmt.Sprintf("%d (%d throttled, %d retried)", r.Requests, r.Throttled, retries))
	row("throttle wait", (time.Duration(m.Timings.ThrottleWaitSeconds * float64(time.Second))).Round(10*time.Millisecond).String())
	row("files", fmt.Sprintf("%d in %s", len(m.Files), where))
	for _, f := range m.Files {
		fmt.Fprintf(&b, "    %s  %d rows  %s\n", f.Path, f.Rows, humanBytes(f.Bytes))
	}
	if bq := m.BigQuery; bq != nil {
		row("bigquery", bigQueryLine(bq))
		for _, t := range bq.Tables {
			fmt.Fprintf(&b, "    %s  %d rows  %s  job %s\n", t.Table, t.Rows, humanBytes(t.Bytes), t.JobID)
		}
	}
	row("duration", (time.Duration(m.Timings.TotalSeconds * float64(time.Second))).Round(10*time.Millisecond).String())
	row("run id", m.RunID)
	_, err := io.WriteString(w, b.String())
	return err
}

// reconcileLine says how a sharded listing was reconciled, or nothing when
// there was nothing to say.
func reconcileLine(r pipeline.Reconcile) string {
	var parts []string
	add := func(n int64, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(r.MovedBetweenShards, "read in two shards (the later copy kept)")
	add(r.Recovered, "recovered by id")
	add(r.Gone, "gone since "+r.PreviousSnapshot)
	add(r.Unconfirmed, "not confirmed")
	if r.RereadUnsharded {
		parts = append(parts, "listing read again unsharded")
	}
	if r.EstimatedMissedNewUsers >= 1 {
		parts = append(parts, fmt.Sprintf("about %.0f new users may have been missed", r.EstimatedMissedNewUsers))
	}
	if len(parts) == 0 {
		return r.Note
	}
	if r.Note != "" {
		parts = append(parts, r.Note)
	}
	return strings.Join(parts, "; ")
}

// formatCounts renders a count map as "a=1, b=2", sorted by key.
func formatCounts(m map[string]int64) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// bigQueryLine says where a slice was loaded in BigQuery, or that it was not.
func bigQueryLine(l *pipeline.BigQueryLoad) string {
	if l.Status != "loaded" {
		return fmt.Sprintf("NOT loaded into %s: %s (the Parquet slice is published; load it later with "+
			"credreg backfill --sink parquet,bigquery)", l.Dataset, l.Error)
	}
	var rows int64
	for _, t := range l.Tables {
		rows += t.Rows
	}
	return fmt.Sprintf("loaded into %s: %d rows in %d load jobs", l.Dataset, rows, len(l.Tables))
}

// countLoaded counts the manifests loaded into BigQuery, and names where.
func countLoaded(ms []*pipeline.Manifest) (n int, dataset string) {
	for _, m := range ms {
		if m.BigQuery != nil && m.BigQuery.Status == "loaded" {
			n, dataset = n+1, m.BigQuery.Dataset
		}
	}
	return n, dataset
}
