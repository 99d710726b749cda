package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	key schemas.Key
	w   *Warehouse

	// lease is the slice's; nil on a Sub. Commit and Abort release it.
	lease *Lease
	// staging is the slice's folder in _staging on a local warehouse.
	staging   string
	runID     string
	afterStep func(step string)
	opts      WriterOptions
	recovered Recovery
	crashAt   string // for tests: Commit stops dead after this step

	// cancel aborts every blob writer of the slice. Abort calls it before
	// waiting for a Write in progress, so that an upload stops, but not
	// once Commit has begun publishing: cancelling then would publish
	// some files of the slice and discard the others.
	cancelMu    sync.Mutex
	cancel      context.CancelFunc
	interrupted bool // Abort cancelled before Commit began publishing
	publishing  bool // Commit began publishing; Abort no longer cancels

	beat *heartbeat // nil unless the warehouse is local

	mu    sync.RWMutex // Write holds it shared; Commit and Abort exclusively
	state sliceState
	files []*tableFile // in schemas.Tables order

	afterPublish func(table string) // for tests: runs after each file is published
}

type sliceState int

const (
	sliceOpen sliceState = iota
	sliceCommitted
	sliceAborted
)

// Begin opens the three table writers of one slice. Nothing is visible
// until Commit. runID goes into every file's metadata.
//
// Begin refuses a ctx that is already done, but cancelling ctx later does
// not abort the slice: the writers live until Commit or Abort, so that a
// signal arriving during Commit cannot publish some files of the slice and
// discard the others. The caller must therefore end every slice with
// Commit or Abort; deferring Abort right after Begin does it (Abort is a
// no-op after Commit). Write and Commit refuse a done ctx of their own.
//
// Begin first takes the slice's lease (see Warehouse.Lease), waiting up
// to opts.LockWait, and holds it until Commit or Abort; a Sub takes none.
// On a local warehouse it then finishes or undoes the publish a killed
// writer left unfinished (see Recovered), and removes what killed runs
// left behind (see sweepStale).
func (w *Warehouse) Begin(ctx context.Context, key schemas.Key, runID string, opts WriterOptions) (*SliceWriter, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	if w.root != "" {
		if err := checkLocalTenant(key); err != nil {
			return nil, err
		}
	}
	if runID == "" {
		return nil, errors.New("load: the run id is empty; every file records the run that wrote it")
	}
	if opts.RowGroupRows < 0 {
		return nil, fmt.Errorf("load: RowGroupRows is %d; want a positive cap, or 0 for the default", opts.RowGroupRows)
	}
	if opts.LockWait < 0 {
		return nil, fmt.Errorf("load: LockWait is %s; want a duration to wait, or 0 not to wait", opts.LockWait)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load: begin %s/%s: %w", key.DateString(), key.Tenant, err)
	}
	// The blob writers hold this context: cancelling it is what makes
	// their Close discard instead of publish. It keeps ctx's values but
	// not its cancellation, which is Abort's alone (see Begin).
	s := &SliceWriter{key: key, w: w, cancel: func() {}, runID: runID, afterStep: opts.AfterStep, opts: opts}
	if err := s.claim(ctx, opts); err != nil {
		s.Abort()
		return nil, err
	}
	if err := s.open(ctx); err != nil {
		s.Abort()
		return nil, err
	}
	return s, nil
}

// open stages one empty file per table. The blob writers hold a context
// of their own: cancelling it is what makes their Close discard instead
// of publish. It keeps ctx's values but not its cancellation, which is
// Abort's alone (see Begin).
func (s *SliceWriter) open(ctx context.Context) error {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancelMu.Lock()
	s.cancel = cancel
	s.cancelMu.Unlock()
	var staged []string
	for _, t := range schemas.Tables {
		obj, err := s.w.stage(wctx, s.staging, t, s.key, s.runID)
		if err != nil {
			return err
		}
		if sf, ok := obj.(*stagedFile); ok {
			staged = append(staged, sf.path)
		}
		f, err := openTableFile(obj, t, s.key, s.runID, s.opts)
		s.files = append(s.files, f)
		if err != nil {
			return err
		}
	}
	if len(staged) > 0 {
		s.beat = startHeartbeat(staged, staleTemp/4)
	}
	return nil
}

