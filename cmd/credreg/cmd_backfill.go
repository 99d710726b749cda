package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gocloud.dev/blob"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
	"github.com/credreg/credreg/transform"
)

// backfillOptions are the flags of `credreg backfill`.
type backfillOptions struct {
	From     string
	To       string
	Tenants  []string
	Endpoint string
	Parallel int
	DryRun   bool
	Force    bool
	RawRun   string
	replayFlags
	metricsFlags
	memoryOptions
	// afterStep is deps.afterStep: nil but in the kill test.
	afterStep func(point string)
}

func (o *backfillOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.From, "from", "", "first snapshot date to rebuild, YYYY-MM-DD (required)")
	f.StringVar(&o.To, "to", "", "last snapshot date to rebuild, YYYY-MM-DD, inclusive (default: --from, one day)")
	f.StringSliceVar(&o.Tenants, "tenant", nil, "tenant id to rebuild; repeat (or separate with commas) for several (default: every tenant with raw data)")
	f.StringVar(&o.Endpoint, "endpoint", "", "replay raw runs of this report only: userRegistrationDetails or credentialUserRegistrationDetails (default: per date, the report of that date's newest complete raw run)")
	f.IntVar(&o.Parallel, "parallel", pipeline.DefaultParallel, "tenants replayed at once (each tenant's dates run in order)")
	f.BoolVar(&o.DryRun, "dry-run", false, "print what would be replayed, skipped and why, and write nothing")
	f.BoolVar(&o.Force, "force", false, "replay slices that are up to date too")
	f.StringVar(&o.RawRun, "raw-run", "", "replay this raw run id (the <id> of a run_id=<id> folder of the raw zone, or a manifest's replayed_from.run_id), even an incomplete one, for a single date (--from alone); slices without it are reported as having no raw data")
	o.metricsFlags.AddFlags(f)
	o.memoryOptions.AddFlags(f)
	o.replayFlags.AddFlags(cmd)
}

