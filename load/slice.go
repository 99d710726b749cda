package load

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/credreg/credreg/schemas"
)

// FileInfo describes one published file, for the run manifest.
type FileInfo struct {
	Table  string `json:"table"`
	Path   string `json:"path"` // key relative to the warehouse root, slash-separated
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"` // hex
}

// SliceWriter writes the three tables of one slice. Nothing it writes is
// visible until Commit. Its methods are safe for concurrent use; batches
// of different tables are encoded in parallel.
type SliceWriter struct {
	key    schemas.Key
	cancel context.CancelFunc // aborts every blob writer of the slice

	mu    sync.RWMutex // Write holds it shared; Commit and Abort exclusively
	state sliceState
	files []*tableFile // in schemas.Tables order
}

type sliceState int

const (
	sliceOpen sliceState = iota
	sliceCommitted
	sliceAborted
)

// Begin opens the three table writers of one slice. Nothing is visible
// until Commit; cancelling ctx aborts the slice as Abort does (call Abort
// anyway, to release it). runID goes into every file's metadata.
func (w *Warehouse) Begin(ctx context.Context, key schemas.Key, runID string, opts WriterOptions) (*SliceWriter, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	if runID == "" {
		return nil, errors.New("load: the run id is empty; every file records the run that wrote it")
	}
	if opts.RowGroupRows < 0 {
		return nil, fmt.Errorf("load: RowGroupRows is %d; want a positive cap, or 0 for the default", opts.RowGroupRows)
	}
	sweepStale(ctx, w.bucket, key, time.Now())
	// The blob writers hold this context: cancelling it is what makes
	// their Close discard instead of publish.
	wctx, cancel := context.WithCancel(ctx)
	s := &SliceWriter{key: key, cancel: cancel}
	for _, t := range schemas.Tables {
		f, err := openTableFile(wctx, w.bucket, t, key, runID, opts)
		if f != nil {
			s.files = append(s.files, f)
		}
		if err != nil {
			s.Abort()
			return nil, err
		}
	}
	return s, nil
}

// Write appends a batch to the table's file. rec's schema must equal
// table.Arrow(), and every row must belong to the slice. A batch that fails
// to encode spoils the table's file: Commit then fails and publishes nothing.
func (s *SliceWriter) Write(ctx context.Context, table *schemas.Table, rec arrow.RecordBatch) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("load: write %s: %w", table.Name, err)
	}
	i := s.fileIndex(table)
	if i < 0 {
		return fmt.Errorf("load: %q is not a warehouse table", table.Name)
	}
	if err := checkSchema(table, rec.Schema()); err != nil {
		return err
	}
	if err := checkSlice(s.key, table, rec); err != nil {
		return err
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.usable(); err != nil {
		return err
	}
	f := s.files[i]
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.write(rec)
}

// Commit finishes the Parquet files and publishes them, each an atomic
// replace of the previous file of that slice, in schemas.Tables order. It
// returns one FileInfo per table in that order.
//
// Every file is finished before the first is published, so an encoding or
// write error publishes nothing. A failure while publishing leaves the
// files before it published and the rest untouched; the error says which.
// Once publishing has started, cancelling ctx does not interrupt it (but
// cancelling the context given to Begin does, as it aborts the blob
// writers). After an error the slice is aborted.
func (s *SliceWriter) Commit(ctx context.Context) ([]FileInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	for _, f := range s.files {
		if err := f.finish(); err != nil {
			s.abortLocked()
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		s.abortLocked()
		return nil, fmt.Errorf("load: commit %s/%s: %w", s.key.DateString(), s.key.Tenant, err)
	}
	infos := make([]FileInfo, 0, len(s.files))
	for _, f := range s.files {
		if err := f.publish(); err != nil {
			s.abortLocked()
			if len(infos) > 0 {
				var done []string
				for _, fi := range infos {
					done = append(done, fi.Path)
				}
				return nil, fmt.Errorf("%w (already replaced: %s; the slice is now incomplete, rerun it)", err, strings.Join(done, ", "))
			}
			return nil, err
		}
		infos = append(infos, f.info())
	}
	s.state = sliceCommitted
	s.cancel()
	return infos, nil
}

// Abort discards everything written; the previous snapshot stays
// untouched. It is safe to call after Commit (a no-op), more than once, and
// concurrently with Write.
func (s *SliceWriter) Abort() {
	// Cancel before waiting for the lock, so an upload in progress stops.
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == sliceOpen {
		s.abortLocked()
	}
}

func (s *SliceWriter) abortLocked() {
	s.cancel()
	for _, f := range s.files {
		f.abort()
	}
	s.state = sliceAborted
}

func (s *SliceWriter) usable() error {
	switch s.state {
	case sliceCommitted:
		return fmt.Errorf("load: slice %s/%s is already committed", s.key.DateString(), s.key.Tenant)
	case sliceAborted:
		return fmt.Errorf("load: slice %s/%s was aborted", s.key.DateString(), s.key.Tenant)
	}
	return nil
}

func (s *SliceWriter) fileIndex(table *schemas.Table) int {
	for i, t := range schemas.Tables {
		if t.Name == table.Name {
			return i
		}
	}
	return -1
}

// checkSchema names the first difference between a batch's schema and the
// table's, which is what a person needs to find the bug.
func checkSchema(table *schemas.Table, got *arrow.Schema) error {
	want := table.Arrow()
	if got.Equal(want) {
		return nil
	}
	if got.NumFields() != want.NumFields() {
		return fmt.Errorf("load: batch for %s has %d columns, want %d", table.Name, got.NumFields(), want.NumFields())
	}
	for i, wf := range want.Fields() {
		gf := got.Field(i)
		if !gf.Equal(wf) {
			return fmt.Errorf("load: batch for %s: column %d is %s, want %s", table.Name, i, gf, wf)
		}
	}
	return fmt.Errorf("load: batch for %s: schema differs from the table's", table.Name)
}

// checkSlice verifies that every row carries the slice's snapshot_date and
// tenant_id: a row of another slice would land in the wrong partition.
func checkSlice(key schemas.Key, table *schemas.Table, rec arrow.RecordBatch) error {
	dates, ok1 := rec.Column(0).(*array.Date32)
	tenants, ok2 := rec.Column(1).(*array.String)
	if !ok1 || !ok2 {
		return fmt.Errorf("load: batch for %s does not start with the %s and %s columns", table.Name, schemas.ColSnapshotDate, schemas.ColTenantID)
	}
	wantDate := arrow.Date32FromTime(key.Date.UTC())
	for i := range int(rec.NumRows()) {
		if dates.IsNull(i) || dates.Value(i) != wantDate {
			return fmt.Errorf("load: row %d of a %s batch has %s %s, but the slice is %s", i, table.Name, schemas.ColSnapshotDate, dates.ValueStr(i), key.DateString())
		}
		if tenants.IsNull(i) || tenants.Value(i) != key.Tenant {
			return fmt.Errorf("load: row %d of a %s batch has %s %q, but the slice is %q", i, table.Name, schemas.ColTenantID, tenants.ValueStr(i), key.Tenant)
		}
	}
	return nil
}
