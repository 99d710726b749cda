package load

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/credreg/credreg/schemas"
)

// Previous is the tenant's latest slice before a date that has a
// manifest; ReadUserIDs reads its users' ids.
func TestPreviousAndUserIDs(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			w, _ := b.open(t)
			ctx := context.Background()
			const tenant = "tenant-p"
			d1, d2, d3 := day("2026-04-01"), day("2026-04-03"), day("2026-04-05")
			commitWith(t, w, schemas.Key{Date: d1, Tenant: tenant}, "run-1", 1, "")
			commitWith(t, w, schemas.Key{Date: d2, Tenant: tenant}, "run-2", 2, "")
			commitWith(t, w, schemas.Key{Date: d3, Tenant: "tenant-other"}, "run-3", 3, "")
			// Without a manifest, a slice is incomplete and not a previous one.
			commitSlice(t, w, schemas.Key{Date: d3, Tenant: tenant}, "run-4", makeSlice(schemas.Key{Date: d3, Tenant: tenant}, "run-4", 5, 0, 4), WriterOptions{})

			cases := []struct {
				before time.Time
				want   time.Time // zero: none
			}{
				{d1, time.Time{}},
				{d1.AddDate(0, 0, 1), d1},
				{d2, d1},
				{d2.Add(13 * time.Hour), d1},
				{d3, d2},
				{d3.AddDate(0, 0, 5), d2},
			}
			for _, tc := range cases {
				key, ok, err := w.Previous(ctx, tenant, tc.before)
				if err != nil {
					t.Fatal(err)
				}
				if ok != !tc.want.IsZero() || (ok && (!key.Date.Equal(tc.want) || key.Tenant != tenant)) {
					t.Errorf("Previous(%s) = %v %v, want %s", tc.before, key, ok, tc.want)
				}
			}

			key := schemas.Key{Date: d2, Tenant: tenant}
			ids, err := w.ReadUserIDs(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, u := range makeSlice(key, "run-2", 20, 3, 2).users {
				want = append(want, u.UserID)
			}
			if !slices.Equal(ids, want) {
				t.Errorf("ReadUserIDs = %v, want %v", ids, want)
			}
			if _, err := w.ReadUserIDs(ctx, schemas.Key{Date: d1, Tenant: "nobody"}); !errors.Is(err, ErrNotFound) {
				t.Errorf("ReadUserIDs of a missing slice = %v, want ErrNotFound", err)
			}
		})
	}
}
