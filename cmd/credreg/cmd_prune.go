package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/credreg/credreg/pipeline"
)

// pruneOptions are the flags of `credreg prune`.
type pruneOptions struct {
	Warehouse    string
	Raw          string
	RawBefore    string
	TablesBefore string
	DryRun       bool
	LockWait     time.Duration
	logOptions
}

func (o *pruneOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Warehouse, "warehouse", "./warehouse", "the warehouse: a local path or a blob URL (file://, gs://, azblob://)")
	f.StringVar(&o.Raw, "raw", "", "the raw zone, when not the warehouse's own _raw folder")
	f.StringVar(&o.RawBefore, "raw-before", "", "delete every raw run dated before this day, YYYY-MM-DD (those days can no longer be backfilled)")
	f.StringVar(&o.TablesBefore, "tables-before", "", "delete every published slice (all tables and the manifest) dated before this day, YYYY-MM-DD")
	f.BoolVar(&o.DryRun, "dry-run", false, "list what would be deleted, per date, and delete nothing")
	f.DurationVar(&o.LockWait, "lock-wait", 0, "when a slice is being written, wait this long for it (e.g. 10m); 0: skip it at once (exit status 7)")
	o.logOptions.AddFlags(cmd)
}

func newPruneCmd() *cobra.Command {
	var o pruneOptions
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Delete raw runs and published slices older than a date (retention)",
		Long: `Delete what is older than the retention period: with --raw-before, every raw run
(every tenant, endpoint and run) dated before that day; with --tables-before,
every published slice (every table's file and the manifest) dated before that
day. Give one or both; the dates are days before which everything goes, and
may not be after today (UTC).

Each (date, tenant) is deleted under its slice's lease, so nothing a run,
backfill or import is writing is touched: such a slice is skipped and reported,
and prune exits with status 7 (or waits for it with --lock-wait). A slice's
manifest goes before its files, and a raw run's _index.json before its pages,
so that a prune stopped midway leaves nothing that claims to be complete; run
it again to finish.

The raw zone is the system of record: a day whose raw runs are pruned can no
longer be rebuilt with backfill, not even after a bug fix. Keep the raw zone
longer than the tables (or keep it on cheaper storage) unless its personal data
must go.

--dry-run lists, per date, what would be deleted (tenants, raw runs, objects,
bytes) and deletes nothing. At the end prune prints the same table for what it
deleted, then any slice it skipped.`,
		Example: `  credreg prune --warehouse ./warehouse --tables-before 2025-12-01 --dry-run
  credreg prune --warehouse 'gs://my-bucket?prefix=credreg/' --raw-before 2026-06-01 --tables-before 2024-12-01
  credreg prune --warehouse 'azblob://credreg/warehouse' --raw 'azblob://credreg-raw' --raw-before 2026-09-01 --lock-wait 30m`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPrune(cmd.Context(), o, time.Now(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// pruneDate reads a --*-before date: empty is none; a day after today is
// refused, as it would delete today's runs.
func pruneDate(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, usagef("%s %q: want YYYY-MM-DD", flag, s)
	}
	y, m, d := now.UTC().Date()
	if t.After(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)) {
		return time.Time{}, usagef("%s %s is after today (UTC): prune deletes only past days", flag, s)
	}
	return t, nil
}

// runPrune is `credreg prune`; tests call it directly.
func runPrune(ctx context.Context, o pruneOptions, now time.Time, stdout, stderr io.Writer) error {
	if err := o.logOptions.validate(); err != nil {
		return err
	}
	if err := checkLockWait(o.LockWait); err != nil {
		return err
	}
	rawBefore, err := pruneDate("--raw-before", o.RawBefore, now)
	if err != nil {
		return err
	}
	tablesBefore, err := pruneDate("--tables-before", o.TablesBefore, now)
	if err != nil {
		return err
	}
	if rawBefore.IsZero() && tablesBefore.IsZero() {
		return usagef("give --raw-before, --tables-before or both: the day before which to delete")
	}
	// A folder that is not there is a typo, not an empty warehouse:
	// opening it for writing would create it.
	for _, loc := range []struct{ flag, path string }{{"--warehouse", o.Warehouse}, {"--raw", o.Raw}} {
		if loc.path == "" || strings.Contains(loc.path, "://") {
			continue
		}
		if _, err := os.Stat(loc.path); err != nil {
			return usagef("%s %s: %v", loc.flag, loc.path, err)
		}
	}
	wh, err := openWarehouse(ctx, o.Warehouse, !o.DryRun)
	if err != nil {
		return err
	}
	defer wh.Close()
	popts := pipeline.PruneOptions{Warehouse: wh, RawBefore: rawBefore, TablesBefore: tablesBefore, DryRun: o.DryRun, LockWait: o.LockWait}
	if !rawBefore.IsZero() {
		raw, _, err := openRaw(ctx, o.Warehouse, o.Raw)
		if err != nil {
			return err
		}
		defer raw.Close()
		popts.Raw = raw
	}
	ui := newUI(o.logOptions, stderr)
	defer ui.close()
	log := ui.logger
	if !rawBefore.IsZero() {
		log.Warn(fmt.Sprintf("pruning the raw zone before %s: those days can no longer be rebuilt with backfill", o.RawBefore),
			"raw_before", o.RawBefore, "dry_run", o.DryRun)
	}
	res, err := pipeline.Prune(ctx, popts)
	if err != nil {
		return err
	}
	if o.LogFormat == "json" {
		for _, it := range res.Items {
			attrs := []any{"kind", string(it.Kind), "snapshot_date", it.Key.DateString(), "tenant_id", it.Key.Tenant,
				"outcome", string(it.Outcome), "objects", it.Objects, "bytes", it.Bytes}
			if it.Kind == pipeline.PruneRaw {
				attrs = append(attrs, "runs", it.Runs)
			}
			if it.Err != nil {
				attrs = append(attrs, "err", it.Err.Error())
			}
			log.Info("prune item", attrs...)
		}
		t := pruneTotals(res.Items)
		log.Info("prune summary", "warehouse", wh.String(), "dry_run", o.DryRun, "raw_before", o.RawBefore, "tables_before", o.TablesBefore,
			"raw_runs", t.rawRuns, "raw_objects", t.rawObjects, "raw_bytes", t.rawBytes,
			"slices", t.slices, "table_objects", t.tableObjects, "table_bytes", t.tableBytes, "skipped", t.skipped)
		return res.Err()
	}
	if err := printPrune(stdout, wh.String(), o.DryRun, res); err != nil {
		return err
	}
	return res.Err()
}

// pruneRow sums the items of one date (or all of them).
type pruneRow struct {
	rawTenants, rawRuns, rawObjects int
	rawBytes                        int64
	slices, tableObjects            int
	tableBytes                      int64
	skipped                         int
}

func (r *pruneRow) add(it pipeline.PruneItem) {
	if it.Outcome != pipeline.PruneDeleted && it.Outcome != pipeline.PruneWouldDelete {
		r.skipped++
		return
	}
	switch it.Kind {
	case pipeline.PruneRaw:
		r.rawTenants++
		r.rawRuns += it.Runs
		r.rawObjects += it.Objects
		r.rawBytes += it.Bytes
	case pipeline.PruneTables:
		r.slices++
		r.tableObjects += it.Objects
		r.tableBytes += it.Bytes
	}
}

func pruneTotals(items []pipeline.PruneItem) pruneRow {
	var t pruneRow
	for _, it := range items {
		t.add(it)
	}
	return t
}

// printPrune prints what went (or would go) per date, a total, then
// every item skipped or failed, with why.
func printPrune(w io.Writer, warehouse string, dryRun bool, res pipeline.PruneResult) error {
	verb := "deleted"
	if dryRun {
		verb = "would delete (dry run)"
	}
	byDate := map[string]*pruneRow{}
	var dates []string
	for _, it := range res.Items {
		d := it.Key.DateString()
		if byDate[d] == nil {
			byDate[d] = &pruneRow{}
			dates = append(dates, d)
		}
		byDate[d].add(it)
	}
	slices.Sort(dates)
	fmt.Fprintf(w, "%s from %s:\n", verb, warehouse)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "date\traw tenants\traw runs\traw objects\traw bytes\tslices\ttable objects\ttable bytes\tskipped\t")
	row := func(name string, r pruneRow) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%d\t%s\t%d\t\n", name, r.rawTenants, r.rawRuns, r.rawObjects, byteSize(r.rawBytes),
			r.slices, r.tableObjects, byteSize(r.tableBytes), r.skipped)
	}
	for _, d := range dates {
		row(d, *byDate[d])
	}
	row("total", pruneTotals(res.Items))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, it := range res.Items {
		if it.Err != nil {
			fmt.Fprintf(w, "%s %s of %s: %v\n", it.Outcome, it.Kind, sliceName(it.Key), it.Err)
		}
	}
	return nil
}

// byteSize is n in binary units, for people.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
