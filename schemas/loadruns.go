package schemas

import "slices"

// LoadRunsTable is BigQuery's record of every slice it loaded: one row per
// run and tenant, written in the same transaction that swaps the slice's
// rows, so a slice's rows and the manifest describing them land together.
// It exists only in BigQuery; the Parquet warehouse keeps its manifests as
// JSON files under _manifests instead.
var LoadRunsTable = newTable("load_runs",
	"One row per credreg run and tenant loaded into BigQuery: the run's manifest, with its main fields as columns.",
	[]string{ColTenantID},
	Column{Name: "run_id", Type: str, Description: "Id of the run that wrote the slice (the manifest's run_id)."},
	Column{Name: "status", Type: str, Description: "The manifest's status: published for a slice in the warehouse."},
	Column{Name: "endpoint", Type: str, Description: "Report the slice was read from: userRegistrationDetails or credentialUserRegistrationDetails."},
	Column{Name: "started_at", Type: tsUTC, Nullable: true, Description: "When the run started reading the slice (UTC)."},
	Column{Name: "finished_at", Type: tsUTC, Nullable: true, Description: "When the run finished writing the slice's Parquet files (UTC)."},
	Column{Name: "users", Type: int64Type, Description: "Rows of user_registration_details in the slice."},
	Column{Name: "methods", Type: int64Type, Description: "Rows of user_auth_methods in the slice."},
	Column{Name: "rejected", Type: int64Type, Description: "Rows of rejected_records in the slice."},
	Column{Name: "schema_version", Type: str, Description: "credreg's schema version that wrote the slice."},
	Column{Name: "build", Type: str, Nullable: true, Description: "The credreg build that wrote the slice: the manifest's build object as JSON."},
	Column{Name: "replayed_from_run_id", Type: str, Nullable: true, Description: "For a slice rebuilt from the raw zone (backfill, import): the raw run it was rebuilt from; NULL for a slice read from Graph."},
	Column{Name: "loaded_at", Type: tsUTC, Description: "When credreg committed the slice to BigQuery (UTC)."},
	Column{Name: "manifest_json", Type: str, Description: "The slice's whole manifest, as JSON."},
)

// BigQueryTables lists every BigQuery table: the Parquet tables, in load
// order, then load_runs.
func BigQueryTables() []*Table {
	return append(slices.Clone(Tables), LoadRunsTable)
}
