// Package cookbook holds no code of credreg: it is the test-only module
// that runs every DuckDB query of docs/queries.md against a warehouse of
// real snapshots, so that a query in the cookbook cannot rot unnoticed.
// It is a module of its own because DuckDB needs cgo and the product
// binary must not carry it.
package cookbook
