package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
	"github.com/credreg/credreg/transform"
)

// The write-behind writer writes batches in the order sent; after a write
// fails it writes nothing more, releases every batch it was given, and
// wait returns that write's error.
func TestWriteBehindKeepsOrderAndTheFirstError(t *testing.T) {
	errDisk := errors.New("disk full")
	for _, tc := range []struct {
		name   string
		failAt int // 0: never
		want   []int64
	}{
		{"every batch written", 0, []int64{0, 1, 2, 3, 4, 5, 6, 7}},
		{"third write fails", 3, []int64{0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			var got []int64
			calls := 0
			write := func(b transform.Batch) error {
				defer b.Record.Release()
				if calls++; calls == tc.failAt {
					return errDisk
				}
				got = append(got, b.Record.Column(0).(*array.Int64).Value(0))
				return nil
			}
			send, wait := writeBehind(write, 2)
			for i := range 8 {
				if err := send(oneRow(mem, int64(i))); err != nil && !errors.Is(err, errWriteBehindFailed) {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			err := wait()
			if tc.failAt == 0 && err != nil || tc.failAt > 0 && !errors.Is(err, errDisk) {
				t.Fatalf("wait: %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("written %v, want %v", got, tc.want)
			}
			mem.AssertSize(t, 0)
		})
	}
}

func oneRow(mem memory.Allocator, v int64) transform.Batch {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.Append(v)
	col := b.NewArray()
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	return transform.Batch{Table: schemas.UserRegistrationDetailsTable, Record: array.NewRecordBatch(schema, []arrow.Array{col}, 1)}
}

// landBodies lands bodies as the pages of a run, numbered from 1, and
// returns their entries.
func landBodies(t *testing.T, bucket *blob.Bucket, bodies []string) []extract.RawPage {
	t.Helper()
	raw := extract.NewRawZone(bucket, schemas.Key{Tenant: "t"}, schemas.UserRegistrationDetails, "r")
	var entries []extract.RawPage
	for i, body := range bodies {
		key, err := raw.Land(context.Background(), int64(i+1), "", extract.Page{Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, extract.RawPage{Seq: int64(i + 1), Key: key})
	}
	return entries
}

// With a decoder, readAhead reads each listing page in one walk
// (Decoder.ReadPage) on every worker: the pages' decoded records in
// order, then a broken page's error, named by its key, last.
func TestReadAheadDecodesInOrderStopsAtABadPage(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	var bodies []string
	for i := range 9 {
		bodies = append(bodies, fmt.Sprintf(`{"value":[{"id":"u%d","userPrincipalName":"u%d@contoso.example"},{"id":"v%d"}]}`, i, i, i))
	}
	bodies[5] = `{"value":[{"id":"u5"},{"id":` // cut short
	entries := landBodies(t, bucket, bodies)
	bad := entries[5].Key
	tr := newRecycleTransformer()
	defer tr.Release()
	dec := tr.Decoder()
	for _, workers := range []int{1, 2, 3} {
		pages, stop := readAhead(ctx, bucket, entries, 2, workers, &dec)
		var got []string
		var last error
		for p := range pages {
			if last = p.err; last != nil {
				continue
			}
			for _, d := range p.decoded {
				got = append(got, string(d.Raw))
			}
		}
		stop()
		var want []string
		for i := range 5 {
			want = append(want, fmt.Sprintf(`{"id":"u%d","userPrincipalName":"u%d@contoso.example"}`, i, i), fmt.Sprintf(`{"id":"v%d"}`, i))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%d workers: decoded %q, want %q", workers, got, want)
		}
		if last == nil || !strings.Contains(last.Error(), "raw page "+bad+":") {
			t.Errorf("%d workers: ended with %v, want the error of page %s", workers, last, bad)
		}
	}
}

// readAhead hands over the pages in order, on one reader or several,
// stops at the first one that cannot be split, with that page's error,
// and can be stopped early.
func TestReadAheadInOrderStopsAtABadPage(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	var bodies []string
	for i := range 10 {
		bodies = append(bodies, fmt.Sprintf(`{"value":[{"id":"u%d"}]}`, i))
	}
	bodies[6] = "not a page"
	entries := landBodies(t, bucket, bodies)
	for _, workers := range []int{1, 2, 3} {
		pages, stop := readAhead(ctx, bucket, entries, 2, workers, nil)
		var ids []string
		var last error
		for p := range pages {
			if last = p.err; last != nil {
				continue
			}
			ids = append(ids, string(p.records[0].Raw))
		}
		stop()
		want := []string{`{"id":"u0"}`, `{"id":"u1"}`, `{"id":"u2"}`, `{"id":"u3"}`, `{"id":"u4"}`, `{"id":"u5"}`}
		if !errors.Is(last, odata.ErrNotJSON) || !slices.Equal(ids, want) {
			t.Fatalf("%d workers: read %v then %v; want u0..u5 then the bad page's error", workers, ids, last)
		}
		// Stopped after one page, the readers end without being drained.
		pages, stop = readAhead(ctx, bucket, entries, 1, workers, nil)
		for range pages {
			break
		}
		stop()
	}
}
