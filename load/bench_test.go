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
	const rows, batch = 100_000, 999
	ctx := context.Background()
	key := schemas.Key{Date: day("2025-06-07"), Tenant: "tenant-bench"}
	recs := batches(memory.DefaultAllocator, schemas.UserRegistrationDetailsTable, makeSlice(key, "run-bench", rows, 0, 1).users, batch)
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
			if err := s.Write(ctx, schemas.UserRegistrationDetailsTable, r); err != nil {
				b.Fatal(err)
			}
		}
		infos, err := s.Commit(ctx)
		if err != nil {
			b.Fatal(err)
		}
		fileBytes = infos[0].Bytes
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
