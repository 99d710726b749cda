package extract

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/credreg/credreg/schemas"
)

// RawSlice is every raw run of one (tenant, day), newest first, of any
// endpoint, across tenant folders that differ only in case (folders
// written before tenant ids were lowercased).
type RawSlice struct {
	Tenant string    // lowercase
	Date   time.Time // UTC midnight
	// Runs are as ListRawRuns returns them, merged over the tenant
	// folder's case variants, newest first by run id. Each run's Prefix
	// is its folder, in the folder's case.
	Runs []RawIndex
}

// Newest returns the newest run of s that is Complete and of endpoint e
// ("" = any endpoint), and whether there is one.
func (s RawSlice) Newest(e schemas.Endpoint) (RawIndex, bool) {
	for _, r := range s.Runs {
		if r.Complete && (e == "" || r.Endpoint == e) {
			return r, true
		}
	}
	return RawIndex{}, false
}

// ListRawSlices lists the raw zone's slices with from <= date <= to (by
// UTC day, inclusive), of the tenants given (compared in lowercase) or of
// every tenant when none is, sorted by tenant then date. A day folder
// holding no run folder is no slice. It lists folders, not pages: one
// listing per tenant folder, then the runs of each day in range, as
// ListRawRuns would but for a run whose _index.json cannot be decoded:
// that one is listed like a run without an index (NoIndex, never
// Complete) with Damaged saying why, so that one bad run does not stop a
// backfill of the range. Only a failure to list or read the bucket fails
// the listing.
func ListRawSlices(ctx context.Context, bucket *blob.Bucket, from, to time.Time, tenants []string) ([]RawSlice, error) {
	from, to = utcDay(from), utcDay(to)
	want := map[string]bool{}
	for _, t := range tenants {
		want[strings.ToLower(t)] = true
	}
	folders, err := rawTenantFolders(ctx, bucket)
	if err != nil {
		return nil, err
	}
	type sliceKey struct {
		tenant string
		day    string
	}
	found := map[sliceKey]*RawSlice{}
	for _, folder := range folders {
		tenant := strings.ToLower(folder)
		if len(want) > 0 && !want[tenant] {
			continue
		}
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
			if err != nil || date.Before(from) || date.After(to) {
				continue
			}
			runs, err := listDayRuns(ctx, bucket, schemas.Key{Tenant: folder, Date: date})
			if err != nil {
				return nil, err
			}
			if len(runs) == 0 {
				continue
			}
			k := sliceKey{tenant, name}
			s := found[k]
			if s == nil {
				s = &RawSlice{Tenant: tenant, Date: date}
				found[k] = s
			}
			s.Runs = append(s.Runs, runs...)
		}
	}
	out := make([]RawSlice, 0, len(found))
	for _, s := range found {
		sortRuns(s.Runs)
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b RawSlice) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), a.Date.Compare(b.Date))
	})
	return out, nil
}

// ListRawSlice lists the runs of one (tenant, day) in the tenant folders
// given (each in its own case, as landed; case variants of one tenant), as
// ListRawSlices would list that slice from those folders alone: ok is false
// when none of them holds a run that day. It lists only those folders'
// day, never the raw zone's top, so checking one slice costs the same
// however many tenants the raw zone holds.
func ListRawSlice(ctx context.Context, bucket *blob.Bucket, date time.Time, folders []string) (s RawSlice, ok bool, err error) {
	date = utcDay(date)
	var listed []string
	for _, folder := range folders {
		if folder == "" || slices.Contains(listed, folder) {
			continue
		}
		listed = append(listed, folder)
		runs, err := listDayRuns(ctx, bucket, schemas.Key{Tenant: folder, Date: date})
		if err != nil {
			return RawSlice{}, false, err
		}
		if len(runs) > 0 && s.Runs == nil {
			s = RawSlice{Tenant: strings.ToLower(folder), Date: date}
		}
		s.Runs = append(s.Runs, runs...)
	}
	if len(s.Runs) == 0 {
		return RawSlice{}, false, nil
	}
	sortRuns(s.Runs)
	return s, true, nil
}

