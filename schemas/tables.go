package schemas

import (
	"github.com/apache/arrow-go/v18/arrow"
)

// Version is the schema version written into every manifest and Parquet
// file. Bump it on any change to a table's columns, types or meaning.
// TestSchemaGolden enforces this against testdata/schema.golden.json:
// after a bump, refresh it with `go test ./schemas -run TestSchemaGolden -update`.
const Version = "5"

// Column is one column of a table, defined once for every target.
type Column struct {
	Name        string
	Type        arrow.DataType
	Nullable    bool
	Description string
}

// Table is one warehouse table.
type Table struct {
	Name        string
	Description string
	Columns     []Column
	// Clustering lists BigQuery clustering columns, after the day partition
	// on snapshot_date.
	Clustering []string

	schema *arrow.Schema
}

// Arrow returns the table's Arrow schema, with the schema version in its
// metadata so every Parquet file says which version wrote it.
func (t *Table) Arrow() *arrow.Schema { return t.schema }

// Column names of the partition keys every table carries.
const (
	ColSnapshotDate = "snapshot_date"
	ColTenantID     = "tenant_id"
)

var (
	tsUTC      = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	str        = arrow.BinaryTypes.String
	boolean    = arrow.FixedWidthTypes.Boolean
	int64Type  = arrow.PrimitiveTypes.Int64
	float64T   = arrow.PrimitiveTypes.Float64
	date32     = arrow.FixedWidthTypes.Date32
	stringList = arrow.ListOf(arrow.BinaryTypes.String)
)

func keyColumns() []Column {
	return []Column{
		{Name: ColSnapshotDate, Type: date32, Description: "Day of the snapshot (UTC)."},
		{Name: ColTenantID, Type: str, Description: "Entra tenant id."},
	}
}

func newTable(name, desc string, clustering []string, cols ...Column) *Table {
	t := &Table{Name: name, Description: desc, Columns: append(keyColumns(), cols...), Clustering: clustering}
	fields := make([]arrow.Field, len(t.Columns))
	for i, c := range t.Columns {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type, Nullable: c.Nullable}
	}
	md := arrow.NewMetadata([]string{"credreg.table", "credreg.schema_version"}, []string{name, Version})
	t.schema = arrow.NewSchema(fields, &md)
	return t
}

const (
	sourceDesc = "Report the row came from: userRegistrationDetails or credentialUserRegistrationDetails."
	runIDDesc  = "Id of the run that wrote the slice (the manifest's run_id)."
)

// UserRegistrationDetailsTable: one row per user per snapshot. Its columns
// are UserFields'.
var UserRegistrationDetailsTable = newTable("user_registration_details",
	"One row per user per snapshot, from either report; booleans a report lacks are NULL.",
	[]string{ColTenantID, "user_id"}, userColumns()...)

// UserAuthMethodsTable: one row per (user, registered method) per snapshot.
var UserAuthMethodsTable = newTable("user_auth_methods",
	"The registered methods exploded: one row per user and method per snapshot.",
	[]string{ColTenantID, "method_family", "user_id"},
	Column{Name: "user_id", Type: str, Description: "User object id, as in user_registration_details."},
	Column{Name: "user_principal_name", Type: str, Description: "userPrincipalName: the sign-in name."},
	Column{Name: "source", Type: str, Description: sourceDesc},
	Column{Name: "auth_method", Type: str, Description: "The value exactly as Graph sent it."},
	Column{Name: "method_family", Type: str, Description: "One vocabulary across both reports; unknown for values the catalog lacks."},
	Column{Name: "usable_for_mfa", Type: boolean, Description: "The method can satisfy a second factor (credreg's catalog)."},
	Column{Name: "usable_for_sspr", Type: boolean, Description: "The method can verify a self-service password reset (credreg's catalog)."},
	Column{Name: "is_known_value", Type: boolean, Description: "False for a value the catalog does not know: kept, flagged and counted."},
	Column{Name: "run_id", Type: str, Description: runIDDesc},
)

// RejectedRecordsTable: quarantined records with the reason.
var RejectedRecordsTable = newTable("rejected_records",
	"Records that failed the data contract, with the reason and the raw JSON.",
	[]string{ColTenantID, "reason_code"},
	Column{Name: "source", Type: str, Description: sourceDesc},
	Column{Name: "page_seq", Type: int64Type, Description: "1-based number of the page in the run (see the raw zone)."},
	Column{Name: "record_index", Type: int64Type, Description: "0-based index of the record in the page's value array."},
	Column{Name: "reason_code", Type: str, Description: "Why the record was rejected, one word (invalid_json, missing_id, duplicate_id, …)."},
	Column{Name: "reason_detail", Type: str, Description: "The reason for people: which field, what was wrong."},
	Column{Name: "user_id", Type: str, Nullable: true, Description: "The record's id when one could be read."},
	Column{Name: "raw_json", Type: str, Description: "The record exactly as received."},
	Column{Name: "run_id", Type: str, Description: runIDDesc},
)

// Tables lists every table in load order.
var Tables = []*Table{UserRegistrationDetailsTable, UserAuthMethodsTable, RejectedRecordsTable,
	RegistrationDailySummaryTable, RegistrationChangesTable}

// TableByName finds a table by its name.
func TableByName(name string) (*Table, bool) {
	for _, t := range Tables {
		if t.Name == name {
			return t, true
		}
	}
	return nil, false
}
