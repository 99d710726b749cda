package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/credreg/credreg/pipeline"
)

// sliceProgress shows a backfill's progress: on a terminal one bar of
// slices done with users/s and the time left, estimated from the records
// of the raw runs still to replay; otherwise a log line per slice as it
// ends (text logs only: JSON gets its per-slice records in the report, in
// a fixed order). Its callbacks are never called concurrently, but the
// bar reads its counts from another goroutine.
type sliceProgress struct {
	ui     *ui
	bar    *mpb.Bar
	text   bool // text logs: a failed slice is logged as it fails
	lines  bool // a log line per slice
	slices int

	mu      sync.Mutex
	done    int
	records int64 // of the slices to replay
	users   int64 // records of the slices replayed so far
	began   time.Time
}

func newSliceProgress(u *ui, o logOptions, plan []pipeline.SlicePlan) *sliceProgress {
	p := &sliceProgress{ui: u, slices: len(plan), began: time.Now(), text: o.LogFormat == "text"}
	p.lines = p.text && u.mode == "log"
	for _, s := range plan {
		if s.Action == pipeline.ActionReplay {
			p.records += s.Records
		}
	}
	if u.progress != nil {
		p.bar = u.progress.AddBar(int64(len(plan)),
			mpb.PrependDecorators(decor.Name("slices", decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return p.line() })))
	}
	return p
}

// line is the bar's text: users/s over the replays so far, and the time
// the remaining records take at that rate.
func (p *sliceProgress) line() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	took := time.Since(p.began)
	if p.users == 0 || took <= 0 {
		return fmt.Sprintf("%d records to replay  %s", p.records, took.Round(time.Second))
	}
	rate := float64(p.users) / took.Seconds()
	left := time.Duration(float64(max(p.records-p.users, 0)) / rate * float64(time.Second))
	return fmt.Sprintf("%.0f users/s  %s  ETA %s", rate, took.Round(time.Second), left.Round(time.Second))
}

func (p *sliceProgress) start(s pipeline.SlicePlan) {
	p.ui.logger.Debug("replaying a slice", "date", s.Key.DateString(), "tenant", s.Key.Tenant, "raw_run", s.RawRun,
		"records", s.Records, "why", s.Why)
}

func (p *sliceProgress) finish(r pipeline.SliceResult) {
	p.mu.Lock()
	p.done++
	if r.Action == pipeline.ActionReplay {
		p.users += r.Records
	}
	done := p.done
	p.mu.Unlock()
	if p.bar != nil {
		p.bar.Increment()
	}
	log := p.ui.logger
	switch {
	case r.Outcome == pipeline.OutcomeFailed && r.Manifest != nil && p.text:
		log.Error("slice published in the Parquet warehouse, NOT loaded into BigQuery", "date", r.Key.DateString(),
			"tenant", r.Key.Tenant, "raw_run", r.RawRun, "err", r.Err)
	case r.Outcome == pipeline.OutcomeFailed && p.text:
		log.Error("slice failed; its old files are kept", "date", r.Key.DateString(), "tenant", r.Key.Tenant,
			"raw_run", r.RawRun, "err", r.Err)
	case p.lines:
		log.Info("slice "+label(r.Outcome), "date", r.Key.DateString(), "tenant", r.Key.Tenant,
			"raw_run", r.RawRun, "users", usersOf(r), "seconds", r.Elapsed.Round(10*time.Millisecond).Seconds(),
			"done", fmt.Sprintf("%d/%d", done, p.slices), "progress", p.line())
	}
}

// label is an outcome or a planned action as people read it: the
// constants' values with spaces ("up to date", "no raw data").
func label[T ~string](v T) string { return strings.ReplaceAll(string(v), "_", " ") }

func usersOf(r pipeline.SliceResult) int64 {
	if r.Manifest == nil {
		return 0
	}
	return r.Manifest.Counts.Users
}

// whyOf is the last column of a slice's line: its error when it failed,
// else why it was (or was not) replayed.
func whyOf(r pipeline.SliceResult) string {
	if r.Err != nil && r.Manifest != nil {
		return "published in Parquet, NOT loaded into BigQuery (a backfill with --sink parquet,bigquery loads it): " +
			oneLine(r.Err.Error())
	}
	if r.Err != nil {
		return oneLine(r.Err.Error())
	}
	return planWhy(r.Why)
}

