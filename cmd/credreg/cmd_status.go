package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credreg/credreg/pipeline/metrics"
)

// statusOptions are the flags of `credreg status`.
type statusOptions struct {
	Warehouse string
	Raw       string
	Days      int
	Format    string
	Stale     time.Duration
}

func (o *statusOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Warehouse, "warehouse", "./warehouse", "the warehouse to report on: a local path or a blob URL (file://, gs://, mem://)")
	f.StringVar(&o.Raw, "raw", "", "the raw zone, to tell which gaps a backfill can still fill (default <warehouse>/_raw)")
	f.IntVar(&o.Days, "days", metrics.DefaultStatusDays, "how many days back, today included, to look for gaps")
	f.StringVar(&o.Format, "format", "table", "output: table (for people) or json (one object per tenant, in an array)")
	f.DurationVar(&o.Stale, "stale", 0, "exit with status 3 when a tenant's newest slice was published longer ago than this (e.g. 36h), for a cron job that alerts; 0: never")
}

func newStatusCmd() *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each tenant's last published slice, missed nights and last failure",
		Long: `Show, per tenant of the warehouse, the newest published slice (date, run, how long
ago), the days in the last --days without a slice (gaps), the days since the newest
slice, and the last failed run kept under _failed with why it failed. It reads the
warehouse's manifests and writes nothing.

Graph serves the report only as it is now, so a missed night is lost for good,
unless its raw pages were landed: a gap whose day has a complete raw run in the
raw zone is marked as one a backfill can still fill (credreg backfill --from DAY).
Gaps are counted from the tenant's first slice in the window to yesterday (UTC):
today's night may be ahead.

With --stale, exit status 3 when some tenant's newest slice was published longer
ago than that (a replay of that slice by backfill counts as publishing it).`,
		Example: `  credreg status --warehouse ./warehouse
  credreg status --warehouse 'gs://my-bucket?prefix=credreg/' --days 30 --format json
  credreg status --warehouse /srv/credreg --stale 36h || notify-ops`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd.Context(), o, cmd.OutOrStdout(), time.Now())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// errStale: some tenant's newest slice is older than --stale.
var errStale = errors.New("stale")

// runStatus is `credreg status`; tests call it directly.
func runStatus(ctx context.Context, o statusOptions, stdout io.Writer, now time.Time) error {
	if o.Format != "table" && o.Format != "json" {
		return usagef("--format %q: want table or json", o.Format)
	}
	if o.Days < 1 {
		return usagef("--days %d: want 1 or more", o.Days)
	}
	if o.Stale < 0 {
		return usagef("--stale %s: want a positive duration, e.g. 36h (0: never stale)", o.Stale)
	}
	if missingFolder(o.Warehouse) {
		return usagef("--warehouse: %s does not exist", o.Warehouse)
	}
	wh, err := openWarehouse(ctx, o.Warehouse, false)
	if err != nil {
		return err
	}
	defer wh.Close()
	so := metrics.StatusOptions{Days: o.Days, Now: now}
	if o.Raw == "" || !missingFolder(o.Raw) {
		raw, _, err := openRaw(ctx, o.Warehouse, o.Raw)
		if err != nil {
			return err
		}
		defer raw.Close()
		so.Raw = raw
	}
	tenants, err := metrics.ReadStatus(ctx, wh, so)
	if err != nil {
		return fmt.Errorf("reading the status of %s: %w", wh.String(), err)
	}
	if o.Format == "json" {
		b, err := json.MarshalIndent(tenants, "", "  ")
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
			return err
		}
	} else if err := writeStatus(stdout, wh.String(), o.Days, tenants); err != nil {
		return err
	}
	return staleError(tenants, o.Stale)
}

// staleError names the tenants whose newest slice is older than stale
// (0: none is), as an error that exits with status 3.
func staleError(tenants []metrics.TenantStatus, stale time.Duration) error {
	if stale == 0 {
		return nil
	}
	if len(tenants) == 0 {
		// Nothing was ever published: not fresh either.
		return fmt.Errorf("%w: the warehouse holds no slice", errStale)
	}
	var old []string
	for _, t := range tenants {
		if t.Last == nil {
			old = append(old, t.Tenant+" (no slice)")
		} else if t.Last.Age() > stale {
			old = append(old, fmt.Sprintf("%s (%s)", t.Tenant, t.Last.Date))
		}
	}
	if len(old) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the newest slice of %d tenant(s) was published more than %s ago: %s",
		errStale, len(old), stale, strings.Join(old, ", "))
}

// writeStatus prints one block per tenant.
func writeStatus(w io.Writer, where string, days int, tenants []metrics.TenantStatus) error {
	var b strings.Builder
	if len(tenants) == 0 {
		fmt.Fprintf(&b, "%s holds no published slice and no failed run\n", where)
	}
	for i, t := range tenants {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "tenant %s\n", t.Tenant)
		if t.Last == nil {
			fmt.Fprintf(&b, "  last slice     none\n")
		} else {
			fmt.Fprintf(&b, "  last slice     %s, %s (run %s, published %s ago)\n", t.Last.Date, dayCount(t.DaysSinceLastSlice),
				t.Last.RunID, ago(t.Last.Age()))
		}
		switch {
		case t.Last == nil:
		case len(t.Gaps) == 0:
			fmt.Fprintf(&b, "  gaps           none in the last %d days\n", days)
		default:
			fmt.Fprintf(&b, "  gaps           %d in the last %d days: %s\n", len(t.Gaps), days, dayRanges(t.Gaps))
			if len(t.Recoverable) > 0 {
				fmt.Fprintf(&b, "  recoverable    %s: the raw zone holds a complete run (credreg backfill --from DAY)\n",
					dayRanges(t.Recoverable))
			}
		}
		if f := t.LastFailure; f != nil {
			fmt.Fprintf(&b, "  last failure   %s, run %s, %s: %s\n", f.Date, f.RunID, f.Status, f.Error)
			fmt.Fprintf(&b, "                 kept in %s\n", f.Where)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// dayCount says how many days ago a slice is.
func dayCount(n int) string {
	switch n {
	case 0:
		return "today"
	case 1:
		return "1 day ago"
	}
	return fmt.Sprintf("%d days ago", n)
}

// ago writes a duration to the minute: 26h5m, not 26h5m0s.
func ago(d time.Duration) string {
	if d < time.Minute {
		return "under a minute"
	}
	s := strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// dayRanges writes sorted dates with runs of consecutive days as ranges:
// 2026-11-01..2026-11-03, 2026-11-07.
func dayRanges(dates []string) string {
	var parts []string
	for i := 0; i < len(dates); {
		j := i
		for j+1 < len(dates) && nextDay(dates[j]) == dates[j+1] {
			j++
		}
		if j == i {
			parts = append(parts, dates[i])
		} else {
			parts = append(parts, dates[i]+".."+dates[j])
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

func nextDay(date string) string {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return ""
	}
	return d.AddDate(0, 0, 1).Format(time.DateOnly)
}