// RawTenantFolder returns the tenant folder, in its case, that a raw run's
// folder (RawIndex.Prefix) lies in: "Contoso" for
// "tenant_id=Contoso/snapshot_date=…/…/run_id=…/".
func RawTenantFolder(prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(prefix, "tenant_id=")
	if !ok {
		return "", false
	}
	folder, _, ok := strings.Cut(rest, "/")
	if !ok || folder == "" {
		return "", false
	}
	return folder, true
}

// sortRuns sorts a slice's runs newest first by run id, then by folder.
func sortRuns(runs []RawIndex) {
	slices.SortStableFunc(runs, func(a, b RawIndex) int {
		return cmp.Or(cmp.Compare(b.RunID, a.RunID), cmp.Compare(a.Prefix, b.Prefix))
	})
}

// listDayRuns lists the runs of key's tenant folder and day, a damaged
// index listed as none (see ListRawSlices), in no particular order.
func listDayRuns(ctx context.Context, bucket *blob.Bucket, key schemas.Key) ([]RawIndex, error) {
	day := fmt.Sprintf("tenant_id=%s/snapshot_date=%s/", key.Tenant, key.DateString())
	endpoints, err := subfolders(ctx, bucket, day)
	if err != nil {
		return nil, err
	}
	var runs []RawIndex
	for _, ep := range endpoints {
		folders, err := subfolders(ctx, bucket, ep)
		if err != nil {
			return nil, err
		}
		for _, run := range folders {
			runID, ok := strings.CutPrefix(strings.TrimSuffix(strings.TrimPrefix(run, ep), "/"), "run_id=")
			if !ok {
				continue // not a run folder
			}
			idx, damaged, err := readListedIndex(ctx, bucket, run)
			if err != nil {
				return nil, err
			}
			if idx == nil {
				idx = &RawIndex{Tenant: key.Tenant, SnapshotDate: key.DateString(), RunID: runID, NoIndex: true,
					Damaged: damaged, Prefix: run, Endpoint: schemas.Endpoint(strings.TrimSuffix(strings.TrimPrefix(ep, day), "/"))}
			}
			runs = append(runs, *idx)
		}
	}
	return runs, nil
}

// readListedIndex reads the index of the run folder prefix: nil when
// there is none, or when it cannot be decoded, then with why. Its error
// is a failure to read the bucket.
func readListedIndex(ctx context.Context, bucket *blob.Bucket, prefix string) (*RawIndex, string, error) {
	data, err := bucket.ReadAll(ctx, prefix+rawIndexName)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("raw zone: reading %s%s: %w", prefix, rawIndexName, err)
	}
	var idx RawIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Sprintf("%s is not a valid run index: %v", rawIndexName, err), nil
	}
	idx.Prefix = prefix
	return &idx, "", nil
}

// RawTenants lists the tenants (lowercase, sorted, each once) that have
// any raw data.
func RawTenants(ctx context.Context, bucket *blob.Bucket) ([]string, error) {
	folders, err := rawTenantFolders(ctx, bucket)
	if err != nil {
		return nil, err
	}
	for i, f := range folders {
		folders[i] = strings.ToLower(f)
	}
	slices.Sort(folders)
	return slices.Compact(folders), nil
}

// rawTenantFolders returns the tenant of every tenant_id= folder at the
// top of the raw zone, in the folder's case.
func rawTenantFolders(ctx context.Context, bucket *blob.Bucket) ([]string, error) {
	top, err := subfolders(ctx, bucket, "")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range top {
		if t, ok := strings.CutPrefix(strings.TrimSuffix(f, "/"), "tenant_id="); ok && t != "" {
			out = append(out, t)
		}
	}
	return out, nil
}

// utcDay is t's UTC day at midnight.
func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
