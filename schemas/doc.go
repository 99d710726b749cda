// Package schemas holds the one definition of every credreg table: the Go
// row types, the Arrow schema written to Parquet (also in Arrow's JSON
// integration form, for other tools), the BigQuery schema, and the schema
// version recorded in every manifest. [Tables] are the tables of a slice,
// in Parquet and BigQuery alike; [BigQueryTables] adds load_runs, which only
// BigQuery has (one row per loaded run and tenant, holding its manifest). It also holds the catalog
// of authentication-method values (value → family, usable for MFA / SSPR)
// and the names of the two Graph report endpoints.
//
// Everything here is data; nothing performs I/O and nothing returns errors
// except the row appenders, which panic only on a programming error (a row
// appended to the builder of another table).
package schemas
