package pipeline_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/pipeline/sinktest"
	"github.com/credreg/credreg/schemas"
)

// The Parquet warehouse keeps the sink contract; load/bq/bqtest runs the
// same suite on the warehouse loading BigQuery.
func TestParquetSinkConformance(t *testing.T) {
	sinktest.Run(t, sinktest.Harness{
		New: func(t *testing.T) pipeline.Sink {
			wh, err := load.OpenWarehouse(context.Background(), filepath.Join(t.TempDir(), "warehouse"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { wh.Close() })
			return pipeline.ParquetSink{Warehouse: wh}
		},
		Rows: func(t *testing.T, s pipeline.Sink, table *schemas.Table, key schemas.Key) []string {
			tab, err := s.(pipeline.ParquetSink).Warehouse.ReadSlice(context.Background(), table, key)
			if err != nil {
				t.Fatalf("reading %s: %v", table.Name, err)
			}
			defer tab.Release()
			return sinktest.ArrowRows(t, table, tab)
		},
	})
}
