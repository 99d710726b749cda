package load

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/credreg/credreg/schemas"
)

const (
	// DefaultRowGroupRows caps a row group when WriterOptions.RowGroupRows
	// is zero: 262,144 user rows are about 10 MiB of zstd Parquet, the
	// size BigQuery reads well, and a row group is buffered whole until it
	// is cut, so a larger cap only costs memory (a 1M-user backfill peaked
	// 140 MiB higher with 1<<20 rows and 128 MiB; bench/replay/NOTES.md).
	DefaultRowGroupRows = 1 << 18

	// maxRowGroupBytes cuts a row group once this much encoded data is
	// buffered for it, so wide rows (rejected_records' raw_json) cannot
	// make a row group that does not fit in memory.
	maxRowGroupBytes = 32 << 20

	// sinkBufferSize batches Parquet's many small writes (page headers)
	// into large writes to the staged object; pages larger than it go
	// straight through. Every slice opens five files, most of them small
	// (the derived tables), so the buffer is paid per file: 1 MiB made a
	// 200-tenant backfill allocate and clear 1 GB for it.
	sinkBufferSize = 256 << 10

	parquetContentType = "application/vnd.apache.parquet"

	// zstdLevel is zstd's level 1, its fastest encoder (SpeedFastest).
	zstdLevel = 1

	// writeBatchValues is how many values a column writer encodes between
	// checks of its page size, except in rejected_records
	// (batchValuesOf).
	writeBatchValues = 8192

	// rejectBatchValues is rejected_records' batch of values, arrow's
	// default: a page passes its 1 MiB limit by up to one batch, and a
	// raw_json value can be a MiB itself (transform.MaxRawJSON), so 8192 of
	// them could make a page of gigabytes where 1024 keeps the old bound.
	rejectBatchValues = 1024

	// Key-value metadata keys; credreg.table and credreg.schema_version
	// come from the table's Arrow schema.
	metaRunID = "credreg.run_id"
	// metaArrowSchema is where pqarrow keeps a file's Arrow schema.
	metaArrowSchema = "ARROW:schema"
)

// WriterOptions tunes a SliceWriter. The zero value is the default.
type WriterOptions struct {
	// RowGroupRows caps the rows of one row group; 0 means
	// DefaultRowGroupRows.
	RowGroupRows int64
	// Allocator backs the Parquet encoders' buffers; nil means
	// memory.DefaultAllocator.
	Allocator memory.Allocator
	// LockWait is how long Begin waits for the slice's lease when another
	// writer holds it; 0 means fail at once with a *LeaseHeldError.
	LockWait time.Duration
	// Logger, if set, is told when Begin recovers an unfinished publish.
	Logger *slog.Logger
	// AfterStep, if set, is called by Commit after each publish step
	// (the Step* constants, in PublishSteps order; on a bucket only the
	// steps that apply there). It is a hook for crash tests, which kill
	// the process in it, and for progress reports; it must not call the
	// SliceWriter.
	AfterStep func(step string)
	// AfterPublish, if set, runs once the slice and its manifest are
	// published and before the lease is released: another sink loads the
	// published files there (BigQuery), no other writer of the slice can
	// get in between, and a manifest it returns (non-nil) replaces the
	// published one (to record that sink's jobs). Its error does not
	// unpublish the slice: CommitWith returns it wrapped in
	// ErrPublishedBut.
	AfterPublish func(ctx context.Context, files []FileInfo, manifest []byte) ([]byte, error)
}

// hashingSink sits between the Parquet writer and the staged object: it
// buffers, and hashes and counts exactly the bytes that will be published.
// It deliberately has no Close, so closing the Parquet writer finishes the
// file without publishing it.
type hashingSink struct {
	buf     *bufio.Writer
	sum     hash.Hash
	n       int64
	discard bool // set on abort: drop everything, fail nothing
}

func (s *hashingSink) Write(p []byte) (int, error) {
	if s.discard {
		return len(p), nil
	}
	n, err := s.buf.Write(p)
	s.sum.Write(p[:n])
	s.n += int64(n)
	return n, err
}

