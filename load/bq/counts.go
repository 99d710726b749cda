package bq

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/api/iterator"

	"github.com/credreg/credreg/schemas"
)

// SliceCounts returns COUNT(*) per table of schemas.BigQueryTables() (the
// slice's tables and load_runs) for one slice, for tests and checks. It is
// one query, pruned to the slice's partition.
func (s *Sink) SliceCounts(ctx context.Context, key schemas.Key) (map[string]int64, error) {
	if err := s.locate(ctx); err != nil {
		return nil, err
	}
	var parts []string
	for _, t := range schemas.BigQueryTables() {
		parts = append(parts, fmt.Sprintf("SELECT '%s' AS table_name, COUNT(*) AS n FROM %s WHERE %s = @%s AND %s = @%s",
			t.Name, s.tableRef(t.Name), schemas.ColSnapshotDate, schemas.ColSnapshotDate, schemas.ColTenantID, schemas.ColTenantID))
	}
	q := s.client.Query(strings.Join(parts, "\nUNION ALL\n"))
	q.Parameters = keyParams(key)
	it, err := q.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("bq: count the rows of %s %s in %s: %w", key.DateString(), key.Tenant, s, err)
	}
	out := map[string]int64{}
	for {
		var row struct {
			Table string `bigquery:"table_name"`
			N     int64  `bigquery:"n"`
		}
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("bq: count the rows of %s %s in %s: %w", key.DateString(), key.Tenant, s, err)
		}
		out[row.Table] = row.N
	}
}
