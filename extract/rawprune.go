package extract

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// RawDay is the raw data of one tenant and day: every run of every
// endpoint, across tenant folders that differ only in case. It is what a
// prune deletes at once.
type RawDay struct {
	Tenant string    // lowercase
	Date   time.Time // UTC midnight
	// Folders are its day folders in the bucket, one per case variant of
	// the tenant folder, each ending in "/".
	Folders []string
	Runs    int // run_id= folders
	Objects int
	Bytes   int64
}

// ListRawDays lists the raw zone's days dated before `before` (by UTC
// day, exclusive), every tenant's, sorted by date then tenant, with the
// runs, objects and bytes each holds. Unlike ListRawSlices it counts
// every object of a day folder, a damaged or partial run's and stray
// files included, since a prune deletes them all.
func ListRawDays(ctx context.Context, bucket *blob.Bucket, before time.Time) ([]RawDay, error) {
	before = utcDay(before)
	folders, err := rawTenantFolders(ctx, bucket)
	if err != nil {
		return nil, err
	}
	found := map[string]*RawDay{}
	for _, folder := range folders {
		tenantPrefix := "tenant_id=" + folder + "/"
		days, err := subfolders(ctx, bucket, tenantPrefix)
		if err != nil {
			return nil, err
		}
		for _, d := range days {
			name, ok := strings.CutPrefix(strings.TrimSuffix(strings.TrimPrefix(d, tenantPrefix), "/"), "snapshot_date=")
			if !ok {
				continue
			}
			date, err := time.Parse(time.DateOnly, name)
			if err != nil || !date.Before(before) {
				continue
			}
			k := strings.ToLower(folder) + "/" + name
			day := found[k]
			if day == nil {
				day = &RawDay{Tenant: strings.ToLower(folder), Date: date}
				found[k] = day
			}
			day.Folders = append(day.Folders, d)
			if err := day.count(ctx, bucket, d); err != nil {
				return nil, err
			}
		}
	}
	out := make([]RawDay, 0, len(found))
	for _, d := range found {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b RawDay) int {
		return cmp.Or(a.Date.Compare(b.Date), cmp.Compare(a.Tenant, b.Tenant))
	})
	return out, nil
}

// count adds what the day folder prefix holds.
func (d *RawDay) count(ctx context.Context, bucket *blob.Bucket, prefix string) error {
	runs := map[string]bool{}
	it := bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("raw zone: listing %s: %w", prefix, err)
		}
		d.Objects++
		d.Bytes += obj.Size
		// <endpoint>/run_id=<run>/<file>
		if parts := strings.Split(strings.TrimPrefix(obj.Key, prefix), "/"); len(parts) >= 3 && strings.HasPrefix(parts[1], "run_id=") {
			runs[parts[0]+"/"+parts[1]] = true
		}
	}
	d.Runs += len(runs)
	return nil
}

// DeleteRawDay deletes every object of the day's folders. Each run's
// _index.json goes first: a prune stopped midway leaves runs without an
// index, which no backfill takes for complete, never an index vouching for
// pages that are gone. An object already gone is no error, so a prune can
// be run again.
func DeleteRawDay(ctx context.Context, bucket *blob.Bucket, d RawDay) error {
	for _, prefix := range d.Folders {
		var indexes, rest []string
		it := bucket.List(&blob.ListOptions{Prefix: prefix})
		for {
			obj, err := it.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("raw zone: listing %s: %w", prefix, err)
			}
			if path.Base(obj.Key) == rawIndexName {
				indexes = append(indexes, obj.Key)
			} else {
				rest = append(rest, obj.Key)
			}
		}
		for _, k := range append(indexes, rest...) {
			if err := bucket.Delete(ctx, k); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
				return fmt.Errorf("raw zone: deleting %s: %w", k, err)
			}
		}
	}
	return nil
}
