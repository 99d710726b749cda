package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/load/bq"
	"github.com/credreg/credreg/schemas"
)

// BigQueryLoader loads a published slice into BigQuery; *bq.Sink is one.
type BigQueryLoader interface {
	LoadSlice(ctx context.Context, key schemas.Key, runID string, files []bq.File, manifestJSON []byte) ([]bq.Loaded, error)
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
	w.loaded = res
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