func newBackfillCmd(d deps) *cobra.Command {
	o := backfillOptions{afterStep: d.afterStep}
	cmd := &cobra.Command{
		Use:   "backfill",
		Short: "Rebuild the slices of a date range from the raw zone, without asking Graph",
		Long: `Rebuild every (date, tenant) slice of a range from the raw zone: transform and load
the pages a run landed, exactly as that run did, and publish each slice atomically
under its lease, with a manifest that names the raw run it was replayed from. No
Graph request is made and no credential is read.

The raw zone (<warehouse>/_raw, or --raw) is the system of record: Graph only
ever returns today's state, so history exists only in the pages that were
landed. Raw runs are never changed by a run or a backfill: only 'credreg prune'
(retention) deletes them and 'credreg erase' (a data-subject request) rewrites
them. Every table can be rebuilt from them after a bug fix, a schema change or
a new sink.

Which raw run: a date may hold several. Backfill replays the newest complete
one (its _index.json says so) of --endpoint, by default of the report of that
date's newest complete run. An incomplete or failed run is replayed only when
named with --raw-run. A (date, tenant) without a complete raw run is reported
as "no raw data" and left as it is.

Up to date: a slice whose manifest names the same raw run (and the same page
checksums), the current schema version and the same credreg build (module
version and VCS revision, or the executable's checksum) is skipped unless
--force. So a backfill that was killed can be run again: it skips what was
done and replays the rest; and a new credreg build rebuilds everything.

Tenants are replayed --parallel at a time, each tenant's dates in order. The
error budget and the data contract are run's: a slice over the budget is not
published and keeps its old files (exit status 4 when every failed slice failed
that way, 3 when other slices are whole). A slice another process is writing
fails with exit status 7, or is waited for with --lock-wait.

--to defaults to --from. A range that ends after today (UTC), --from after --to,
an unknown --endpoint, a tenant id that is not a GUID, and a raw zone that does
not exist or cannot be listed are usage errors (exit status 2), found before
any slice is touched.

At the end it prints a table of dates × tenants — replayed, up to date
(skipped), no raw data, failed and why — and a totals line. With --log-format
json, stdout stays empty: stderr gets one JSON record per slice
("backfill slice") and one "backfill summary" record, as for run. --dry-run
prints the plan the same way and writes nothing.`,
		Example: `  credreg backfill --from 2026-11-01 --to 2026-11-30 --dry-run
  credreg backfill --from 2026-11-01 --to 2026-11-30 --parallel 4
  credreg backfill --from 2026-11-27 --tenant 8f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f --force
  credreg backfill --from 2026-11-27 --raw-run 20261127T020000Z-1a2b3c4d
  credreg backfill --from 2026-11-01 --to 2026-11-30 --warehouse 'gs://my-bucket?prefix=credreg/' --lock-wait 30m`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			restore, err := o.memoryOptions.apply(os.Getenv)
			if err != nil {
				return err
			}
			defer restore()
			return runBackfill(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// backfillPlan is a backfill's checked settings.
type backfillPlan struct {
	from, to time.Time
	tenants  []string
	endpoint schemas.Endpoint
	budget   pipeline.ErrorBudget
}

// plan checks every flag; now is today's clock, for the range's end.
func (o *backfillOptions) plan(now time.Time) (*backfillPlan, error) {
	budget, err := o.replayFlags.check()
	if err != nil {
		return nil, err
	}
	p := &backfillPlan{budget: budget}
	if o.From == "" {
		return nil, usagef("--from is required: the first date to rebuild, YYYY-MM-DD")
	}
	if p.from, err = parseRangeDate("--from", o.From); err != nil {
		return nil, err
	}
	p.to = p.from
	if o.To != "" {
		if p.to, err = parseRangeDate("--to", o.To); err != nil {
			return nil, err
		}
	}
	if p.from.After(p.to) {
		return nil, usagef("--from %s is after --to %s", o.From, p.to.Format(time.DateOnly))
	}
	if today := now.UTC().Format(time.DateOnly); p.to.Format(time.DateOnly) > today {
		return nil, usagef("--to %s: a range in the future (today is %s, UTC); the raw zone holds only what was landed",
			p.to.Format(time.DateOnly), today)
	}
	if o.Endpoint != "" {
		if p.endpoint, err = schemas.ParseEndpoint(o.Endpoint); err != nil {
			return nil, usageError{err}
		}
	}
	seen := map[string]bool{}
	for _, given := range o.Tenants {
		id, err := tenantID(fmt.Sprintf("--tenant %q", given), given)
		if err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, usagef("--tenant %s is listed twice", id)
		}
		seen[id] = true
		p.tenants = append(p.tenants, id)
	}
	if o.Parallel < 1 {
		return nil, usagef("--parallel %d: want 1 or more tenants at once", o.Parallel)
	}
	if o.RawRun != "" {
		// A raw run id names one run of one day (a run's tenants share it).
		if !p.from.Equal(p.to) {
			return nil, usagef("--raw-run names a run of one day: give --from alone (or --to equal to --from)")
		}
		if strings.ContainsAny(o.RawRun, "/=") {
			return nil, usagef("--raw-run %q: want the run id alone, as in run_id=<id> of the raw zone", o.RawRun)
		}
	}
	return p, nil
}

// parseRangeDate reads --from or --to.
func parseRangeDate(flag, s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, usagef("%s %q: want YYYY-MM-DD", flag, s)
	}
	return t, nil
}

// runBackfill is `credreg backfill`; tests call it directly.
func runBackfill(ctx context.Context, o backfillOptions, stdout, stderr io.Writer) error {
	plan, err := o.plan(time.Now())
	if err != nil {
		return err
	}
	mx, err := o.metricsFlags.start("backfill", o.DryRun)
	if err != nil {
		return err
	}
	raw, rawLoc, err := o.openRawZone(ctx)
	if err != nil {
		return err
	}
	defer raw.Close()
	where := o.Warehouse
	if o.DryRun && missingFolder(where) {
		// A dry run creates nothing: a warehouse not made yet holds no
		// slice, as an empty one in memory does.
		where = "mem://"
	}
	wh, err := openWarehouse(ctx, where, !o.DryRun)
	if err != nil {
		return err
	}
	defer wh.Close()
	ui := newUI(o.logOptions, stderr)
	defer ui.close()
	log := ui.logger
	defer mx.finish(ctx, wh, log) // whatever the outcome

	// A dry run asks BigQuery nothing: it only needs to know the dataset.
	// AfterStep is nil but in the kill test.
	sink, closeSink, err := o.sinkOptions.open(ctx, wh, load.WriterOptions{LockWait: o.LockWait, Logger: log,
		AfterStep: o.afterStep}, log,
		o.changed, !o.DryRun)
	if err != nil {
		return err
	}
	defer closeSink()
	bo := pipeline.BackfillOptions{
		Raw: raw, From: plan.from, To: plan.to, Tenants: plan.tenants, Endpoint: plan.endpoint,
		RawRun: o.RawRun, Parallel: o.Parallel, Force: o.Force, Sink: sink,
		Replay: o.replayOptions(&plan.budget, rawLoc),
	}
	slices, err := pipeline.PlanBackfill(ctx, bo)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, pipeline.ErrRawZone):
		return usagef("--raw: cannot read the raw zone %s: %v", rawLoc, err)
	default:
		return fmt.Errorf("planning the backfill: %w", err)
	}
	if len(slices) == 0 {
		return usagef("the raw zone %s holds no tenant to rebuild: no tenant_id= folder (pass --raw if the raw zone is elsewhere)", rawLoc)
	}
	tenants := make([]string, len(slices))
	for i, s := range slices {
		tenants[i] = s.Key.Tenant
	}
	if err := o.checkHistory(ctx, wh, tenants, o.pseudo); err != nil {
		return err
	}
	if o.DryRun {
		ui.close()
		label := wh.String()
		if where != o.Warehouse {
			label = o.Warehouse + " (not made yet)"
		}
		return writeBackfillPlan(stdout, log, o.logOptions, slices, label)
	}

	bo.Plan = slices
	prog := newSliceProgress(ui, o.logOptions, slices)
	finished := 0
	bo.Started = prog.start
	bo.Finished = mx.sliceFinished(func(r pipeline.SliceResult) {
		prog.finish(r)
		finished++
		if o.afterStep != nil {
			o.afterStep(backfillSlicePoint(finished))
		}
	})
	res, err := pipeline.Backfill(ctx, bo)
	ui.close()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if err := writeBackfillReport(stdout, log, o.logOptions, res, wh.String()); err != nil {
		return err
	}
	if err := res.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// openRawZone opens the raw zone and proves it can be listed, before any
