package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// The named points of a run that deps.afterStep is told of, besides the
// publish steps load reports (load.PublishSteps), so that a test can kill
// the process at each: "page N" once the Nth page of a tenant is landed,
// "batch N" once the Nth Arrow batch of a tenant is written into its
// staged Parquet files, and "tenant done" once its slice and manifest are
// out, "reset" once a slice starts to be written again (a second pass
// over the landed pages). Without a hook none of this is wired.
const (
	pointTenantDone = "tenant done"
	pointReset      = "reset"
)

func pagePoint(n int64) string { return fmt.Sprintf("page %d", n) }

func batchPoint(n int64) string { return fmt.Sprintf("batch %d", n) }

// progress returns the Progress callback of a run: show, then the hook.
func (o *runOptions) progress(show func(pipeline.Progress)) func(pipeline.Progress) {
	if o.afterStep == nil {
		return show
	}
	return func(p pipeline.Progress) {
		show(p)
		if p.Done {
			o.afterStep(pointTenantDone)
			return
		}
		o.afterStep(pagePoint(p.Pages))
	}
}

// hooked returns the sink of a run: s, or, with a hook, s telling it of
// every batch written.
func (o *runOptions) hooked(s pipeline.ParquetSink) pipeline.Sink {
	if o.afterStep == nil {
		return s
	}
	return hookedSink{ParquetSink: s, afterStep: o.afterStep}
}

type hookedSink struct {
	pipeline.ParquetSink
	afterStep func(string)
}

func (s hookedSink) Begin(ctx context.Context, key schemas.Key, runID string) (pipeline.SliceWriter, error) {
	sw, err := s.ParquetSink.Begin(ctx, key, runID)
	if err != nil {
		return nil, err
	}
	return &hookedWriter{SliceWriter: sw, afterStep: s.afterStep}, nil
}

type hookedWriter struct {
	pipeline.SliceWriter
	afterStep func(string)
	batches   atomic.Int64
}

func (w *hookedWriter) Write(ctx context.Context, table *schemas.Table, rec arrow.RecordBatch) error {
	if err := w.SliceWriter.Write(ctx, table, rec); err != nil {
		return err
	}
	w.afterStep(batchPoint(w.batches.Add(1)))
	return nil
}

func (w *hookedWriter) Reset(ctx context.Context) error {
	if err := w.SliceWriter.Reset(ctx); err != nil {
		return err
	}
	w.afterStep(pointReset)
	return nil
}

// backfillSlicePoint is the point a backfill reaches as its nth slice
// ends, skipped ones included: a test kills it there, between slices.
func backfillSlicePoint(n int) string { return fmt.Sprintf("backfill slice %d done", n) }
