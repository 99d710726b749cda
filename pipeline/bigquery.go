package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/load/bq"
	"github.com/credreg/credreg/schemas"
)

// BigQueryLoader loads a published slice into BigQuery; *bq.Sink is one.
type BigQueryLoader interface {
	LoadSlice(ctx context.Context, key schemas.Key, runID string, files []bq.File, manifestJSON []byte) ([]bq.Loaded, error)
	// LoadedRuns names, per slice of the days from..to that BigQuery
	// holds, the run whose rows it holds: BigQuery's own record.
	LoadedRuns(ctx context.Context, from, to time.Time) (map[schemas.Key]string, error)
	String() string
}

// BigQueryLoad is how a slice's load into BigQuery went, for the manifest.
type BigQueryLoad struct {
	Dataset string `json:"dataset"`
	// Status is "loaded", or "failed" with Error saying why: the Parquet
	// slice is published either way.
	Status string      `json:"status"`
	Error  string      `json:"error,omitempty"`
	Tables []TableLoad `json:"tables"`
}

// TableLoad is one table's load job.
type TableLoad struct {
	Table string `json:"table"`
	JobID string `json:"job_id"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// ErrNotLoaded: the slice is published in the Parquet warehouse, but its
// load into BigQuery failed; `backfill --sink parquet,bigquery` loads it
// later from the published files, without Graph.
var ErrNotLoaded = errors.New("published in the Parquet warehouse, but not loaded into BigQuery")

// loadBigQuery is the ParquetSink's load.WriterOptions.AfterPublish: the
// slice is out and its lease still held. It loads exactly the published
// files, from GCS when the warehouse is there, and returns the manifest
// again with the load recorded.
func (w *parquetWriter) loadBigQuery(ctx context.Context, files []load.FileInfo, manifest []byte) ([]byte, error) {
	res, err := loadPublished(ctx, w.sink, w.key, w.runID, files, manifest)
	w.loaded, w.loadErr = res, err
	if w.manifest == nil {
		return nil, err
	}
	m, merr := w.manifest(Published{Files: files, BigQuery: res})
	return m, errors.Join(err, merr)
}

// loadPublished loads a published slice into the sink's BigQuery.
func loadPublished(ctx context.Context, s ParquetSink, key schemas.Key, runID string, files []load.FileInfo,
	manifest []byte) (*BigQueryLoad, error) {
	res := &BigQueryLoad{Dataset: s.BigQuery.String(), Status: "loaded", Tables: []TableLoad{}}
	in := make([]bq.File, len(files))
	for i, f := range files {
		in[i] = bq.File{Table: f.Table, Rows: f.Rows, Bytes: f.Bytes}
		if uri, ok := s.Warehouse.ObjectURI(f.Path); ok {
			in[i].URI = uri
		} else {
			path := f.Path
			in[i].Open = func() (io.ReadCloser, error) { return s.Warehouse.OpenObject(ctx, path) }
		}
	}
	loaded, err := s.BigQuery.LoadSlice(ctx, key, runID, in, manifest)
	if err != nil {
		res.Status, res.Error = "failed", err.Error()
		return res, fmt.Errorf("%w: %w", ErrNotLoaded, err)
	}
	for _, l := range loaded {
		res.Tables = append(res.Tables, TableLoad{Table: l.Table, JobID: l.JobID, Rows: l.Rows, Bytes: l.Bytes})
	}
	return res, nil
}

// bigQuerySink is a sink that also loads BigQuery: a ParquetSink, or a
// sink embedding one.
type bigQuerySink interface {
	BigQueryDataset() string
	LoadedRuns(ctx context.Context, from, to time.Time) (map[schemas.Key]string, error)
	LoadPublished(ctx context.Context, key schemas.Key) (*Manifest, error)
}

// LoadedRuns is BigQueryLoader.LoadedRuns of the sink's BigQuery; nil
// when it loads none.
func (s ParquetSink) LoadedRuns(ctx context.Context, from, to time.Time) (map[schemas.Key]string, error) {
	if s.BigQuery == nil {
		return nil, nil
	}
	return s.BigQuery.LoadedRuns(ctx, from, to)
}

// BigQueryDataset names the dataset the sink loads; "" when it loads none.
func (s ParquetSink) BigQueryDataset() string {
	if s.BigQuery == nil {
		return ""
	}
	return s.BigQuery.String()
}

// LoadPublished loads a slice already published in the warehouse into the
// sink's BigQuery, from its files as published (no replay, no Graph), under
// the slice's lease, and records the load in its manifest. The load's job
// ids derive from the slice's run id, so loading a slice twice attaches to
// the first load's jobs. It returns the updated manifest.
func (s ParquetSink) LoadPublished(ctx context.Context, key schemas.Key) (*Manifest, error) {
	if s.BigQuery == nil {
		return nil, errors.New("no BigQuery to load into")
	}
	lease, err := s.Warehouse.Lease(ctx, key, load.LeaseOptions{RunID: NewRunID(time.Now()), Wait: s.Options.LockWait})
	if err != nil {
		return nil, err
	}
	defer lease.Release()
	data, err := s.Warehouse.ReadManifest(ctx, key)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("the manifest of %s %s: %w", key.DateString(), key.Tenant, err)
	}
	// The load_runs row holds the manifest as the Parquet slice has it.
	res, err := loadPublished(ctx, s, key, m.RunID, m.Files, data)
	m.setPublished(Published{Files: m.Files, BigQuery: res})
	out, jerr := m.JSON()
	if jerr == nil {
		jerr = s.Warehouse.WriteManifest(context.WithoutCancel(ctx), key, out)
	}
	return &m, errors.Join(err, jerr)
}
