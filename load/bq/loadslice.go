package bq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"

	"github.com/credreg/credreg/schemas"
)

// File is one published Parquet file of a slice: its table, and either a
// gs:// URI or a way to read it.
type File struct {
	Table string
	// URI is gs://bucket/object when the warehouse is on GCS: BigQuery
	// reads the object itself.
	URI string
	// Open, used when URI is "", gives the bytes, which are uploaded with
	// the load job.
	Open  func() (io.ReadCloser, error)
	Rows  int64
	Bytes int64
}

// Loaded is what one load job put into staging, for the manifest and the
// summary.
type Loaded struct {
	Table, JobID string
	Rows, Bytes  int64
}

// maxLoadJobs bounds the load job ids tried for one table of one run.
const maxLoadJobs = 20

// LoadSlice replaces the (date, tenant) slice: a load job per table into a
// staging table (schema sent explicitly, Parquet, deterministic job id from
// (table, date, tenant, runID): a job id already taken is attached to,
// never loaded twice), tables loaded in parallel; then one multi-statement
// transaction deletes the slice from every table of schemas.Tables,
// inserts from staging and appends the load_runs row (manifestJSON + the
// fields parsed from it); commits are serialized within the process (one
// committer) and retried on a concurrent-transaction error; staging tables
// dropped afterwards. A table with no file in files is emptied for that
// slice (the slice has no such rows). Returns what was loaded, for the
// manifest and the summary.
//
// A LoadSlice of a run whose swap already committed into this dataset (a
// run tried again after it lost the answer: load_runs says so) loads and
// swaps nothing again, and returns the load jobs that ran.
//
// The files must hold only rows of the slice, as the Parquet warehouse
// writes them, and the manifest must be the slice's, of run runID.
func (s *Sink) LoadSlice(ctx context.Context, key schemas.Key, runID string, files []File, manifestJSON []byte) ([]Loaded, error) {
	row, err := parseRunRow(key, runID, manifestJSON)
	if err != nil {
		return nil, err
	}
	if err := checkFiles(files); err != nil {
		return nil, err
	}
	if err := s.locate(ctx); err != nil {
		return nil, err
	}
	current, err := s.LoadedRuns(ctx, key.Date, key.Date)
	if err != nil {
		return nil, err
	}
	if current[schemas.Key{Date: civil.DateOf(key.Date.UTC()).In(time.UTC), Tenant: key.Tenant}] == runID {
		return s.alreadyLoaded(ctx, key, runID, files)
	}
	firstSwap, err := s.swapped(ctx, key, runID)
	if err != nil {
		return nil, err
	}

	loaded := make([]Loaded, len(files))
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() { loaded[i], errs[i] = s.loadTable(ctx, key, runID, f) })
	}
	wg.Wait()
	staged := map[string]string{}
	for _, f := range files {
		staged[f.Table] = stagingTable(s.scope(), f.Table, key, runID)
	}
	// Staging tables go whatever happens next; a process killed before
	// this leaves them to their expiration.
	defer s.dropStaging(ctx, staged)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := s.commit(ctx, key, runID, firstSwap, staged, row); err != nil {
		return nil, err
	}
	return loaded, nil
}

func checkFiles(files []File) error {
	seen := map[string]bool{}
	for _, f := range files {
		if _, ok := schemas.TableByName(f.Table); !ok {
			return fmt.Errorf("bq: %q is not a table of a slice", f.Table)
		}
		if seen[f.Table] {
			return fmt.Errorf("bq: two files of table %s: a slice has one per table", f.Table)
		}
		seen[f.Table] = true
		switch {
		case f.URI != "" && !strings.HasPrefix(f.URI, "gs://"):
			return fmt.Errorf("bq: file of table %s: BigQuery loads gs:// objects, not %q; give Open to upload it", f.Table, f.URI)
		case f.URI == "" && f.Open == nil:
			return fmt.Errorf("bq: file of table %s has neither a gs:// URI nor Open", f.Table)
		}
	}
	return nil
}

// loadTable loads one table's file into its staging table, or attaches to
// the job of an earlier try of the same run that did. Ids are tried in
// order: the last one taken is attached to when it succeeded and its
// staging table is still there; otherwise the next id loads again.
func (s *Sink) loadTable(ctx context.Context, key schemas.Key, runID string, f File) (Loaded, error) {
	t, _ := schemas.TableByName(f.Table)
	staging := stagingTable(s.scope(), t.Name, key, runID)
	last, n, err := s.lastLoadJob(ctx, t, key, runID)
	if err != nil {
		return Loaded{}, err
	}
	if last != nil {
		ok, err := s.usable(ctx, last, staging)
		if err != nil {
			return Loaded{}, err
		}
		if ok {
			s.cfg.Logger.Info("BigQuery load job already ran; attached to it", "table", t.Name, "job", last.ID())
			return Loaded{Table: t.Name, JobID: last.ID(), Rows: loadedRows(last, f.Rows), Bytes: f.Bytes}, nil
		}
	}
	if n > maxLoadJobs {
		return Loaded{}, fmt.Errorf("bq: %d load jobs of table %s for run %s already: not trying another", maxLoadJobs, t.Name, runID)
	}
	id := loadJobID(s.scope(), t.Name, key, runID, n)
	job, err := s.runLoad(ctx, t, staging, id, f)
	if isAlreadyExists(err) {
		// Another try of this run took the id between the look-up and
		// the insert: its job is this one.
		job, err = s.client.JobFromID(ctx, id)
	}
	if err != nil {
		return Loaded{}, err
	}
	status, err := job.Wait(ctx)
	if err == nil && status != nil {
		err = status.Err()
	}
	if err != nil {
		return Loaded{}, fmt.Errorf("bq: load job %s of table %s: %w", id, t.Name, err)
	}
	return Loaded{Table: t.Name, JobID: job.ID(), Rows: loadedRows(job, f.Rows), Bytes: f.Bytes}, nil
}