// tableFile is one table's Parquet file of a slice, from its staged object
// to its publication.
type tableFile struct {
	// mu serializes Writes of the table: a Parquet writer takes one batch
	// at a time. Commit and Abort run with the slice locked exclusively,
	// when no Write is in progress, and need not take it.
	mu sync.Mutex

	table *schemas.Table
	key   string       // object key, relative to the warehouse root
	obj   stagedObject // nil once published or discarded
	sink  *hashingSink
	pq    *pqarrow.FileWriter
	mem   memory.Allocator

	// writeSchema is the table's schema with its constant and vocabulary
	// columns typed as dictionaries (dictionaryWriteSchema), consts and
	// vocabs those columns.
	writeSchema *arrow.Schema
	consts      []constantColumn
	vocabs      []vocabularyColumn
	// idx hands out the constant columns' indices.
	idx indexBuffers

	rows     int64
	maxBytes int64 // encoded bytes after which the row group is cut
	cut      bool  // start a new row group before the next batch
	err      error // the first write error; the file cannot be committed
	finished bool  // Parquet footer written and the object sealed
}

// openTableFile starts a Parquet file on obj, the staged object of the
// table's file. It always returns the tableFile, so that the caller can
// abort it, which discards obj, even on error.
func openTableFile(obj stagedObject, t *schemas.Table, key schemas.Key, runID string, opts WriterOptions) (*tableFile, error) {
	mem := opts.Allocator
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	f := &tableFile{table: t, key: partKey(t.Name, key), obj: obj, maxBytes: maxRowGroupBytes, mem: mem}
	f.sink = &hashingSink{buf: bufio.NewWriterSize(obj, sinkBufferSize), sum: sha256.New()}
	f.writeSchema, f.consts, f.vocabs = dictionaryWriteSchema(t)

	rows := opts.RowGroupRows
	if rows <= 0 {
		rows = DefaultRowGroupRows
	}
	props := parquet.NewWriterProperties(append([]parquet.WriterProperty{
		parquet.WithAllocator(mem),
		parquet.WithCompression(compress.Codecs.Zstd),
		// zstd's fastest level: on a 1M-user replay it cut 2.5-4 of
		// 19-21 CPU s for 0.16 % more output bytes (69.18 MB instead of
		// 69.07 MB; bench/replay/NOTES.md).
		parquet.WithCompressionLevel(zstdLevel),
		parquet.WithDictionaryDefault(true),
		parquet.WithStats(true),
		parquet.WithMaxRowGroupLength(rows),
		// The column writers check the page size, and the dictionary's,
		// once per batch of values: 8192 instead of arrow's 1024 makes
		// that bookkeeping 8 times rarer (a 1M-user replay: 1-1.5 CPU s
		// less, the same bytes; bench/replay/NOTES.md). A page passes
		// the 1 MiB limit by up to one batch: 8192 values, a few hundred
		// KiB for the users' and methods' short values.
		parquet.WithBatchSize(batchValuesOf(t)),
	}, columnProperties(t)...)...)
	// The schema is stored by hand: the writer's own would be
	// writeSchema, with dictionary types no reader should see. It goes
	// where WithStoreSchema puts it, after the schema's metadata.
	stored, err := storedSchema(t.Arrow(), mem)
	if err != nil {
		return f, fmt.Errorf("load: start Parquet file %s: %w", f.key, err)
	}
	arrowProps := pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem))
	f.pq, err = pqarrow.NewFileWriter(f.writeSchema, f.sink, props, arrowProps)
	if err != nil {
		return f, fmt.Errorf("load: start Parquet file %s: %w", f.key, err)
	}
	for _, kv := range [][2]string{{metaArrowSchema, stored}, {metaRunID, runID}} {
		if err := f.pq.AppendKeyValueMetadata(kv[0], kv[1]); err != nil {
			return f, fmt.Errorf("load: start Parquet file %s: %w", f.key, err)
		}
	}
	return f, nil
}

