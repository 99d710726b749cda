package pipeline

import "github.com/apache/arrow-go/v18/arrow/memory"

// withAllocator returns the sink whose writers use mem, so that a replay's
// transformer and Parquet writer share one allocator: a ParquetSink that
// names no allocator of its own gets mem; any other sink, or a nil mem,
// leaves s as it is.
func withAllocator(s Sink, mem memory.Allocator) Sink {
	if ps, ok := s.(ParquetSink); ok && mem != nil && ps.Options.Allocator == nil {
		ps.Options.Allocator = mem
		return ps
	}
	return s
}