// Reset discards everything written to the slice and starts its files
// afresh, keeping its lease: a writer that must write the slice again
// (the pipeline's second pass) never lets another writer in between.
// After an error the slice is aborted.
func (s *SliceWriter) Reset(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	s.beat.halt()
	s.cancel()
	for _, f := range s.files {
		f.abort()
	}
	s.files, s.beat = nil, nil
	if err := s.open(ctx); err != nil {
		s.abortLocked()
		return err
	}
	return nil
}

// claim takes the slice's lease, except on a Sub, and on a local
// warehouse settles what earlier writers left: under the lease, whatever
// the slice's staging folder holds was left by a writer that is gone.
func (s *SliceWriter) claim(ctx context.Context, opts WriterOptions) error {
	w, key := s.w, s.key
	if !w.shared {
		lease, err := w.Lease(ctx, key, LeaseOptions{RunID: s.runID, Wait: opts.LockWait})
		if err != nil {
			return err
		}
		s.lease = lease
	}
	if w.root == "" {
		return nil
	}
	s.staging = filepath.Join(w.root, stagingDir, leaseName(key))
	if s.lease != nil {
		rec, err := recoverSlice(w.root, s.staging, key, opts.Logger)
		if err != nil {
			return err
		}
		s.recovered = rec
		clearFolder(s.staging)
	}
	sweepStale(w.root, key, time.Now())
	return nil
}

// Recovered says what Begin did with an unfinished publish of the slice
// that a writer killed mid-Commit left behind: nothing, rolled it forward
// or rolled it back.
func (s *SliceWriter) Recovered() Recovery { return s.recovered }

