package load

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/credreg/credreg/schemas"
)

func TestFailedSlices(t *testing.T) {
	ctx := context.Background()
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	for _, b := range rootBackends {
		t.Run(b.name, func(t *testing.T) {
			w, _ := b.open(t)
			if got, err := w.FailedSlices(ctx); err != nil || len(got) != 0 {
				t.Fatalf("empty warehouse: %v, %v", got, err)
			}
			write := func(run string, key schemas.Key) {
				t.Helper()
				f, err := w.Failed(run)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.WriteManifest(ctx, key, []byte(`{"status":"failed"}`)); err != nil {
					t.Fatal(err)
				}
			}
			a := schemas.Key{Date: day("2026-11-20"), Tenant: "tenant-a"}
			b := schemas.Key{Date: day("2026-11-19"), Tenant: "tenant-b"}
			write("20261121T010000Z-bbbbbb", a)
			write("20261120T010000Z-aaaaaa", b)
			write("20261120T010000Z-aaaaaa", a)
			// A published slice, and a foreign file beside the failed runs,
			// are not failed slices.
			if err := w.WriteManifest(ctx, a, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			if err := w.bucket.WriteAll(ctx, "_failed/run_id=x/notes.txt", []byte("x"), nil); err != nil {
				t.Fatal(err)
			}
			got, err := w.FailedSlices(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := []FailedSlice{{"20261120T010000Z-aaaaaa", b}, {"20261120T010000Z-aaaaaa", a}, {"20261121T010000Z-bbbbbb", a}}
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			f, _ := w.Failed(got[2].RunID)
			if m, err := f.ReadManifest(ctx, got[2].Key); err != nil || string(m) != `{"status":"failed"}` {
				t.Errorf("reading the listed manifest back: %q, %v", m, err)
			}
		})
	}
}
