package load

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/credreg/credreg/internal/blobtest"
	"github.com/credreg/credreg/schemas"
)

// previousByManifests is what Previous answered when it listed every
// manifest: the reference its answers must keep.
func previousByManifests(keys []schemas.Key, tenant string, before time.Time) (key schemas.Key, ok bool) {
	cutoff := before.UTC().Truncate(24 * time.Hour)
	for _, k := range keys {
		if k.Tenant == tenant && k.Date.Before(cutoff) {
			key, ok = k, true
		}
	}
	return key, ok
}

// manifestTree writes the manifests of a warehouse of many tenants, two
// of them differing only in case, over four dates, and returns the dates
// and the tenants Previous is asked about.
func manifestTree(t *testing.T, write func(k string)) ([]time.Time, []string) {
	t.Helper()
	dates := []time.Time{day("2026-04-01"), day("2026-04-02"), day("2026-04-04"), day("2026-04-07")}
	published := map[string][]int{ // tenant: indexes into dates
		"tenant-a": {0, 2},
		"Tenant-A": {1}, // published before tenant ids were lowercased
		"tenant-b": {3},
	}
	for i := range 20 {
		published[fmt.Sprintf("other-%02d", i)] = []int{0, 1, 2, 3}
	}
	for tenant, idx := range published {
		for _, i := range idx {
			write(manifestKey(schemas.Key{Date: dates[i], Tenant: tenant}))
		}
	}
	// Neither a manifest nor a date folder.
	write(manifestDir + "/snapshot_date=2026-04-03/tenant_id=tenant-a.json.tmp")
	write(manifestDir + "/README.txt")
	return dates, []string{"tenant-a", "Tenant-A", "TENANT-A", "tenant-b", "other-07", "nobody", "a/b", "a=b"}
}

// befores are the dates Previous is asked about: each date, the day after,
// and a time inside it.
func befores(dates []time.Time) []time.Time {
	var out []time.Time
	for _, d := range dates {
		out = append(out, d, d.AddDate(0, 0, 1), d.Add(13*time.Hour))
	}
	return append(out, dates[len(dates)-1].AddDate(1, 0, 0))
}

// Previous and TenantManifests answer as a filter of Manifests does, the
// tenant's case included, on every backend.
func TestPreviousMatchesManifests(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			w, _ := b.open(t)
			ctx := context.Background()
			dates, tenants := manifestTree(t, func(k string) {
				if err := w.bucket.WriteAll(ctx, w.prefix+k, []byte("{}"), nil); err != nil {
					t.Fatal(err)
				}
			})
			all, err := w.Manifests(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, tenant := range tenants {
				for _, before := range befores(dates) {
					want, wantOK := previousByManifests(all, tenant, before)
					got, ok, err := w.Previous(ctx, tenant, before)
					if err != nil {
						t.Fatal(err)
					}
					if ok != wantOK || got != want {
						t.Errorf("Previous(%s, %s) = %v %v, want %v %v", tenant, before, got, ok, want, wantOK)
					}
				}
				var want []schemas.Key
				for _, k := range all {
					if k.Tenant == tenant {
						want = append(want, k)
					}
				}
				got, err := w.TenantManifests(ctx, tenant)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("TenantManifests(%s) = %v, want %v", tenant, got, want)
				}
			}
		})
	}
}

// Previous and TenantManifests list _manifests' date folders and the
// tenant's own manifests, never every manifest: listing them all, once per
// slice, made a backfill's cost grow with the square of its tenants.
func TestPreviousListsOnlyTheTenant(t *testing.T) {
	ctx := context.Background()
	inner := memblob.OpenBucket(nil)
	defer inner.Close()
	dates, tenants := manifestTree(t, func(k string) {
		if err := inner.WriteAll(ctx, k, []byte("{}"), nil); err != nil {
			t.Fatal(err)
		}
	})
	bucket, rec := blobtest.NewRecorder(inner)
	w := &Warehouse{bucket: bucket, location: "mem://"}
	defer w.Close()
	check := func(call, tenant string) {
		t.Helper()
		listed := rec.Listed()
		if len(listed) == 0 {
			t.Fatalf("%s listed nothing", call)
		}
		for _, l := range listed {
			own := strings.HasPrefix(l.Prefix, manifestDir+"/snapshot_date=") && strings.HasSuffix(l.Prefix, "/tenant_id="+tenant+".json")
			if l.Delimiter == "" && !own || l.Delimiter != "" && l.Prefix != manifestDir+"/" {
				t.Errorf("%s listed %+v: more than the date folders and the tenant's manifests", call, l)
			}
		}
	}
	all, err := w.Manifests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec.Listed()
	for _, tenant := range tenants[:6] {
		for _, before := range befores(dates) {
			got, ok, err := w.Previous(ctx, tenant, before)
			if err != nil {
				t.Fatal(err)
			}
			if want, wantOK := previousByManifests(all, tenant, before); ok != wantOK || got != want {
				t.Errorf("Previous(%s, %s) = %v %v, want %v %v", tenant, before, got, ok, want, wantOK)
			}
			check(fmt.Sprintf("Previous(%s, %s)", tenant, before.Format(time.DateOnly)), tenant)
		}
		if keys, err := w.TenantManifests(ctx, tenant); err != nil || len(keys) == 0 && tenant != "TENANT-A" && tenant != "nobody" {
			t.Fatalf("TenantManifests(%s) = %v, %v", tenant, keys, err)
		}
		check("TenantManifests("+tenant+")", tenant)
	}
}