// slice is touched. A local folder that does not exist is refused without
// being created, which opening it would do.
func (o *backfillOptions) openRawZone(ctx context.Context) (*blob.Bucket, string, error) {
	flag, given := "--raw", o.Raw
	if given == "" {
		flag, given = "--warehouse", o.Warehouse
	}
	if !strings.Contains(given, "://") {
		dir, err := filepath.Abs(given)
		if err == nil {
			_, err = os.Stat(dir)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", usagef("%s: %s does not exist; backfill rebuilds slices from the raw pages runs "+
				"landed, so point --warehouse (or --raw) at where they are", flag, dir)
		}
		if err != nil {
			return nil, "", usagef("%s: %v", flag, err)
		}
	}
	raw, loc, err := openRaw(ctx, o.Warehouse, o.Raw)
	if err != nil {
		return nil, "", err
	}
	it := raw.List(&blob.ListOptions{Delimiter: "/"})
	if _, err := it.Next(ctx); err != nil {
		raw.Close()
		if errors.Is(err, io.EOF) {
			return nil, "", usagef("%s: the raw zone %s is empty: it holds no raw run to rebuild from", flag, loc)
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		return nil, "", usagef("%s: cannot list the raw zone %s: %s", flag, loc,
			strings.ReplaceAll(err.Error(), given, load.Location(given)))
	}
	return raw, loc, nil
}

// openWarehouse opens --warehouse and, when the command is to write it,
// proves it writable before any work.
func openWarehouse(ctx context.Context, location string, writable bool) (*load.Warehouse, error) {
	wh, err := load.OpenWarehouse(ctx, location)
	if err != nil {
		return nil, openError("--warehouse", location, err)
	}
	if writable {
		if err := wh.CheckWritable(ctx); err != nil {
			wh.Close()
			return nil, usagef("--warehouse: %v", err)
		}
	}
	return wh, nil
}

// openRaw opens the raw zone, --raw or the warehouse's own, and returns it
// with its location as manifests show it; an error names the flag at fault.
func openRaw(ctx context.Context, warehouse, raw string) (*blob.Bucket, string, error) {
	bucket, loc, err := load.OpenRaw(ctx, warehouse, raw)
	switch {
	case err == nil:
		return bucket, loc, nil
	case raw != "":
		return nil, "", openError("--raw", raw, err)
	}
	return nil, "", openError("--warehouse", warehouse, err)
}

