package pipeline

import (
	"context"
	"errors"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// stillPlanned checks a slice planned from a folder with capitals (landed
// before tenant ids were lowercased) against that folder and the
// lowercase one, where a newer run lands.
func TestStillPlannedMixedCaseFolder(t *testing.T) {
	ctx := context.Background()
	const planned = "20261120T080000Z-a"
	land := func(t *testing.T, raw *blob.Bucket, folder, runID string, complete bool) extract.RawIndex {
		t.Helper()
		key := schemas.Key{Tenant: folder, Date: testDay}
		z := extract.NewRawZone(raw, key, schemas.UserRegistrationDetails, runID)
		idx := extract.RawIndex{Tenant: folder, SnapshotDate: key.DateString(), Endpoint: schemas.UserRegistrationDetails, RunID: runID}
		if err := z.Finish(ctx, idx, complete); err != nil {
			t.Fatal(err)
		}
		idx.Prefix = z.Prefix()
		return idx
	}
	cases := []struct {
		name  string
		later func(t *testing.T, raw *blob.Bucket) // lands meanwhile
		want  error                                // nil: still planned
	}{
		{"unchanged", func(*testing.T, *blob.Bucket) {}, nil},
		{"an older run in the lowercase folder", func(t *testing.T, raw *blob.Bucket) {
			land(t, raw, "contoso", "20261120T070000Z-b", true)
		}, nil},
		{"a newer run in the lowercase folder", func(t *testing.T, raw *blob.Bucket) {
			land(t, raw, "contoso", "20261120T090000Z-c", true)
		}, ErrRawZoneChanged},
		{"a newer run in the planned folder", func(t *testing.T, raw *blob.Bucket) {
			land(t, raw, "Contoso", "20261120T090000Z-d", true)
		}, ErrRawZoneChanged},
		{"a newer incomplete run", func(t *testing.T, raw *blob.Bucket) {
			land(t, raw, "contoso", "20261120T090000Z-e", false)
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := memblob.OpenBucket(nil)
			defer raw.Close()
			wh, err := load.OpenWarehouse(ctx, "mem://")
			if err != nil {
				t.Fatal(err)
			}
			defer wh.Close()
			idx := land(t, raw, "Contoso", planned, true)
			p := SlicePlan{Key: schemas.Key{Tenant: "contoso", Date: testDay}, Action: ActionReplay,
				Endpoint: idx.Endpoint, RawRun: planned, RawPrefix: idx.Prefix}
			tc.later(t, raw)
			err = stillPlanned(ctx, p, BackfillOptions{Raw: raw, Sink: ParquetSink{Warehouse: wh}, From: testDay, To: testDay})
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("stillPlanned = %v, want %v", err, tc.want)
			}
		})
	}
}
