package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credreg/credreg/trends"
)

// trendsFormats are the --format values of credreg trends, the default first.
var trendsFormats = []string{"table", "csv", "json"}

// trendsOptions are the flags of `credreg trends`.
type trendsOptions struct {
	Warehouse string
	Tenants   []string
	From, To  string
	Format    string
	HTML      string
}

func (o *trendsOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Warehouse, "warehouse", "./warehouse", "the warehouse to read: a local path or a blob URL (file://, gs://, azblob://, mem://)")
	f.StringSliceVar(&o.Tenants, "tenant", nil, "tenant id to show; repeat (or separate with commas) for several (default: every tenant)")
	f.StringVar(&o.From, "from", "", fmt.Sprintf("first day YYYY-MM-DD (default: %d days before --to)", trends.DefaultDays))
	f.StringVar(&o.To, "to", "", "last day YYYY-MM-DD (default: the latest snapshot)")
	f.StringVar(&o.Format, "format", trendsFormats[0], "what to print: table (sparklines), csv, or json (one object per line)")
	f.StringVar(&o.HTML, "html", "", "also write a self-contained HTML report (charts, admins who lost MFA, users without methods) to this file")
}

func newTrendsCmd() *cobra.Command {
	var o trendsOptions
	cmd := &cobra.Command{
		Use:   "trends",
		Short: "Show how registration moves over time: terminal table, CSV, JSON, HTML report",
		Long: `Show each tenant's daily registration summary over a range of days: the shares
of users registered for MFA and SSPR, passwordless capable, and the number of
users. It reads registration_daily_summary (one row per slice), and for
--html also registration_changes and the latest snapshot's users, through the
same reader as every command (a local folder, gs://, …).

Formats:
  table  per tenant, the first and last value of each share and a sparkline
  csv    one row per (snapshot_date, tenant_id), every column of the summary
  json   one JSON object per line per (snapshot_date, tenant_id), the same columns

--html writes one HTML file that opens offline (no script, nothing fetched):
line charts of the registration shares, a stacked area of users per method
family, methods added per ISO week, and the tables of admins who lost MFA and
of users without any method for 30 days or more.

Graph serves only today's state, so a night without a snapshot is lost for
good: missing days are gaps (a blank in a sparkline, a break in a chart's
line), never interpolated, and are listed (on stderr for csv and json).`,
		Example: `  credreg trends
  credreg trends --html report.html
  credreg trends --tenant 00000000-0000-4000-8000-000000000001 --from 2026-01-01 --format csv > mfa.csv
  credreg trends --warehouse gs://my-bucket/credreg --format json | jq .mfa_registered_share`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTrends(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// runTrends is `credreg trends`; tests call it directly.
func runTrends(ctx context.Context, o trendsOptions, stdout, stderr io.Writer) error {
	if !slices.Contains(trendsFormats, o.Format) {
		return usagef("--format %q: want one of %s", o.Format, strings.Join(trendsFormats, ", "))
	}
	var opts trends.Options
	var err error
	if opts.From, err = trendsDate("--from", o.From); err != nil {
		return err
	}
	if opts.To, err = trendsDate("--to", o.To); err != nil {
		return err
	}
	if !opts.From.IsZero() && !opts.To.IsZero() && opts.From.After(opts.To) {
		return usagef("--from %s is after --to %s", o.From, o.To)
	}
	for _, t := range o.Tenants {
		if strings.TrimSpace(t) == "" {
			return usagef("--tenant is empty")
		}
		opts.Tenants = append(opts.Tenants, strings.TrimSpace(t))
	}
	if !strings.Contains(o.Warehouse, "://") {
		// Opening a local warehouse makes its folder: a report of a folder
		// that is not there would be an empty one, made by mistake.
		if _, err := os.Stat(o.Warehouse); err != nil {
			return usagef("--warehouse %s: no warehouse there (%v)", o.Warehouse, errors.Unwrap(err))
		}
	}
	wh, err := openWarehouse(ctx, o.Warehouse, false)
	if err != nil {
		return err
	}
	defer wh.Close()
	h, err := trends.Load(ctx, wh, opts)
	if err != nil {
		return err
	}
	switch o.Format {
	case "table":
		err = trends.WriteTable(stdout, h)
	case "csv":
		err = trends.WriteCSV(stdout, h)
	case "json":
		err = trends.WriteJSON(stdout, h)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", o.Format, err)
	}
	if o.Format != "table" {
		trends.WriteGapNotes(stderr, h)
	}
	if o.HTML == "" {
		return nil
	}
	r, err := trends.BuildReport(ctx, wh, h, 0)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(o.HTML, func(w io.Writer) error { return r.WriteHTML(w, trends.HTMLOptions{}) }); err != nil {
		return fmt.Errorf("--html %s: %w", o.HTML, err)
	}
	fmt.Fprintf(stderr, "wrote %s\n", o.HTML)
	return nil
}

// trendsDate reads --from or --to; empty is the zero time (the default).
func trendsDate(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, usagef("%s %q: want YYYY-MM-DD", flag, s)
	}
	return t, nil
}

// writeFileAtomic writes a file through a temporary one beside it, so a
// reader (a browser reloading the report) never sees half of it.
func writeFileAtomic(path string, write func(w io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing to remove
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	// The report names users (admins who lost MFA, users without a
	// method): owner and group only, like everything credreg writes.
	if err := tmp.Chmod(0o640); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
