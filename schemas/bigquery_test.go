package schemas

import (
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// Every BigQuery table must be the Arrow table seen through BigQuery's
// eyes: the Parquet files are loaded into it with this schema sent along,
// so a name, type or mode that differs would fail the load or, worse,
// load a column as something else. The type map is the test's own, not
// bigQueryType's.
func TestBigQueryDerivedFromArrow(t *testing.T) {
	bqType := map[arrow.Type]string{
		arrow.STRING: "STRING", arrow.BOOL: "BOOLEAN", arrow.INT64: "INTEGER",
		arrow.DATE32: "DATE", arrow.TIMESTAMP: "TIMESTAMP", arrow.FLOAT64: "FLOAT",
	}
	for _, tab := range BigQueryTables() {
		t.Run(tab.Name, func(t *testing.T) {
			fields, arrowFields := tab.BigQuery(), tab.Arrow().Fields()
			if len(fields) != len(arrowFields) || len(fields) != len(tab.Columns) {
				t.Fatalf("%d BigQuery fields, %d Arrow fields, %d columns", len(fields), len(arrowFields), len(tab.Columns))
			}
			for i, af := range arrowFields {
				f := fields[i]
				typ, mode := af.Type, "REQUIRED"
				if af.Nullable {
					mode = "NULLABLE"
				}
				if l, ok := typ.(*arrow.ListType); ok {
					typ, mode = l.Elem(), "REPEATED"
				}
				want := BigQueryField{Name: af.Name, Type: bqType[typ.ID()], Mode: mode, Description: tab.Columns[i].Description}
				if f != want {
					t.Errorf("field %d is %+v, want %+v (from Arrow %s)", i, f, want, af)
				}
				if f.Description == "" {
					t.Errorf("column %s has no description; BigQuery users read them", af.Name)
				}
			}
			def := tab.BigQueryTable()
			if def.Partitioning != "snapshot_date" || fields[0].Name != "snapshot_date" || fields[0].Type != "DATE" || fields[0].Mode != "REQUIRED" {
				t.Errorf("partitioning %q on %+v, want the REQUIRED DATE snapshot_date", def.Partitioning, fields[0])
			}
			if len(def.Clustering) == 0 || def.Clustering[0] != "tenant_id" {
				t.Errorf("clustering %v, want tenant_id first", def.Clustering)
			}
			for _, c := range def.Clustering {
				if !slices.ContainsFunc(fields, func(f BigQueryField) bool { return f.Name == c && f.Mode != "REPEATED" }) {
					t.Errorf("clustering column %s is not a scalar column of the table", c)
				}
			}
		})
	}
}

// load_runs is BigQuery's only: not among the Parquet tables, but among
// BigQuery's, and recorded in the golden file like the others.
func TestLoadRunsIsBigQueryOnly(t *testing.T) {
	var bq []string
	for _, tab := range BigQueryTables() {
		bq = append(bq, tab.Name)
	}
	want := []string{"user_registration_details", "user_auth_methods", "rejected_records",
		"registration_daily_summary", "registration_changes", "load_runs"}
	if !slices.Equal(bq, want) {
		t.Errorf("BigQueryTables() = %v, want %v", bq, want)
	}
	if _, ok := TableByName("load_runs"); ok || slices.Contains(Tables, LoadRunsTable) {
		t.Error("load_runs is among the Parquet tables")
	}
	if _, ok := currentDoc().Tables["load_runs"]; !ok {
		t.Error("the golden file does not record load_runs")
	}
	if got := LoadRunsTable.BigQueryTable().Clustering; !slices.Equal(got, []string{"tenant_id"}) {
		t.Errorf("load_runs clustering %v", got)
	}
}
