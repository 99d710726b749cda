package metrics

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

func TestReadStatus(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)
	dir := t.TempDir()
	wh, err := load.OpenWarehouse(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	// tenant-a: a slice on the 15th, 16th, 18th and 21st; its first slice
	// in a 5-day window is the 18th.
	for _, d := range []string{"2026-11-15", "2026-11-16", "2026-11-18", "2026-11-21"} {
		writeManifest(t, wh, manifest(pipeline.StatusPublished, "tenant-a", d, day(d).Add(2*time.Hour)))
	}
	// tenant-c's only slice is older than the window: every day of the
	// window but today is a gap.
	writeManifest(t, wh, manifest(pipeline.StatusPublished, "tenant-c", "2026-11-10", day("2026-11-10").Add(2*time.Hour)))
	// tenant-b failed twice and never published; the newer failure wins.
	for _, f := range []struct{ run, date, err string }{
		{"20261120T020000Z-aaaaaa", "2026-11-20", "old"},
		{"20261121T020000Z-bbbbbb", "2026-11-21", "tenant tenant-b: retries exceeded"},
	} {
		sub, err := wh.Failed(f.run)
		if err != nil {
			t.Fatal(err)
		}
		m := manifest(pipeline.StatusFailed, "tenant-b", f.date, day(f.date).Add(3*time.Hour))
		m.RunID, m.Error = f.run, f.err
		writeManifest(t, sub, m)
	}
	// The raw zone holds a complete run of the 20th, and an incomplete one
	// of the 19th.
	raw, _, err := load.OpenRaw(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, r := range []struct {
		date     string
		complete bool
	}{{"2026-11-19", false}, {"2026-11-20", true}} {
		key := schemas.Key{Date: day(r.date), Tenant: "tenant-a"}
		idx := extract.RawIndex{Tenant: key.Tenant, SnapshotDate: r.date, Endpoint: schemas.UserRegistrationDetails, RunID: "run-" + r.date}
		if err := extract.NewRawZone(raw, key, idx.Endpoint, idx.RunID).Finish(ctx, idx, r.complete); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadStatus(ctx, wh, StatusOptions{Days: 5, Now: now, Raw: raw})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Tenant != "tenant-a" || got[1].Tenant != "tenant-b" || got[2].Tenant != "tenant-c" {
		t.Fatalf("tenants: %+v", got)
	}
	a, b, c := got[0], got[1], got[2]
	if want := []string{"2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"}; !slices.Equal(c.Gaps, want) || c.DaysSinceLastSlice != 12 {
		t.Errorf("tenant-c's gaps %v (want %v), %d days since its slice", c.Gaps, want, c.DaysSinceLastSlice)
	}
	if a.Last == nil || a.Last.Date != "2026-11-21" || a.Last.Age() != now.Sub(day("2026-11-21").Add(2*time.Hour)) ||
		a.DaysSinceLastSlice != 1 {
		t.Errorf("tenant-a's last slice: %+v, %d days", a.Last, a.DaysSinceLastSlice)
	}
	if want := []string{"2026-11-19", "2026-11-20"}; !slices.Equal(a.Gaps, want) {
		t.Errorf("tenant-a's gaps %v, want %v", a.Gaps, want)
	}
	if a.LastFailure != nil {
		t.Errorf("tenant-a failed: %+v", a.LastFailure)
	}
	if b.Last != nil || b.DaysSinceLastSlice != -1 || len(b.Gaps) != 0 {
		t.Errorf("tenant-b has a slice: %+v", b)
	}
	if f := b.LastFailure; f == nil || f.RunID != "20261121T020000Z-bbbbbb" || f.Status != pipeline.StatusFailed ||
		f.Error != "tenant tenant-b: retries exceeded" || f.Date != "2026-11-21" {
		t.Errorf("tenant-b's last failure: %+v", b.LastFailure)
	}
	if want := []string{"2026-11-20"}; !slices.Equal(a.Recoverable, want) {
		t.Errorf("tenant-a's recoverable gaps %v, want %v", a.Recoverable, want)
	}
}
