package cookbook

import (
	"database/sql"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// openDuckDB is an in-memory DuckDB: the queries read the warehouse's files.
func openDuckDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// row is one result row by column name, values normalized by norm.
type row map[string]any

// query runs q and returns its rows.
func query(db *sql.DB, q string, args ...any) ([]string, []row, error) {
	rs, err := db.Query(q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return nil, nil, err
	}
	var out []row
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		r := row{}
		for i, c := range cols {
			r[c] = norm(vals[i])
		}
		out = append(out, r)
	}
	return cols, out, rs.Err()
}

// mustQuery is query that fails the test on error.
func mustQuery(t *testing.T, db *sql.DB, q string, args ...any) []row {
	t.Helper()
	_, rows, err := query(db, q, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	return rows
}

// norm gives every integer as int64, every float as float64 and a date as
// YYYY-MM-DD, so that values from two queries compare with ==.
func norm(v any) any {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	case *big.Int:
		return x.Int64()
	case float32:
		return float64(x)
	case time.Time:
		if x.Equal(x.Truncate(24 * time.Hour)) {
			return x.UTC().Format(time.DateOnly)
		}
		return x.UTC()
	}
	return v
}

// same compares two normalized values; floats within a rounding error.
func same(a, b any) bool {
	fa, aok := a.(float64)
	fb, bok := b.(float64)
	if aok && bok {
		d := fa - fb
		return d < 1e-9 && d > -1e-9
	}
	return a == b
}

// table is the read_parquet of one table of the warehouse, as the doc
// writes it.
func table(dir, name string) string {
	return fmt.Sprintf("read_parquet('%s/%s/*/*/*.parquet', hive_partitioning = true)", strings.ReplaceAll(dir, "'", "''"), name)
}
