// Package schemas holds the one definition of every credreg table: the Go
// row types, the Arrow schema written to Parquet (also in Arrow's JSON
// integration form, for other tools), the BigQuery schema, and the schema
// version recorded in every manifest. It also holds the catalog
// of authentication-method values (value → family, usable for MFA / SSPR)
// and the names of the two Graph report endpoints.
//
// Everything here is data; nothing performs I/O and nothing returns errors
// except the row appenders, which panic only on a programming error (a row
// appended to the builder of another table).
package schemas
