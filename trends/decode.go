package trends

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/credreg/credreg/schemas"
)

// Day is one row of registration_daily_summary: one tenant's day. Its
// values are read by column name, so a column added to the summary shows
// up in CSV and JSON without an edit here.
type Day struct {
	Date   time.Time
	Tenant string
	values map[string]any // int64, float64 or string; nil or absent: NULL
}

// Value is the column's value: int64, float64, string, or nil for NULL.
func (d *Day) Value(col string) any { return d.values[col] }

// Int is an integer column's value; false when NULL.
func (d *Day) Int(col string) (int64, bool) {
	v, ok := d.values[col].(int64)
	return v, ok
}

// Float is a float column's value (a share, 0 to 1); false when NULL.
func (d *Day) Float(col string) (float64, bool) {
	v, ok := d.values[col].(float64)
	return v, ok
}

// Users is the number of users in the snapshot.
func (d *Day) Users() int64 { v, _ := d.Int("users"); return v }

// SummaryColumns are the columns of registration_daily_summary after the
// two keys, in the table's order: what CSV and JSON print.
func SummaryColumns() []string {
	var out []string
	for _, c := range schemas.RegistrationDailySummaryTable.Columns[2:] {
		out = append(out, c.Name)
	}
	return out
}

// decodeSummary turns a summary file into Days.
func decodeSummary(tbl arrow.Table) ([]*Day, error) {
	var out []*Day
	err := eachRecord(tbl, func(rec arrow.RecordBatch) error {
		names := rec.Schema().Fields()
		for i := range int(rec.NumRows()) {
			d := &Day{values: make(map[string]any, len(names))}
			for c, f := range names {
				v, err := cell(rec.Column(c), i)
				if err != nil {
					return fmt.Errorf("column %s: %w", f.Name, err)
				}
				switch f.Name {
				case schemas.ColSnapshotDate:
					t, _ := v.(time.Time)
					d.Date = t
				case schemas.ColTenantID:
					s, _ := v.(string)
					d.Tenant = s
				default:
					d.values[f.Name] = v
				}
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// eachRecord calls fn with each record batch of tbl.
func eachRecord(tbl arrow.Table, fn func(rec arrow.RecordBatch) error) error {
	r := array.NewTableReader(tbl, 0)
	defer r.Release()
	for r.Next() {
		if err := fn(r.RecordBatch()); err != nil {
			return err
		}
	}
	return r.Err()
}

// cell is the value at row i: int64, float64, string, bool, a UTC day for
// a date, or nil for NULL.
func cell(a arrow.Array, i int) (any, error) {
	if a.IsNull(i) {
		return nil, nil
	}
	switch a := a.(type) {
	case *array.Int64:
		return a.Value(i), nil
	case *array.Float64:
		return a.Value(i), nil
	case *array.String:
		return a.Value(i), nil
	case *array.Boolean:
		return a.Value(i), nil
	case *array.Date32:
		return a.Value(i).ToTime().UTC(), nil
	}
	return nil, fmt.Errorf("type %s is not read by trends", a.DataType())
}

// columns finds the named columns of a record; an error names the one
// missing.
func columns(rec arrow.RecordBatch, names ...string) ([]arrow.Array, error) {
	out := make([]arrow.Array, len(names))
	for i, n := range names {
		idx := rec.Schema().FieldIndices(n)
		if len(idx) == 0 {
			return nil, fmt.Errorf("no column %s", n)
		}
		out[i] = rec.Column(idx[0])
	}
	return out, nil
}
