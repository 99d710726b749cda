package bq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/iterator"

	"github.com/credreg/credreg/schemas"
)

// LoadedRuns returns, for every slice of the days from..to (both included)
// that the dataset holds, the run id of its latest load_runs row: the run
// whose rows the slice's tables hold, since the row is appended in the
// transaction that swaps them in. It is BigQuery's own record of what it
// has, which a dropped, recreated or truncated dataset empties. One query,
// pruned to the range's partitions.
func (s *Sink) LoadedRuns(ctx context.Context, from, to time.Time) (map[schemas.Key]string, error) {
	if err := s.locate(ctx); isNotFound(err) {
		return map[schemas.Key]string{}, nil
	} else if err != nil {
		return nil, err
	}
	q := s.client.Query(fmt.Sprintf("SELECT %s, %s, run_id, loaded_at FROM %s WHERE %s BETWEEN @from AND @to",
		schemas.ColSnapshotDate, schemas.ColTenantID, s.tableRef(schemas.LoadRunsTable.Name), schemas.ColSnapshotDate))
	q.Parameters = []bigquery.QueryParameter{
		{Name: "from", Value: civil.DateOf(from.UTC())},
		{Name: "to", Value: civil.DateOf(to.UTC())},
	}
	it, err := q.Read(ctx)
	if isNotFound(err) {
		return map[schemas.Key]string{}, nil // no dataset or no table yet: nothing loaded
	}
	if err != nil {
		return nil, fmt.Errorf("bq: read load_runs of %s: %w", s, err)
	}
	type latest struct {
		run string
		at  time.Time
	}
	runs := map[schemas.Key]latest{}
	for {
		var row struct {
			Date     civil.Date `bigquery:"snapshot_date"`
			Tenant   string     `bigquery:"tenant_id"`
			RunID    string     `bigquery:"run_id"`
			LoadedAt time.Time  `bigquery:"loaded_at"`
		}
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("bq: read load_runs of %s: %w", s, err)
		}
		key := schemas.Key{Date: row.Date.In(time.UTC), Tenant: row.Tenant}
		if cur, ok := runs[key]; !ok || row.LoadedAt.After(cur.at) {
			runs[key] = latest{row.RunID, row.LoadedAt}
		}
	}
	out := make(map[schemas.Key]string, len(runs))
	for k, v := range runs {
		out[k] = v.run
	}
	return out, nil
}
