// Package bqtest tests package bq against goccy/bigquery-emulator, run in
// the test process, and fake-gcs-server. It is a module of its own so that
// no other package links the emulator, which is heavy to build (minutes,
// gigabytes) and has no place in the product binary.
//
// What the emulator models faithfully, for these tests: datasets and
// tables (tables.insert, get, patch, delete), load jobs of Parquet
// uploaded with the job or read from gs:// (through STORAGE_EMULATOR_HOST)
// with the schema sent along (DATE, UTC TIMESTAMP, nullable BOOL,
// LIST<STRING> as REPEATED), jobs.get of a job id, and query jobs with
// parameters, DML and multi-statement scripts.
//
// What it simplifies or ignores, and how the tests make up for it:
//   - Partitioning, clustering, descriptions and table expiration are
//     stored as metadata but mean nothing; the tests check the requests the
//     client sends instead (a recording proxy in front of the emulator).
//   - BEGIN/COMMIT TRANSACTION are accepted and ignored: a script job runs
//     in one SQLite transaction of the emulator's. So a transaction is
//     never cancelled by a concurrent one there, and the tests inject
//     that error at the commit step (Config.BeforeCommit).
//   - A schema patch changes the table's metadata, not the columns its
//     SQL sees: a column added by Ensure shows in the table's schema, but
//     the emulator cannot store values in it.
//   - A load job whose id is taken fails with an internal error (500)
//     instead of BigQuery's 409, and a gs:// load reads the data before it
//     checks the id; package bq looks a job id up before inserting, which
//     is what the tests exercise.
//   - Load statistics (output rows) are not reported.
package bqtest
