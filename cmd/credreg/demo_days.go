package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// maxDemoDays bounds --demo-days: a year and a bit of history.
const maxDemoDays = 400

// runDemoDays is `credreg run`, with --demo-days N: the last N days of the
// demo tenants, oldest first, each a normal run of its own day against a
// simulator whose clock is set inside that day (startDemo). Every day's
// simulator has the same anchor, today (the tenants have --demo-users
// users today), so each day is the tenant's state on that day and the
// changes between days are the simulated ones. Days run one after the other because each day's
// changes are computed against the day before. A day that fails stops
// the rest: the warehouse then holds the days before it.
func runDemoDays(ctx context.Context, o runOptions, now time.Time, stdout, stderr io.Writer) error {
	if !o.Demo || o.DemoDays == 1 {
		return runRun(ctx, o, stdout, stderr)
	}
	if o.DemoDays < 1 || o.DemoDays > maxDemoDays {
		return usagef("--demo-days %d: want 1 to %d", o.DemoDays, maxDemoDays)
	}
	if o.Date != "" {
		return usagef("--demo-days and --date do not go together: the demo days end today")
	}
	today, err := parseDate("", now)
	if err != nil {
		return err
	}
	// Flag errors before the first day, not after it.
	check := o
	if _, err := check.plan(os.Getenv); err != nil {
		return err
	}
	for i := o.DemoDays - 1; i >= 0; i-- {
		day := today.AddDate(0, 0, -i)
		if o.LogFormat != "json" {
			fmt.Fprintf(stdout, "demo day %s (%d of %d)\n", day.Format(time.DateOnly), o.DemoDays-i, o.DemoDays)
		}
		d := o
		d.Date = day.Format(time.DateOnly)
		d.demoAnchor = today
		if err := runRun(ctx, d, stdout, stderr); err != nil {
			return fmt.Errorf("demo day %s: %w", d.Date, err)
		}
	}
	return nil
}
