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
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

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

// tenantBar shows one tenant's progress: a spinner with counters on a
// terminal, a log line every few seconds otherwise.
type tenantBar struct {
	tenant string
	bar    *mpb.Bar
	log    *slog.Logger
	mode   string

	mu       sync.Mutex
	last     pipeline.Progress
	lastLine time.Time
}

func (u *ui) tenantBar(tenant string) *tenantBar {
	t := &tenantBar{tenant: tenant, log: u.logger, mode: u.mode, lastLine: time.Now()}
	if u.progress != nil {
		t.bar = u.progress.New(0, mpb.SpinnerStyle(),
			mpb.PrependDecorators(decor.Name(shortID(tenant), decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return t.line() }),
				decor.Elapsed(decor.ET_STYLE_GO, decor.WCSyncSpace)),
			mpb.BarFillerOnComplete("✓"))
	}
	return t
}

func (t *tenantBar) line() string {
	t.mu.Lock()
	p := t.last
	t.mu.Unlock()
	return fmt.Sprintf("pages %d  users %d  rejected %d  requests %d  throttled %d (waited %s)",
		p.Pages, p.Users, p.Rejected, p.Requests, p.Throttled, p.ThrottleWait.Round(100*time.Millisecond))
}

func (t *tenantBar) update(p pipeline.Progress) {
	t.mu.Lock()
	t.last = p
	logNow := t.mode == "log" && time.Since(t.lastLine) >= 5*time.Second
	if logNow {
		t.lastLine = time.Now()
	}
	t.mu.Unlock()
	if logNow {
		t.log.Info("progress", "tenant", t.tenant, "pages", p.Pages, "users", p.Users, "requests", p.Requests,
			"throttled", p.Throttled, "throttle_wait", p.ThrottleWait.Round(time.Millisecond))
	}
}

func (t *tenantBar) finish(err error) {
	if t.bar == nil {
		return
	}
	if err != nil {
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

// writeSummary ends a run: a few human lines, or one JSON log record.
func writeSummary(w io.Writer, log *slog.Logger, o logOptions, m *pipeline.Manifest, where string) error {
	c, r := m.Counts, m.Requests
	var retries int64
	for _, n := range r.Retries {
		retries += n
	}
	if o.LogFormat == "json" {
		log.Info("run summary", "tenant", m.Tenant, "snapshot_date", m.SnapshotDate, "endpoint", m.Endpoint,
			"run_id", m.RunID, "users", c.Users, "methods", c.Methods, "rejected", c.Rejected,
			"pages", c.Pages, "requests", r.Requests, "throttled", r.Throttled, "retries", retries,
			"throttle_wait_seconds", m.Timings.ThrottleWaitSeconds, "files", len(m.Files),
			"warehouse", where, "duration_seconds", m.Timings.TotalSeconds)
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
	row("pages", fmt.Sprintf("%d (%d empty)", c.Pages, c.EmptyPages))
	row("requests", fmt.Sprintf("%d (%d throttled, %d retried)", r.Requests, r.Throttled, retries))
	row("throttle wait", (time.Duration(m.Timings.ThrottleWaitSeconds * float64(time.Second))).Round(10*time.Millisecond).String())
	row("files", fmt.Sprintf("%d in %s", len(m.Files), where))
	for _, f := range m.Files {
		fmt.Fprintf(&b, "    %s  %d rows  %s\n", f.Path, f.Rows, humanBytes(f.Bytes))
	}
	row("duration", (time.Duration(m.Timings.TotalSeconds * float64(time.Second))).Round(10*time.Millisecond).String())
	row("run id", m.RunID)
	_, err := io.WriteString(w, b.String())
	return err
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
