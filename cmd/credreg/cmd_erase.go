package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// eraseOptions are the flags of `credreg erase`.
type eraseOptions struct {
	Warehouse string
	Raw       string
	User      string
	DryRun    bool
	LockWait  time.Duration
}

func (o *eraseOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Warehouse, "warehouse", "./warehouse", "the warehouse to erase from: a local path or a blob URL (file://, gs://, mem://)")
	f.StringVar(&o.Raw, "raw", "", "the raw zone to erase from (default <warehouse>/_raw)")
	f.StringVar(&o.User, "user", "", "the person: their object id (user_id, a GUID) or user principal name (name@domain, any case) (required)")
	f.BoolVar(&o.DryRun, "dry-run", false, "list what would be erased and write nothing")
	f.DurationVar(&o.LockWait, "lock-wait", 0, "when another process is writing a slice, wait this long for it (e.g. 10m); 0: skip that slice, report it and exit with status 7")
}

func newEraseCmd() *cobra.Command {
	var o eraseOptions
	cmd := &cobra.Command{
		Use:   "erase --user ID|UPN",
		Short: "Remove one person from every slice and from the raw zone (a data-subject request)",
		Long: `Remove one person from everything credreg keeps: every row of theirs in every
slice of every table (user_registration_details, user_auth_methods,
registration_changes, and rejected_records rows whose user_id is theirs or
whose raw JSON names them), the slices kept for inspection under _failed, and
every record of theirs in every raw run of the raw zone (pages, and the
answers to lookups of them).

--user is their object id (the user_id column, Graph's id) or their user
principal name, matched case-insensitively against user_principal_name; a UPN
finds every object id it was the name of. A pseudonymized warehouse holds no
UPN to match: give the object id.

Each slice is rewritten atomically under its lease, as a run publishes it, with
its raw runs; its manifest keeps its run, build and raw run, so a later
'credreg backfill' over the range finds it up to date, and a forced one
replays the rewritten pages: the person does not come back. A slice another
process is writing is skipped and reported (exit status 7), as is one that
cannot be read (exit status 1): every other slice is erased; run erase again.
The raw runs of a day are rewritten under that day's slice lease too.

registration_daily_summary is left as it is: it holds counts, no names, so the
person still counts in those days' totals. BigQuery tables loaded earlier are
not changed: delete the rows there too (or reload the rewritten slices). The
next run reads the person again if they are still in the directory.

An erasure log is written to <warehouse>/_erasures/<time>-<id>.json: when,
which credreg build, the sha256 of each object id erased (never the id or the
name), and the slices and raw runs rewritten with the rows removed per table.
Nothing credreg prints or logs names the person.

--dry-run lists what would be erased and writes nothing, no log either.`,
		Example: `  credreg erase --user 2b7c1f0e-5a6d-4e3f-9a8b-7c6d5e4f3a2b --dry-run
  credreg erase --user Adele.Vance@contoso.com --warehouse 'gs://my-bucket?prefix=credreg/' --raw gs://my-raw-bucket`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runErase(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// runErase is `credreg erase`; tests call it directly.
func runErase(ctx context.Context, o eraseOptions, stdout, stderr io.Writer) error {
	po := pipeline.EraseOptions{DryRun: o.DryRun, LockWait: o.LockWait}
	user := strings.TrimSpace(o.User)
	// The value is personal data: no message repeats it.
	switch {
	case user == "":
		return usagef("--user is required: the person's object id or user principal name")
	case guid.MatchString(user):
		po.UserID = strings.ToLower(user)
	case strings.Count(user, "@") == 1 && !strings.HasPrefix(user, "@") && !strings.HasSuffix(user, "@") && !strings.ContainsAny(user, " \t/"):
		po.UPN = user
	default:
		return usagef("--user: want an object id (a GUID) or a user principal name (name@domain)")
	}
	if o.LockWait < 0 {
		return usagef("--lock-wait %s: want a duration to wait, or 0 not to wait", o.LockWait)
	}
	if missingFolder(o.Warehouse) {
		return usagef("--warehouse: %s does not exist", load.Location(o.Warehouse))
	}
	wh, err := openWarehouse(ctx, o.Warehouse, !o.DryRun)
	if err != nil {
		return err
	}
	defer wh.Close()
	if o.Raw != "" && missingFolder(o.Raw) {
		return usagef("--raw: %s does not exist", load.Location(o.Raw))
	}
	raw, rawLoc, err := openRaw(ctx, o.Warehouse, o.Raw)
	if err != nil {
		return err
	}
	defer raw.Close()
	po.Warehouse, po.Raw, po.RawURL = wh, raw, rawLoc

	res, err := pipeline.Erase(ctx, po)
	switch {
	case errors.Is(err, pipeline.ErrPseudonymized):
		return usageError{err}
	case errors.Is(err, pipeline.ErrRawZone):
		return usagef("--raw: cannot read the raw zone %s: %v", rawLoc, err)
	}
	if res.MatchedBy != "" {
		// The erasure began: say what it did, even if it stopped.
		if werr := writeEraseReport(stdout, res, wh.String()); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// writeEraseReport prints what an erasure did, or would do: per slice,
// the rows removed per table; the raw runs rewritten; the skipped slices.
func writeEraseReport(w io.Writer, res pipeline.EraseResult, where string) error {
	verb := "erased"
	if res.DryRun {
		verb = "would erase (dry run, nothing written)"
	}
	fmt.Fprintf(w, "erasure %s from %s: %s\n", res.ID, where, verb)
	if len(res.UserSHA256) == 0 {
		fmt.Fprintln(w, "no slice names that user principal name: only records with it are erased")
	}
	tables := make([]string, 0, len(schemas.Tables))
	for _, t := range schemas.Tables {
		tables = append(tables, t.Name)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "slice\t%s\trewritten\n", strings.Join(tables, "\t"))
	for _, s := range res.Slices {
		name := s.SnapshotDate + " " + s.Tenant
		if s.Folder != "" {
			name = s.Folder + " " + name
		}
		row := []string{name}
		for _, t := range tables {
			row = append(row, fmt.Sprint(s.RowsRemoved[t]))
		}
		fmt.Fprintf(tw, "%s\t%s\n", strings.Join(row, "\t"), yesNo(s.Rewritten))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range res.RawRuns {
		fmt.Fprintf(w, "raw run %s: %d page(s) rewritten, %d record(s) removed, %d object(s) deleted\n",
			r.Prefix, r.PagesRewritten, r.RecordsRemoved, r.ObjectsRemoved)
	}
	var total int64
	for _, t := range tables {
		total += res.Totals[t]
	}
	fmt.Fprintf(w, "total: %d row(s) in %d slice(s), %d raw record(s) and %d raw object(s) in %d raw run(s)\n",
		total, len(res.Slices), res.Totals["raw_records_removed"], res.Totals["raw_objects_removed"], len(res.RawRuns))
	if len(res.Slices) == 0 && len(res.RawRuns) == 0 && len(res.Skipped) == 0 {
		fmt.Fprintln(w, "nothing of that person was found in the warehouse or the raw zone")
	}
	fmt.Fprintln(w, "kept: "+res.Kept)
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "skipped %s: %s\n", s.Slice, s.Why)
	}
	if res.LogKey != "" {
		fmt.Fprintf(w, "erasure log: %s\n", res.LogKey)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
