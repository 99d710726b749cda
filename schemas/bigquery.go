package schemas

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// BigQueryField is one field of a BigQuery table schema in the JSON form
// that `bq mk --schema` and the API accept.
type BigQueryField struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Mode        string `json:"mode"`
	Description string `json:"description,omitempty"`
}

// BigQuery returns the table's BigQuery schema. A list column becomes a
// REPEATED field, which is what a Parquet load with list inference makes of it.
func (t *Table) BigQuery() []BigQueryField {
	out := make([]BigQueryField, len(t.Columns))
	for i, c := range t.Columns {
		typ := c.Type
		mode := "REQUIRED"
		if c.Nullable {
			mode = "NULLABLE"
		}
		if l, ok := typ.(*arrow.ListType); ok {
			typ, mode = l.Elem(), "REPEATED"
		}
		out[i] = BigQueryField{Name: c.Name, Type: bigQueryType(typ), Mode: mode, Description: c.Description}
	}
	return out
}

// BigQueryTable is a table's BigQuery definition: its schema, the DATE
// column it is day-partitioned on, and its clustering columns.
type BigQueryTable struct {
	Fields       []BigQueryField `json:"fields"`
	Partitioning string          `json:"partitioning"`
	Clustering   []string        `json:"clustering"`
}

// BigQueryTable returns the table's BigQuery definition.
func (t *Table) BigQueryTable() BigQueryTable {
	return BigQueryTable{Fields: t.BigQuery(), Partitioning: ColSnapshotDate, Clustering: t.Clustering}
}

func bigQueryType(t arrow.DataType) string {
	switch t.ID() {
	case arrow.STRING:
		return "STRING"
	case arrow.BOOL:
		return "BOOLEAN"
	case arrow.INT64:
		return "INTEGER"
	case arrow.FLOAT64:
		return "FLOAT"
	case arrow.DATE32:
		return "DATE"
	case arrow.TIMESTAMP:
		return "TIMESTAMP"
	}
	panic(fmt.Sprintf("schemas: no BigQuery type for Arrow %s", t))
}
