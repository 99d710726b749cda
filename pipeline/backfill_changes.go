package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// A slice's registration_changes compare it with the tenant's previous
// slice, so rebuilding one day can leave the next day's changes comparing
// with data that is gone. A manifest records which slice its changes
// compare with (date and raw checksum); a backfill replays a slice whose
// record no longer matches the slice before it, as it will be once the
// backfill's earlier days are done, and the first slice after its range
// when that one is affected.

// prevSlice is the slice a slice's changes compare with: its date, raw
// checksum and pseudonymization key.
type prevSlice struct{ date, digest, key string }

// prevOf describes a published slice as a previous slice.
func prevOf(key schemas.Key, m *Manifest) *prevSlice {
	p := &prevSlice{date: key.DateString(), digest: m.Raw.Digest}
	if m.Pseudonymization != nil {
		p.key = m.Pseudonymization.KeyFingerprint
	}
	return p
}

func (p *prevSlice) String() string {
	if p == nil {
		return "none (the tenant's first snapshot)"
	}
	return "the slice of " + p.date
}

// linked says whether changes recorded c compare with prev.
func linked(c Changes, prev *prevSlice) bool {
	if prev == nil {
		return c.FirstSnapshot
	}
	return !c.FirstSnapshot && c.PreviousSnapshotDate == prev.date && c.PreviousRawDigest == prev.digest &&
		c.PreviousKeyFingerprint == prev.key
}

// comparedWith names what recorded changes compare with.
func comparedWith(c Changes) string {
	if c.FirstSnapshot || c.PreviousSnapshotDate == "" {
		return "no earlier snapshot"
	}
	return "the slice of " + c.PreviousSnapshotDate + " as it was then"
}

// badManifestError: a manifest that is there but is not JSON.
type badManifestError struct{ err error }

func (e *badManifestError) Error() string { return "the manifest is not valid JSON: " + e.err.Error() }

// readSliceManifest reads and parses a slice's published manifest;
// errors.Is(err, load.ErrNotFound) when there is none.
func readSliceManifest(ctx context.Context, manifests SliceManifests, key schemas.Key) (*Manifest, error) {
	data, err := manifests.ReadManifest(ctx, key)
	if errors.Is(err, load.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("backfill: reading the manifest of %s %s: %w", key.DateString(), key.Tenant, err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, &badManifestError{err: err}
	}
	return &m, nil
}

// publishedBefore finds the tenant's newest published slice before
// key.Date; known is false when the sink cannot list earlier slices.
func publishedBefore(ctx context.Context, o BackfillOptions, key schemas.Key) (prev *prevSlice, known bool, err error) {
	snaps := snapshotsOf(o.Sink)
	if snaps == nil {
		return nil, false, nil
	}
	k, ok, err := snaps.Previous(ctx, key.Tenant, key.Date)
	if err != nil || !ok {
		return nil, err == nil, err
	}
	m, err := readSliceManifest(ctx, o.Sink.(SliceManifests), k)
	var bad *badManifestError
	if errors.As(err, &bad) {
		return nil, false, nil // unknown: the linkage is not checked
	}
	if err != nil {
		return nil, false, fmt.Errorf("backfill: the slice before %s: %w", key.DateString(), err)
	}
	return prevOf(k, m), true, nil
}

// sliceLister lists one tenant's published slices, sorted by date,
// without listing every other tenant's (a backfill asks once per tenant).
type sliceLister interface {
	TenantManifests(ctx context.Context, tenant string) ([]schemas.Key, error)
}

// TenantManifests lists the tenant's published slices, sorted by date.
func (s ParquetSink) TenantManifests(ctx context.Context, tenant string) ([]schemas.Key, error) {
	return s.Warehouse.TenantManifests(ctx, tenant)
}

// Manifests lists the warehouse's published slices.
func (s ParquetSink) Manifests(ctx context.Context) ([]schemas.Key, error) {
	return s.Warehouse.Manifests(ctx)
}

// followOn plans the tenant's first published slice after the range when
// its changes no longer compare with what the range leaves (prev).
func followOn(ctx context.Context, o BackfillOptions, tenant string, prev *prevSlice) (SlicePlan, bool, error) {
	lister, ok := o.Sink.(sliceLister)
	if !ok {
		return SlicePlan{}, false, nil
	}
	keys, err := lister.TenantManifests(ctx, tenant)
	if err != nil {
		return SlicePlan{}, false, fmt.Errorf("backfill: listing the slices after the range: %w", err)
	}
	for _, k := range keys { // sorted by date
		if !k.Date.After(o.To) {
			continue
		}
		// Only the comparison is at stake here: a slice stale for other
		// reasons (another build, another raw run) is for a backfill of
		// its own range to rebuild.
		m, err := readSliceManifest(ctx, o.Sink.(SliceManifests), k)
		if err != nil || linked(m.Changes, prev) {
			return SlicePlan{}, false, nil
		}
		found, err := extract.ListRawSlices(ctx, o.Raw, k.Date, k.Date, []string{tenant})
		if err != nil {
			return SlicePlan{}, false, fmt.Errorf("%w: %w", ErrRawZone, err)
		}
		var s extract.RawSlice
		if len(found) == 1 {
			s = found[0]
		}
		idx, why := chooseRun(s, len(found) == 1, o)
		if why != "" {
			return SlicePlan{}, false, nil // nothing to rebuild it from
		}
		return SlicePlan{Key: k, Action: ActionReplay, Endpoint: idx.Endpoint, RawRun: idx.RunID, RawPrefix: idx.Prefix,
			Records: snapshotRecords(idx),
			Why:     "the first slice after the range: its registration_changes compare with " + comparedWith(m.Changes) + ", which this backfill rebuilds"}, true, nil
	}
	return SlicePlan{}, false, nil
}