// stage opens the staged object of a table's file: a file in _staging for
// a local warehouse, a blob writer at the final key otherwise.
func (w *Warehouse) stage(ctx context.Context, staging string, t *schemas.Table, key schemas.Key, runID string) (stagedObject, error) {
	k := partKey(t.Name, key)
	if w.root != "" {
		f, err := createStagedFile(w.root, staging, k, runID, t.Name)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	o, err := openBlobObject(ctx, w.bucket, w.prefix+k)
	if err != nil {
		return nil, err
	}
	return o, nil
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

// Commit is CommitWith without a manifest.
func (s *SliceWriter) Commit(ctx context.Context) ([]FileInfo, error) {
	return s.CommitWith(ctx, nil)
}

// CommitWith finishes the Parquet files and publishes them, each an
// atomic replace of the previous file of that slice, in schemas.Tables
// order, then the slice's manifest, which manifest makes from the files'
// FileInfo (nil: no manifest). It returns one FileInfo per table in that
// order, and releases the slice's lease.
//
// Every file is finished (and, on a local warehouse, synced) before the
// first is published, so an encoding or write error publishes nothing.
// CommitWith checks ctx once, just before publishing: if it is done, it
// refuses and aborts the slice. Once the first file is published, nothing
// interrupts the others — not ctx, not the context given to Begin, not a
// concurrent Abort — since stopping there would leave the slice half new,
// half old. On a local warehouse a publish intent makes the whole set
// crash-consistent (see the package doc); on a bucket only a failure of
// the store itself stops it halfway, and the error says which files were
// replaced. After an error the slice is aborted.
func (s *SliceWriter) CommitWith(ctx context.Context, manifest func(files []FileInfo) ([]byte, error)) ([]FileInfo, error) {
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
	if err := s.lease.check(); err != nil {
		s.abortLocked()
		return nil, err
	}
	infos := make([]FileInfo, 0, len(s.files))
	for _, f := range s.files {
		infos = append(infos, f.info())
	}
	var manifestJSON []byte
	if manifest != nil {
		var err error
		if manifestJSON, err = manifest(slices.Clone(infos)); err != nil {
			s.abortLocked()
			return nil, fmt.Errorf("load: commit %s/%s: make the manifest: %w", s.key.DateString(), s.key.Tenant, err)
		}
		if !json.Valid(manifestJSON) {
			s.abortLocked()
			return nil, fmt.Errorf("load: commit %s/%s: the manifest is not valid JSON", s.key.DateString(), s.key.Tenant)
		}
	}
	if !s.startPublishing() {
		s.abortLocked()
		return nil, fmt.Errorf("load: commit %s/%s: the slice was aborted", s.key.DateString(), s.key.Tenant)
	}
	// Sealed files have a fresh mtime, which is all the sweep looks at.
	s.beat.halt()
	var err error
	if s.w.root != "" {
		err = s.publishLocal(infos, manifestJSON)
	} else {
		err = s.publishBucket(infos, manifestJSON)
	}
	if errors.Is(err, errCrashed) {
		s.crash()
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	s.state = sliceCommitted
	s.cancel() // releases the context; every writer is closed
	after := s.runAfterPublish(ctx, infos, manifestJSON)
	if err := s.lease.Release(); err != nil {
		after = errors.Join(after, err)
	}
	if after != nil {
		return infos, fmt.Errorf("load: the slice %s/%s is published, but %w: %w", s.key.DateString(), s.key.Tenant, ErrPublishedBut, after)
	}
	return infos, nil
}

// runAfterPublish runs WriterOptions.AfterPublish, still holding the lease,
// and publishes the manifest it returns.
func (s *SliceWriter) runAfterPublish(ctx context.Context, infos []FileInfo, manifestJSON []byte) error {
	if s.opts.AfterPublish == nil {
		return nil
	}
	m, err := s.opts.AfterPublish(ctx, slices.Clone(infos), manifestJSON)
	if m != nil {
		// A bucket lease may have been lost during a long AfterPublish:
		// then another writer may have published since, and the
		// manifest is theirs to write.
		if lerr := s.lease.check(); lerr != nil {
			return errors.Join(err, lerr)
		}
		if werr := s.w.WriteManifest(context.WithoutCancel(ctx), s.key, m); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	return err
}

// Abort discards everything written; the previous snapshot stays
// untouched. It is safe to call after Commit (a no-op), more than once, and
// concurrently with Write. Called while Commit is publishing, it waits for
// Commit to finish and then does nothing.
func (s *SliceWriter) Abort() {
	s.interrupt()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == sliceOpen {
		s.abortLocked()
	}
}

// interrupt cancels the blob writers without waiting for the lock, so
// that an upload in progress in a Write stops, unless Commit has begun
// publishing: that must run to the end.
func (s *SliceWriter) interrupt() {
	s.cancelMu.Lock()
	defer s.cancelMu.Unlock()
	if !s.publishing {
		s.interrupted = true
		s.cancel()
	}
}

// startPublishing marks the point after which Abort no longer cancels. It
// reports false if Abort cancelled first: the writers are then discarding
// and the slice must not be published (on a local warehouse, where a
// cancel stops nothing, this keeps an Abort that came first from losing).
func (s *SliceWriter) startPublishing() bool {
	s.cancelMu.Lock()
	defer s.cancelMu.Unlock()
	if s.interrupted {
		return false
	}
	s.publishing = true
	return true
}

// abortLocked discards every file not yet published. Commit calls it too
// when publishing fails, and then cancelling is what makes the remaining
// blob writers discard.
func (s *SliceWriter) abortLocked() {
	s.beat.halt()
	s.cancel()
	for _, f := range s.files {
		f.abort()
	}
	if s.staging != "" && s.lease != nil {
		_ = os.Remove(s.staging) // only if empty; a leftover is swept
	}
	s.state = sliceAborted
	_ = s.lease.Release() // nothing to do about a failure: the slice is discarded
}

// crash leaves everything as a killed process would: staged files, the
// intent, the lease record. Only the lock goes, as the OS would drop it.
func (s *SliceWriter) crash() {
	s.state = sliceAborted
	s.lease.drop()
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
