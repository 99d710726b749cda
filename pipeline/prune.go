package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gocloud.dev/blob"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// PruneOptions says what Prune deletes: raw runs dated before RawBefore,
// published slices dated before TablesBefore. A zero date keeps that kind.
type PruneOptions struct {
	Warehouse *load.Warehouse // required: it holds the slices' leases
	// Raw is the raw zone; required when RawBefore is set.
	Raw          *blob.Bucket
	RawBefore    time.Time
	TablesBefore time.Time
	// DryRun lists what would go, takes no lease and deletes nothing.
	DryRun bool
	// LockWait is how long to wait for the lease of a slice being
	// written; 0 skips such a slice at once, reporting it held.
	LockWait time.Duration
	// RunID is recorded in each lease taken, so that a run refused meanwhile
	// names the prune; default "prune-<UTC time>".
	RunID string
}

// PruneKind says what a PruneItem deletes.
type PruneKind string

const (
	PruneRaw    PruneKind = "raw"    // every raw run of the (date, tenant)
	PruneTables PruneKind = "tables" // the slice's table files and manifest
)

// PruneOutcome is what became of a PruneItem.
type PruneOutcome string

const (
	PruneDeleted     PruneOutcome = "deleted"
	PruneWouldDelete PruneOutcome = "would delete" // a dry run
	PruneHeld        PruneOutcome = "held"         // its lease is held: skipped
	PruneFailed      PruneOutcome = "failed"
)

// PruneItem is one (date, tenant) of one kind.
type PruneItem struct {
	Kind    PruneKind
	Key     schemas.Key
	Runs    int // raw runs; 0 for tables
	Objects int
	Bytes   int64
	Outcome PruneOutcome
	Err     error // for held and failed
}

// PruneResult is every item Prune found, sorted by date, tenant, kind.
type PruneResult struct {
	Items []PruneItem
}

// Err is nil when every item was deleted (or, in a dry run, listed). Else
// it wraps the first failure, or when none failed the first held lease
// (a *load.LeaseHeldError), so that errors.Is(err, load.ErrLeaseHeld)
// says every item not deleted was being written.
func (r PruneResult) Err() error {
	var held error
	n := 0
	for _, it := range r.Items {
		switch it.Outcome {
		case PruneFailed:
			return fmt.Errorf("prune: %s of %s/%s: %w", it.Kind, it.Key.DateString(), it.Key.Tenant, it.Err)
		case PruneHeld:
			n++
			if held == nil {
				held = it.Err
			}
		}
	}
	if held != nil {
		return fmt.Errorf("prune: %d skipped, being written: %w", n, held)
	}
	return nil
}

// Prune deletes old raw runs and published slices, each (date, tenant)
// under its slice's lease, so that it never deletes what a run, backfill
// or import is writing: a slice whose lease is held (after LockWait) is
// skipped and reported held. Raw data before RawBefore goes whatever the
// slices hold: those days can no longer be backfilled. The error is for
// what stopped the whole prune (a listing failed, ctx done); the items
// say what became of each, and PruneResult.Err sums them up.
func Prune(ctx context.Context, o PruneOptions) (PruneResult, error) {
	if o.Warehouse == nil {
		return PruneResult{}, errors.New("pipeline: prune: no warehouse")
	}
	if o.RawBefore.IsZero() && o.TablesBefore.IsZero() {
		return PruneResult{}, errors.New("pipeline: prune: neither a raw nor a tables date; nothing to prune")
	}
	if !o.RawBefore.IsZero() && o.Raw == nil {
		return PruneResult{}, errors.New("pipeline: prune: a raw date but no raw zone")
	}
	if o.RunID == "" {
		o.RunID = "prune-" + time.Now().UTC().Format("20060102T150405Z")
	}
	byKey := map[schemas.Key][]PruneItem{}
	var keys []schemas.Key
	add := func(it PruneItem) {
		if _, ok := byKey[it.Key]; !ok {
			keys = append(keys, it.Key)
		}
		byKey[it.Key] = append(byKey[it.Key], it)
	}
	// Tables first in each (date, tenant): what is left of a slice whose
	// raw data went is a slice that cannot be rebuilt, while the reverse is
	// merely an old raw run.
	if !o.TablesBefore.IsZero() {
		published, err := o.Warehouse.SlicesBefore(ctx, o.TablesBefore)
		if err != nil {
			return PruneResult{}, err
		}
		for _, s := range published {
			add(PruneItem{Kind: PruneTables, Key: s.Key, Objects: s.Objects, Bytes: s.Bytes})
		}
	}
	raw := map[schemas.Key]extract.RawDay{}
	if !o.RawBefore.IsZero() {
		days, err := extract.ListRawDays(ctx, o.Raw, o.RawBefore)
		if err != nil {
			return PruneResult{}, err
		}
		for _, d := range days {
			key := schemas.Key{Date: d.Date, Tenant: d.Tenant}
			raw[key] = d
			add(PruneItem{Kind: PruneRaw, Key: key, Runs: d.Runs, Objects: d.Objects, Bytes: d.Bytes})
		}
	}
	slices.SortFunc(keys, func(a, b schemas.Key) int {
		return cmp.Or(a.Date.Compare(b.Date), cmp.Compare(a.Tenant, b.Tenant))
	})
	var res PruneResult
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("pipeline: prune: %w", err)
		}
		items := byKey[key]
		pruneSlice(ctx, o, key, items, raw[key])
		res.Items = append(res.Items, items...)
	}
	return res, nil
}

// pruneSlice deletes the items of one (date, tenant), in order, under
// its lease.
func pruneSlice(ctx context.Context, o PruneOptions, key schemas.Key, items []PruneItem, day extract.RawDay) {
	if o.DryRun {
		for i := range items {
			items[i].Outcome = PruneWouldDelete
		}
		return
	}
	set := func(i int, err error) {
		switch {
		case err == nil:
			items[i].Outcome = PruneDeleted
		case errors.Is(err, load.ErrLeaseHeld):
			items[i].Outcome, items[i].Err = PruneHeld, err
		default:
			items[i].Outcome, items[i].Err = PruneFailed, err
		}
	}
	lease, err := o.Warehouse.Lease(ctx, key, load.LeaseOptions{RunID: o.RunID, Wait: o.LockWait})
	if err != nil {
		for i := range items {
			set(i, err)
		}
		return
	}
	// A lease not released expires; nothing is left to undo.
	defer lease.Release()
	for i, it := range items {
		switch it.Kind {
		case PruneTables:
			set(i, o.Warehouse.DeleteSlice(ctx, key, lease))
		case PruneRaw:
			set(i, extract.DeleteRawDay(ctx, o.Raw, day))
		}
	}
}
