package load

import (
	"bytes"
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/credreg/credreg/schemas"
)

// ReadSlice reads one table of one slice back whole, with the table's Arrow
// schema; errors.Is(err, ErrNotFound) when the slice has no file. It holds
// the file and the table in memory: it is meant for tests, trends and
// verification, not for scanning the warehouse.
func (w *Warehouse) ReadSlice(ctx context.Context, table *schemas.Table, key schemas.Key) (arrow.Table, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	k := w.prefix + partKey(table.Name, key)
	// One request for the whole object: on a remote bucket that beats a
	// range request per column chunk.
	data, err := w.bucket.ReadAll(ctx, k)
	if err != nil {
		return nil, blobError("read", k, err)
	}
	mem := memory.DefaultAllocator
	got, err := pqarrow.ReadTable(ctx, bytes.NewReader(data), parquet.NewReaderProperties(mem), pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		return nil, fmt.Errorf("load: read Parquet %s: %w", k, err)
	}
	defer got.Release()
	return conform(table, got, k)
}

// conform returns got with the table's schema, after checking that the
// columns are the table's. The file's own schema differs only in what does
// not survive Parquet (list element names, metadata).
func conform(table *schemas.Table, got arrow.Table, key string) (arrow.Table, error) {
	want := table.Arrow()
	if int(got.NumCols()) != want.NumFields() {
		return nil, fmt.Errorf("load: %s has %d columns, but %s (schema version %s) has %d", key, got.NumCols(), table.Name, schemas.Version, want.NumFields())
	}
	cols := make([]arrow.Column, want.NumFields())
	for i, f := range want.Fields() {
		gf := got.Schema().Field(i)
		if gf.Name != f.Name || !arrow.TypeEqual(gf.Type, f.Type) {
			return nil, fmt.Errorf("load: %s: column %d is %s %s, but %s (schema version %s) has %s %s", key, i, gf.Name, gf.Type, table.Name, schemas.Version, f.Name, f.Type)
		}
		cols[i] = *arrow.NewColumn(f, got.Column(i).Data())
	}
	t := array.NewTable(want, cols, got.NumRows())
	for i := range cols {
		cols[i].Release()
	}
	return t, nil
}