// planWhy words a plan's reason for people, with the flag that changes it.
func planWhy(why string) string {
	switch {
	case strings.HasPrefix(why, "no complete raw run ("):
		return why + "; name one with --raw-run to replay it anyway"
	case why == "forced":
		return "--force"
	}
	return why
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeBackfillReport ends a backfill: a table of its slices in the
// result's order, then the totals; with --log-format json, one record per
// slice and one summary record instead.
func writeBackfillReport(w io.Writer, log *slog.Logger, o logOptions, res pipeline.BackfillResult, where string) error {
	replayed, upToDate := res.Count(pipeline.OutcomeReplayed), res.Count(pipeline.OutcomeUpToDate)
	noRaw, failed := res.Count(pipeline.OutcomeNoRaw), res.Count(pipeline.OutcomeFailed)
	loaded := res.Count(pipeline.OutcomeLoaded)
	if o.LogFormat == "json" {
		for _, r := range res.Slices {
			attrs := []any{"date", r.Key.DateString(), "tenant", r.Key.Tenant, "outcome", string(r.Outcome),
				"endpoint", string(r.Endpoint), "raw_run", r.RawRun, "why", r.Why,
				"seconds", r.Elapsed.Round(time.Millisecond).Seconds()}
			if r.Manifest != nil {
				attrs = append(attrs, "run_id", r.Manifest.RunID, "users", r.Manifest.Counts.Users,
					"methods", r.Manifest.Counts.Methods, "rejected", r.Manifest.Counts.Rejected)
			}
			if r.Err != nil {
				attrs = append(attrs, "err", r.Err.Error())
				log.Error("backfill slice", attrs...)
				continue
			}
			log.Info("backfill slice", attrs...)
		}
		log.Info("backfill summary", "slices", len(res.Slices), "replayed", replayed, "up_to_date", upToDate,
			"loaded", loaded, "no_raw_data", noRaw, "failed", failed, "warehouse", where)
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "backfill into %s\n", where)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "date\ttenant\toutcome\tusers\trejected\traw run\twhy")
	for _, r := range res.Slices {
		users, rejected := "-", "-"
		if m := r.Manifest; m != nil {
			users, rejected = fmt.Sprint(m.Counts.Users), fmt.Sprint(m.Counts.Rejected)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Key.DateString(), r.Key.Tenant, label(r.Outcome),
			users, rejected, dash(r.RawRun), whyOf(r))
	}
	tw.Flush()
	fmt.Fprintf(&b, "%d replayed, %d up to date (skipped), ", replayed, upToDate)
	if loaded > 0 {
		fmt.Fprintf(&b, "%d loaded into BigQuery from their published files, ", loaded)
	}
	fmt.Fprintf(&b, "%d no raw data, %d failed\n", noRaw, failed)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeBackfillPlan is --dry-run's output: what each slice would get and
// why, then the totals; with --log-format json, one record per slice and a
// summary record.
func writeBackfillPlan(w io.Writer, log *slog.Logger, o logOptions, plan []pipeline.SlicePlan, where string) error {
	count := map[pipeline.SliceAction]int{}
	var records int64
	for _, s := range plan {
		count[s.Action]++
		if s.Action == pipeline.ActionReplay {
			records += s.Records
		}
	}
	if o.LogFormat == "json" {
		for _, s := range plan {
			log.Info("backfill plan", "date", s.Key.DateString(), "tenant", s.Key.Tenant, "action", string(s.Action),
				"endpoint", string(s.Endpoint), "raw_run", s.RawRun, "records", s.Records, "why", s.Why)
		}
		log.Info("backfill plan summary", "slices", len(plan), "replay", count[pipeline.ActionReplay],
			"records", records, "up_to_date", count[pipeline.ActionUpToDate], "load", count[pipeline.ActionLoad],
			"no_raw_data", count[pipeline.ActionNoRaw],
			"warehouse", where, "dry_run", true)
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "backfill plan for %s (--dry-run: nothing is written)\n", where)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "date\ttenant\taction\tendpoint\traw run\trecords\twhy")
	for _, s := range plan {
		recs := "-"
		if s.RawRun != "" {
			recs = fmt.Sprint(s.Records)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Key.DateString(), s.Key.Tenant, label(s.Action),
			dash(string(s.Endpoint)), dash(s.RawRun), recs, planWhy(s.Why))
	}
	tw.Flush()
	fmt.Fprintf(&b, "%d to replay (%d records), %d up to date (skipped), ", count[pipeline.ActionReplay], records,
		count[pipeline.ActionUpToDate])
	if n := count[pipeline.ActionLoad]; n > 0 {
		fmt.Fprintf(&b, "%d to load into BigQuery from their published files, ", n)
	}
	fmt.Fprintf(&b, "%d no raw data\n", count[pipeline.ActionNoRaw])
	_, err := io.WriteString(w, b.String())
	return err
}
