package extract

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"gocloud.dev/blob"

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
// listing per tenant folder, then ListRawRuns per day in range.
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
			runs, err := ListRawRuns(ctx, bucket, schemas.Key{Tenant: folder, Date: date})
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
		slices.SortStableFunc(s.Runs, func(a, b RawIndex) int {
			return cmp.Or(cmp.Compare(b.RunID, a.RunID), cmp.Compare(a.Prefix, b.Prefix))
		})
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b RawSlice) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), a.Date.Compare(b.Date))
	})
	return out, nil
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
