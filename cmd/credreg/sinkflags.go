package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/load/bq"
	"github.com/credreg/credreg/pipeline"
)

// sinkOptions are the flags that say where slices are published: always
// the Parquet warehouse, and BigQuery beside it when asked.
type sinkOptions struct {
	Sink       string
	BQProject  string
	BQDataset  string
	BQLocation string
	BQEndpoint string
}

func (o *sinkOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Sink, "sink", "parquet", "where slices are published: parquet (the warehouse), or parquet,bigquery "+
		"(the warehouse, then loaded into BigQuery from its files)")
	f.StringVar(&o.BQProject, "bq-project", "", "BigQuery project of the dataset and the load jobs (default: the credentials' project)")
	f.StringVar(&o.BQDataset, "bq-dataset", bq.DefaultDataset, "BigQuery dataset; created, with its tables, when missing")
	f.StringVar(&o.BQLocation, "bq-location", "", "location of a dataset credreg creates (US, EU, europe-west1, …); an existing dataset keeps its own")
	f.StringVar(&o.BQEndpoint, "bq-endpoint", "", "BigQuery API endpoint, for an emulator (default: $"+bq.EmulatorHostEnv+" when set, else Google's)")
}

// bigQuery says whether the sinks include BigQuery, or why they are wrong.
func (o sinkOptions) bigQuery(changed func(string) bool) (bool, error) {
	parts := strings.Split(strings.ReplaceAll(o.Sink, " ", ""), ",")
	slices.Sort(parts)
	var bigquery bool
	switch strings.Join(parts, ",") {
	case "parquet":
	case "bigquery,parquet":
		bigquery = true
	case "bigquery":
		return false, usagef("--sink bigquery: BigQuery is loaded from the Parquet warehouse, which is always written: say --sink parquet,bigquery")
	default:
		return false, usagef("--sink %q: want parquet or parquet,bigquery", o.Sink)
	}
	if e := o.BQEndpoint; e != "" && !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
		return false, usagef("--bq-endpoint %q: want http://host:port (an emulator) or an https:// URL", e)
	}
	if !bigquery {
		for _, f := range []string{"bq-project", "bq-dataset", "bq-location", "bq-endpoint"} {
			if changed != nil && changed(f) {
				return false, usagef("--%s goes with --sink parquet,bigquery", f)
			}
		}
	}
	return bigquery, nil
}

// open returns the sink over wh: with BigQuery and prepare, its dataset and
// tables are made ready (created, or given new columns) before anything is
// read; close releases the client.
func (o sinkOptions) open(ctx context.Context, wh *load.Warehouse, opts load.WriterOptions, log *slog.Logger,
	changed func(string) bool, prepare bool) (sink pipeline.ParquetSink, close func(), err error) {
	sink = pipeline.ParquetSink{Warehouse: wh, Options: opts}
	withBQ, err := o.bigQuery(changed)
	if err != nil || !withBQ {
		return sink, func() {}, err
	}
	s, err := bq.Open(ctx, bq.Config{Project: o.BQProject, Dataset: o.BQDataset, Location: o.BQLocation,
		Endpoint: o.BQEndpoint, Logger: log})
	if err != nil {
		return sink, nil, fmt.Errorf("opening BigQuery: %w", err)
	}
	if !prepare {
		sink.BigQuery = s
		return sink, func() { s.Close() }, nil
	}
	if err := s.Ensure(ctx); err != nil {
		s.Close()
		var ie *bq.IncompatibleError
		if errors.As(err, &ie) {
			return sink, nil, usageError{fmt.Errorf("BigQuery %s: %w", s, err)}
		}
		return sink, nil, fmt.Errorf("preparing BigQuery %s: %w", s, err)
	}
	sink.BigQuery = s
	return sink, func() { s.Close() }, nil
}
