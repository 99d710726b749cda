// Package pipeline runs credreg: for one snapshot date and tenant it pages
// through the Graph report (extract), lands every page in the raw zone,
// turns pages into rows (transform), streams Arrow batches into a sink
// (load), and publishes the slice atomically with a run manifest.
//
// Contract: RunTenant either publishes the whole slice and its manifest and
// returns the manifest, or returns an error and leaves the previously
// published slice untouched. A cancelled context stops every goroutine and
// aborts the sink. Errors wrap the package errors of extract, transform and
// load, so callers test them with errors.Is / errors.As.
//
// pipeline owns the small interfaces it consumes (Sink, SliceWriter); the
// packages it wires return concrete types.
package pipeline
