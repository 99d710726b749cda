// Package trends turns a warehouse's history into time series for
// analysts: `credreg trends` prints them (a terminal table with
// sparklines, CSV, JSON Lines) and renders one self-contained HTML report.
//
// # What it reads
//
// Only what a report needs, through [Warehouse] (a *load.Warehouse, local
// or on a bucket): the manifests, to know which slices were published;
// registration_daily_summary of every slice in the range (one row each);
// for the HTML report, registration_changes of the same slices and the
// latest slice's user_registration_details (for the two lists of people).
// So a year of daily snapshots of a large tenant costs a few hundred small
// files and one snapshot, not a year of snapshots.
//
// # Missing days
//
// Graph serves only today's state: a night that was not captured is lost
// for good. Every series therefore runs over every calendar day of its
// range, and a day without a published slice is a gap — a blank in a
// sparkline, a break in a chart's line — never a value drawn across or
// interpolated; the days are listed as well. A tenant's range starts at
// the later of --from and its first snapshot, so days before its history
// began are not counted as missed.
//
// # Errors
//
// [Load] returns [ErrNoSnapshots] (errors.Is) when the range holds no
// published slice of the tenants asked for; read failures are wrapped with
// %w and keep the warehouse's own errors (load.ErrNotFound, context
// errors). A slice published before the summary table existed (schema
// version 3 or older) is not an error: its day is a gap, listed apart,
// until `credreg backfill` rebuilds it.
package trends