// lastLoadJob finds the last load job taken of a table's load for
// (date, tenant, run), nil when none, and the number of the next id.
func (s *Sink) lastLoadJob(ctx context.Context, t *schemas.Table, key schemas.Key, runID string) (*bigquery.Job, int, error) {
	var last *bigquery.Job
	n := 1
	for ; n <= maxLoadJobs; n++ {
		job, err := s.client.JobFromID(ctx, loadJobID(s.scope(), t.Name, key, runID, n))
		if isNotFound(err) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("bq: look up load job of %s: %w", t.Name, err)
		}
		last = job
	}
	return last, n, nil
}

// alreadyLoaded is LoadSlice of a run whose swap committed before (a run
// tried again after it lost the answer): nothing is loaded or swapped
// again, and the load jobs that ran are reported.
func (s *Sink) alreadyLoaded(ctx context.Context, key schemas.Key, runID string, files []File) ([]Loaded, error) {
	out := make([]Loaded, len(files))
	for i, f := range files {
		t, _ := schemas.TableByName(f.Table)
		job, _, err := s.lastLoadJob(ctx, t, key, runID)
		if err != nil {
			return nil, err
		}
		out[i] = Loaded{Table: t.Name, Rows: f.Rows, Bytes: f.Bytes}
		if job != nil {
			out[i].JobID, out[i].Rows = job.ID(), loadedRows(job, f.Rows)
		}
	}
	s.cfg.Logger.Info("BigQuery slice already swapped by this run; nothing to load",
		"snapshot_date", key.DateString(), "tenant_id", key.Tenant, "run_id", runID)
	return out, nil
}

// usable says whether an earlier load job can stand for this one: it
// succeeded and its staging table is still there.
func (s *Sink) usable(ctx context.Context, job *bigquery.Job, staging string) (bool, error) {
	status, err := job.Wait(ctx)
	if status == nil && err != nil {
		return false, fmt.Errorf("bq: wait for load job %s: %w", job.ID(), err)
	}
	if status.Err() != nil {
		return false, nil
	}
	_, err = s.dataset().Table(staging).Metadata(ctx)
	switch {
	case isNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("bq: read staging table %s: %w", staging, err)
	}
	return true, nil
}

// runLoad creates the staging table, with its expiration, and starts the
// load job replacing its content.
func (s *Sink) runLoad(ctx context.Context, t *schemas.Table, staging, id string, f File) (*bigquery.Job, error) {
	schema := bigquerySchema(t)
	md := &bigquery.TableMetadata{
		Description:    fmt.Sprintf("credreg staging of %s, dropped after its slice swap.", t.Name),
		Schema:         schema,
		ExpirationTime: time.Now().Add(s.cfg.StagingExpiration),
	}
	if err := s.dataset().Table(staging).Create(ctx, md); err != nil && !isAlreadyExists(err) {
		return nil, fmt.Errorf("bq: create staging table %s: %w", staging, err)
	}
	var src bigquery.LoadSource
	var closer io.Closer
	if f.URI != "" {
		g := bigquery.NewGCSReference(f.URI)
		g.SourceFormat, g.Schema = bigquery.Parquet, schema
		g.ParquetOptions = &bigquery.ParquetOptions{EnableListInference: true}
		src = g
	} else {
		r, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("bq: open the file of table %s: %w", t.Name, err)
		}
		closer = r
		rs := bigquery.NewReaderSource(r)
		rs.SourceFormat, rs.Schema = bigquery.Parquet, schema
		rs.ParquetOptions = &bigquery.ParquetOptions{EnableListInference: true}
		src = rs
	}
	l := s.dataset().Table(staging).LoaderFrom(src)
	l.JobID = id
	l.WriteDisposition = bigquery.WriteTruncate
	l.CreateDisposition = bigquery.CreateNever
	job, err := l.Run(ctx)
	if closer != nil {
		closer.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("bq: start load job %s of table %s: %w", id, t.Name, err)
	}
	return job, nil
}

// loadedRows is the job's count of rows loaded, or the file's when the
// job reports none (an emulator).
func loadedRows(job *bigquery.Job, fileRows int64) int64 {
	if st := job.LastStatus(); st != nil && st.Statistics != nil {
		if ls, ok := st.Statistics.Details.(*bigquery.LoadStatistics); ok && ls.OutputRows > 0 {
			return ls.OutputRows
		}
	}
	return fileRows
}

// dropStaging drops the staging tables, even when ctx was cancelled; one
// that cannot be dropped is left to its expiration and logged.
func (s *Sink) dropStaging(ctx context.Context, staged map[string]string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for _, name := range staged {
		if err := s.dataset().Table(name).Delete(ctx); err != nil && !isNotFound(err) {
			s.cfg.Logger.Warn("BigQuery staging table not dropped; it expires by itself",
				"table", name, "dataset", s.String(), "after", s.cfg.StagingExpiration, "err", err)
		}
	}
}
