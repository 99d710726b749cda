package load

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/schemas"
)

// BenchmarkWriteUsers writes and commits 100k user rows, in batches of the
// size a Graph page yields, to an in-memory warehouse. MB/s is of Arrow
// input.
func BenchmarkWriteUsers(b *testing.B) {
	key := schemas.Key{Date: day("2025-06-07"), Tenant: "tenant-bench"}
	t := schemas.UserRegistrationDetailsTable
	rows := makeSlice(key, "run-bench", 100_000, 0, 1).users
	benchmarkWrite(b, t, batches(memory.DefaultAllocator, t, rows, 999), len(rows))
}

// BenchmarkWriteParquet writes and commits the 200k method rows of 100k
// users (user_auth_methods, the table with the most rows), as
// BenchmarkWriteUsers does the users.
func BenchmarkWriteParquet(b *testing.B) {
	key := schemas.Key{Date: day("2025-06-07"), Tenant: "tenant-bench"}
	t := schemas.UserAuthMethodsTable
	rows := makeSlice(key, "run-bench", 100_000, 0, 1).methods
	benchmarkWrite(b, t, batches(memory.DefaultAllocator, t, rows, 999), len(rows))
}

// benchmarkWrite writes recs, rows in all, to table, once per iteration.
func benchmarkWrite(b *testing.B, table *schemas.Table, recs []arrow.RecordBatch, rows int) {
	ctx := context.Background()
	key := schemas.Key{Date: day("2025-06-07"), Tenant: "tenant-bench"}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	var size int64
	for _, r := range recs {
		for _, c := range r.Columns() {
			size += dataSize(c.Data())
		}
	}
	w, err := OpenWarehouse(ctx, "mem://")
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()

	b.SetBytes(size)
	b.ReportAllocs()
	var fileBytes int64
	for b.Loop() {
		s, err := w.Begin(ctx, key, "run-bench", WriterOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			if err := s.Write(ctx, table, r); err != nil {
				b.Fatal(err)
			}
		}
		infos, err := s.Commit(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, info := range infos {
			if info.Table == table.Name {
				fileBytes = info.Bytes
			}
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(fileBytes), "parquet-bytes")
}

// dataSize is the bytes of an array's buffers, children included.
func dataSize(d arrow.ArrayData) int64 {
	var n int64
	for _, buf := range d.Buffers() {
		if buf != nil {
			n += int64(buf.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataSize(c)
	}
	return n
}
