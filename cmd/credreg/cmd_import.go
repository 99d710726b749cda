package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// importOptions are the flags of `credreg import`.
type importOptions struct {
	Date     string
	Tenant   string
	Endpoint string
	Force    bool
	replayFlags
}

func (o *importOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Date, "date", "", "the day the files were saved from Graph, YYYY-MM-DD: the snapshot date of the slice (required)")
	f.StringVar(&o.Tenant, "tenant", "", "the tenant id the files are of (required)")
	f.StringVar(&o.Endpoint, "endpoint", string(schemas.UserRegistrationDetails),
		"report the files were saved from: userRegistrationDetails or credentialUserRegistrationDetails")
	f.BoolVar(&o.Force, "force", false, "replace a slice of that date and tenant that exists already")
	o.replayFlags.AddFlags(cmd)
}

func newImportCmd() *cobra.Command {
	var o importOptions
	cmd := &cobra.Command{
		Use:   "import --date YYYY-MM-DD --tenant ID FILE...",
		Short: "Turn saved Graph responses into a day's slice",
		Long: `Turn responses saved from Graph (Graph Explorer, Invoke-MgGraphRequest
-OutputFilePath, a script that followed the next links) into history: land the
files in the raw zone as a new raw run marked imported, then publish that
(date, tenant) slice from it exactly as backfill replays one, under the slice's
lease and the data contract.

A FILE holds one page as Graph sends it ({"value":[…]}), a JSON array of
records, JSON Lines of records, or JSON Lines of pages (a script appending each
response); gzip is accepted. Files are read in the order given; "-" reads
standard input. A page keeps its bytes exactly as saved; records are landed in
pages of 999. Records that break the data contract are rejected as in a run
(rejected_records), within the error budget of --max-reject-ratio/--max-rejects.

The rows' extracted_at is the time of the import: a saved response does not
say when Graph sent it. Graph's own counts are not in an export, so the slice
has no comparison with them.

A FILE that does not exist is a usage error (exit status 2) before anything is
landed. A file that is not a saved Graph response (an HTML error page, a CSV,
JSON that is neither a page nor records) is bad data, not a bad command line:
exit status 4. Whatever stops an import, nothing is published and the raw run
is kept, marked incomplete, for inspection (never replayed unless named with
backfill --raw-run). A slice that exists already is
replaced only with --force. The import prints the slice's summary and the raw
run's id; backfill can rebuild the slice from it later, like any raw run.`,
		Example: `  credreg import --date 2026-11-27 --tenant 8f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f export.json
  credreg import --date 2026-11-27 --tenant 8f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f page-1.json page-2.json page-3.json
  gzip -dc pages.jsonl.gz | credreg import --date 2026-11-27 --tenant 8f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f \
    --endpoint credentialUserRegistrationDetails -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("%s needs at least one FILE to import", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(cmd.Context(), o, args, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// importPlan is an import's checked settings.
type importPlan struct {
	key      schemas.Key
	endpoint schemas.Endpoint
	budget   pipeline.ErrorBudget
	files    []extract.ImportFile
}

// plan checks the flags and that every file can be opened, before
// anything is landed.
func (o *importOptions) plan(args []string, stdin io.Reader, now time.Time) (*importPlan, error) {
	budget, err := o.replayFlags.check()
	if err != nil {
		return nil, err
	}
	p := &importPlan{budget: budget}
	if o.Date == "" {
		return nil, usagef("--date is required: the day the files were saved from Graph, YYYY-MM-DD")
	}
	if p.key.Date, err = parseDate(o.Date, now); err != nil {
		return nil, err
	}
	if o.Tenant == "" {
		return nil, usagef("--tenant is required: the tenant id the files are of")
	}
	if p.key.Tenant, err = tenantID(fmt.Sprintf("--tenant %q", o.Tenant), o.Tenant); err != nil {
		return nil, err
	}
	if p.endpoint, err = schemas.ParseEndpoint(o.Endpoint); err != nil {
		return nil, usageError{err}
	}
	stdinUsed := false
	for _, name := range args {
		if name == "-" {
			if stdinUsed {
				return nil, usagef(`"-" (standard input) is given twice`)
			}
			stdinUsed = true
			p.files = append(p.files, extract.ImportFile{Name: "stdin",
				Open: func() (io.ReadCloser, error) { return io.NopCloser(stdin), nil }})
			continue
		}
		fi, err := os.Stat(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, usagef("%s: no such file", name)
		case err != nil:
			return nil, usagef("%v", err)
		case fi.IsDir():
			return nil, usagef("%s is a folder; give the files in it", name)
		}
		p.files = append(p.files, extract.ImportFile{Name: name,
			Open: func() (io.ReadCloser, error) { return os.Open(name) }})
	}
	return p, nil
}

// runImport is `credreg import`; tests call it directly.
func runImport(ctx context.Context, o importOptions, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	plan, err := o.plan(args, stdin, time.Now())
	if err != nil {
		return err
	}
	wh, err := openWarehouse(ctx, o.Warehouse, true)
	if err != nil {
		return err
	}
	defer wh.Close()
	raw, rawLoc, err := openRaw(ctx, o.Warehouse, o.Raw)
	if err != nil {
		return err
	}
	defer raw.Close()
	if !o.Force {
		_, err := wh.ReadManifest(ctx, plan.key)
		switch {
		case err == nil:
			return usagef("--date %s: the slice %s already exists in %s; importing would replace it with the files' data. "+
				"Pass --force to replace it", o.Date, sliceName(plan.key), wh)
		case !errors.Is(err, load.ErrNotFound):
			return fmt.Errorf("checking whether the slice %s exists: %w", sliceName(plan.key), err)
		}
	}
	if err := o.checkHistory(ctx, wh, []string{plan.key.Tenant}, o.pseudo); err != nil {
		return err
	}
	ui := newUI(o.logOptions, stderr)
	defer ui.close()
	log := ui.logger

	sink, closeSink, err := o.sinkOptions.open(ctx, wh, load.WriterOptions{LockWait: o.LockWait, Logger: log}, log, o.changed, true)
	if err != nil {
		return err
	}
	defer closeSink()
	replay := o.replayOptions(&plan.budget, rawLoc)
	replay.Sink = sink
	idx, m, err := pipeline.Import(ctx, pipeline.ImportOptions{Raw: raw, Key: plan.key, Endpoint: plan.endpoint,
		Files: plan.files, Replay: replay})
	if errors.Is(err, pipeline.ErrNotLoaded) && m != nil {
		// Published in Parquet; BigQuery lacks it: the summary says so.
		if serr := writeSummary(stdout, log, o.logOptions, m, wh.String()); serr != nil {
			return serr
		}
		return err
	}
	if err != nil {
		if idx.RunID != "" {
			log.Error("import: nothing published; the raw run is kept, marked incomplete, for inspection "+
				"(credreg backfill --raw-run names it to replay it anyway)",
				"raw_run", idx.RunID, "raw", rawLoc, "prefix", idx.Prefix)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if err := writeSummary(stdout, log, o.logOptions, m, wh.String()); err != nil {
		return err
	}
	if o.LogFormat == "json" {
		log.Info("import landed", "raw_run", idx.RunID, "raw", rawLoc, "prefix", idx.Prefix, "files", idx.Sources,
			"pages", len(idx.Pages))
		return nil
	}
	_, err = fmt.Fprintf(stdout, "imported %s as raw run %s (%d pages) in %s\n",
		strings.Join(idx.Sources, ", "), idx.RunID, len(idx.Pages), rawLoc)
	return err
}
