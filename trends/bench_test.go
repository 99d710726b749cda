package trends

import (
	"context"
	"io"
	"testing"
	"time"
)

// BenchmarkYearReport times what `credreg trends --html` does for a year
// of daily snapshots of a 100,000-user tenant, on a local warehouse:
// load 365 summaries, read 365 days of change events and the latest
// snapshot's users, render the charts and the page. Writing the year is
// set up once, outside the timing.
//
//	go test ./trends -run '^$' -bench YearReport -benchtime 3x
func BenchmarkYearReport(b *testing.B) {
	f := &fixture{tenant: "11111111-1111-1111-1111-111111111111", start: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC),
		days: 365, users: 100_000, skip: map[int]bool{40: true, 41: true, 200: true}}
	wh, _ := newWarehouse(b)
	f.write(b, wh)
	ctx := context.Background()
	b.Run("html", func(b *testing.B) {
		for b.Loop() {
			h, err := Load(ctx, wh, Options{From: f.start})
			if err != nil {
				b.Fatal(err)
			}
			r, err := BuildReport(ctx, wh, h, 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := r.WriteHTML(io.Discard, HTMLOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			h, err := Load(ctx, wh, Options{From: f.start})
			if err != nil {
				b.Fatal(err)
			}
			if err := WriteJSON(io.Discard, h); err != nil {
				b.Fatal(err)
			}
		}
	})
}