// write appends a batch. Batches join the current row group until it holds
// the row cap (pqarrow splits there) or maxBytes of encoded data.
func (f *tableFile) write(rec arrow.RecordBatch) error {
	if f.err != nil {
		return f.err
	}
	if rec.NumRows() == 0 {
		return nil
	}
	if f.cut {
		if err := f.pq.NewBufferedRowGroupChecked(); err != nil {
			f.err = fmt.Errorf("load: write %s: %w", f.key, err)
			return f.err
		}
		f.cut = false
	}
	dict, err := f.dictionaryRecord(rec)
	if err != nil {
		f.err = fmt.Errorf("load: write %s: %w", f.key, err)
		return f.err
	}
	err = f.pq.WriteBuffered(dict)
	dict.Release()
	if err != nil {
		f.err = fmt.Errorf("load: write %s: %w", f.key, err)
		return f.err
	}
	f.rows += rec.NumRows()
	// Cutting lazily, before the next batch, keeps an empty row group
	// out of the file when this batch was the last.
	f.cut = f.pq.RowGroupTotalBytesWritten() >= f.maxBytes
	return nil
}

// dictionaryRecord is rec in writeSchema: its constant and vocabulary
// columns as dictionary arrays (constantColumn.encode,
// vocabularyColumn.encode), the others as they are.
func (f *tableFile) dictionaryRecord(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(f.consts) == 0 && len(f.vocabs) == 0 {
		rec.Retain()
		return rec, nil
	}
	cols := slices.Clone(rec.Columns())
	for i := range f.consts {
		c := &f.consts[i]
		col, err := c.encode(f.mem, cols[c.index], &f.idx)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.writeSchema.Field(c.index).Name, err)
		}
		defer col.Release()
		cols[c.index] = col
	}
	for i := range f.vocabs {
		c := &f.vocabs[i]
		col, err := c.encode(f.mem, cols[c.index])
		if err != nil {
			return nil, err
		}
		defer col.Release()
		cols[c.index] = col
	}
	return array.NewRecordBatch(f.writeSchema, cols, rec.NumRows()), nil
}

// finish writes the Parquet footer, flushes everything to the staged
// object and seals it, still unpublished.
func (f *tableFile) finish() error {
	if f.err != nil {
		return f.err
	}
	f.finished = true
	f.releaseConstants()
	if err := f.pq.Close(); err != nil {
		f.err = fmt.Errorf("load: finish %s: %w", f.key, err)
		return f.err
	}
	if err := f.sink.buf.Flush(); err != nil {
		f.err = fmt.Errorf("load: finish %s: %w", f.key, err)
		return f.err
	}
	if err := f.obj.seal(); err != nil {
		f.err = err
		return f.err
	}
	return nil
}

// publish replaces the previous file with the staged one.
func (f *tableFile) publish() error {
	obj := f.obj
	f.obj = nil // published or failed: either way, not to be discarded
	return obj.publish()
}

// abort drops the file; the previous one stays.
func (f *tableFile) abort() {
	if f.pq != nil && !f.finished {
		// Close the Parquet writer only to release its buffers; what it
		// flushes goes nowhere.
		f.sink.discard = true
		f.finished = true
		_ = f.pq.Close()
	}
	f.releaseConstants()
	if f.obj != nil {
		f.obj.discard()
		f.obj = nil
	}
}

// releaseConstants drops the constant and vocabulary columns' cached
// dictionaries; the column writers keep what they still need.
func (f *tableFile) releaseConstants() {
	for i := range f.consts {
		f.consts[i].release()
	}
	for i := range f.vocabs {
		f.vocabs[i].release()
	}
}

func (f *tableFile) info() FileInfo {
	return FileInfo{
		Table:  f.table.Name,
		Path:   f.key,
		Rows:   f.rows,
		Bytes:  f.sink.n,
		SHA256: hex.EncodeToString(f.sink.sum.Sum(nil)),
	}
}