// replayFlags are the flags backfill and import share: where the slices
// and the raw zone are, the lease, and the data contract a replay passes,
// with run's defaults.
type replayFlags struct {
	Warehouse      string
	Raw            string
	LockWait       time.Duration
	MaxRejectRatio float64
	MaxRejects     int64
	AllowEmpty     bool
	MaxDrift       float64
	StrictAggs     bool
	sinkOptions
	logOptions
	privacyOptions
	// pseudo is the pseudonymizer check loads; nil for real names.
	pseudo *transform.Pseudonymizer
	// changed says whether a flag was given; nil in tests that build
	// the options by hand.
	changed func(name string) bool
}

func (o *replayFlags) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Warehouse, "warehouse", "./warehouse", "where snapshots go: a local path or a blob URL (file://, gs://, azblob://, mem://)")
	f.StringVar(&o.Raw, "raw", "", "the raw zone, where runs landed their pages (default <warehouse>/_raw)")
	f.DurationVar(&o.LockWait, "lock-wait", 0, "when another process is writing a slice, wait this long for it (e.g. 10m); 0: fail that slice at once (exit status 7 when it is the only slice, else 3)")
	f.Float64Var(&o.MaxRejectRatio, "max-reject-ratio", pipeline.DefaultBudget().MaxRejectRatio, "largest share of records that may be rejected; over it the slice is not published (exit status 4)")
	f.Int64Var(&o.MaxRejects, "max-rejects", -1, "largest number of rejected records (negative: no limit by count)")
	f.BoolVar(&o.AllowEmpty, "allow-empty", false, "publish a slice even when its raw run holds no users (by default that fails with exit status 4 and keeps the old slice)")
	f.Float64Var(&o.MaxDrift, "max-aggregate-drift", pipeline.DefaultMaxAggregateDrift, "largest difference from Graph's own counts landed with the raw run, as a share of its users, that passes without a warning")
	f.BoolVar(&o.StrictAggs, "strict-aggregates", false, "a difference from Graph's own counts over --max-aggregate-drift fails the slice (exit status 4) instead of warning")
	o.sinkOptions.AddFlags(f)
	o.privacyOptions.AddFlags(f)
	o.logOptions.AddFlags(cmd)
	o.changed = f.Changed
}

// check checks the flags and returns the error budget they set.
func (o *replayFlags) check() (pipeline.ErrorBudget, error) {
	if err := o.logOptions.validate(); err != nil {
		return pipeline.ErrorBudget{}, err
	}
	if _, err := o.sinkOptions.bigQuery(o.changed); err != nil {
		return pipeline.ErrorBudget{}, err
	}
	if err := checkLockWait(o.LockWait); err != nil {
		return pipeline.ErrorBudget{}, err
	}
	var err error
	if o.pseudo, err = o.privacyOptions.pseudonymizer(os.Getenv); err != nil {
		return pipeline.ErrorBudget{}, err
	}
	if !(o.MaxDrift > 0 && o.MaxDrift < 1) {
		return pipeline.ErrorBudget{}, usagef("--max-aggregate-drift %g: want a share between 0 and 1, e.g. 0.005 for 0.5 %%", o.MaxDrift)
	}
	b := pipeline.ErrorBudget{MaxRejectRatio: o.MaxRejectRatio, MaxRejects: o.MaxRejects}
	if err := b.Validate(); err != nil {
		return pipeline.ErrorBudget{}, usagef("--max-reject-ratio: %v", err)
	}
	return b, nil
}

// replayOptions is the template of every slice's replay.
func (o *replayFlags) replayOptions(budget *pipeline.ErrorBudget, rawLoc string) pipeline.ReplayOptions {
	return pipeline.ReplayOptions{Budget: budget, RawURL: rawLoc, AllowEmpty: o.AllowEmpty, Tool: tool(),
		MaxAggregateDrift: o.MaxDrift, StrictAggregates: o.StrictAggs, Pseudonymize: o.pseudo}
}

// missingFolder says whether location is a local folder that does not exist.
func missingFolder(location string) bool {
	if strings.Contains(location, "://") {
		return false
	}
	_, err := os.Stat(location)
	return errors.Is(err, fs.ErrNotExist)
}
