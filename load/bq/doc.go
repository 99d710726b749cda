// Package bq is credreg's BigQuery sink: it loads the slices the Parquet
// warehouse published — a (snapshot date, tenant) pair — into day-
// partitioned, clustered BigQuery tables defined by package schemas, so
// that readers see each slice whole, old or new, never half of each.
//
// # Tables
//
// [Sink.Ensure] creates the dataset (in [Config.Location]) and every table
// of schemas.BigQueryTables() when missing: the slice's tables, partitioned
// by day on snapshot_date and clustered per schemas (tenant_id first), and
// load_runs, one row per loaded run and tenant holding its manifest. The
// schemas, with their column descriptions, are the Parquet ones seen by
// BigQuery (schemas checks it). An existing table that lacks a new NULLABLE
// column gets it; descriptions that changed are updated; any other
// difference — a type, a mode, a column credreg no longer has — is an
// [*IncompatibleError] naming table, column and what to do, reported for
// every such column before anything is changed.
//
// Ensure also keeps two views of the common questions (docs/queries.md):
// latest_user_registration_details, each tenant's newest snapshot, and
// weekly_mfa_share, the MFA-registered share per tenant and ISO week as of
// the week's last snapshot. A missing view is created, one whose query or
// description differs from this version's is updated in place, and a
// table of that name that is not a view is an error.
//
// # Loads
//
// [Sink.LoadSlice] loads each table's Parquet file with a load job (free,
// unlike streaming inserts or DML over the data) into a staging table of
// its own, from the gs:// object when the warehouse is on GCS, else
// uploaded with the job. The schema goes with every job, so BigQuery never
// infers a type. Tables load in parallel; tenants too, when the caller
// loads several slices at once.
//
// A load job's id is derived from (table, date, tenant, run id): a run
// retried after a crash or a lost response finds the id taken and attaches
// to that job rather than loading again. When that job's staging table is
// gone (dropped after a failed swap) the next id of the same sequence
// (…_2, …_3) loads again; a staging table is written with WRITE_TRUNCATE,
// so loading it twice never doubles a row anyway. Swap transactions have
// deterministic ids as well (…_1, …_2 per attempt): a run tried again
// after its swap committed finds that job and does nothing more.
//
// # The swap
//
// One multi-statement transaction then deletes the slice from every table
// of schemas.Tables, inserts the staging tables' rows (a table with no file
// is left empty for the slice) and appends the load_runs row: readers see
// the whole old slice or the whole new one, and load_runs always describes
// the rows beside it. Its values are SQL literals built by this package
// alone (strings escaped to plain ASCII), so the manifest must stay under
// BigQuery's 1 MB limit on a query's text, which a manifest is far from.
// The DELETE filters on snapshot_date, so the DML,
// the only billed step, touches one partition. Staging tables are dropped
// afterwards, whatever happened, and carry an expiration
// ([Config.StagingExpiration]) for a process killed in between.
//
// BigQuery cancels a transaction when another one modifies the same table
// meanwhile. Within a process the Sink is the one committer: swaps run one
// at a time while staging loads run in parallel. A swap cancelled by
// another process (workers of a scaled-out job loading other tenants) is
// rolled back whole by BigQuery and retried with backoff
// ([Config.CommitAttempts], [Config.CommitBackoff]); out of attempts, the
// error wraps [ErrConcurrentTransaction].
//
// # Partition decorators: not used
//
// A load job with WRITE_TRUNCATE into table$YYYYMMDD replaces a whole day
// in one job with no DML at all, and so costs nothing. But a day's
// partition holds every tenant of that day: it is right only for a run
// that covers all of a date's tenants, which the sink cannot know (a
// worker of a sharded job, a rerun of one tenant), it swaps each table
// separately (a reader can see users new and methods old) and cannot write
// load_runs in the same step. The transaction is therefore always used;
// its DML is billed for the one partition it touches, which for credreg's
// tables is small. A run that does cover a whole date pays the same.
//
// # Errors
//
// Errors name the dataset as bigquery://project/dataset and the slice,
// and wrap the client's (*googleapi.Error, *bigquery.Error) with %w. A
// swap that failed, however, leaves the previous slice as it was: nothing
// is visible until the transaction commits.
//
// # Credentials and endpoints
//
// The client finds credentials the Google way (Application Default
// Credentials: GOOGLE_APPLICATION_CREDENTIALS, workload identity, the
// metadata server). [Config.Endpoint] or, when that is empty,
// BIGQUERY_EMULATOR_HOST (host:port) points it at an emulator over plain
// HTTP, with no credentials.
package bq
