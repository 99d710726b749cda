// Package load is credreg's Parquet sink: it writes the three tables of one
// snapshot slice — a (snapshot date, tenant) pair — to a warehouse on any
// gocloud blob URL (file://, gs://, mem://) or a local folder, and reads
// slices back.
//
// # Layout
//
//	<warehouse>/<table>/snapshot_date=YYYY-MM-DD/tenant_id=<tid>/part-00000.parquet
//	<warehouse>/_manifests/snapshot_date=YYYY-MM-DD/tenant_id=<tid>.json
//
// Every table gets exactly one file per slice, even when it has no rows, so
// a rerun replaces the previous file whole and never leaves a stale part.
//
// # Atomic publish
//
// [Warehouse.Begin] opens one blob writer per table at the file's final
// key, under a context that [SliceWriter.Abort] cancels. gocloud publishes a
// blob only when its writer is closed and discards it when that context is
// cancelled, so until [SliceWriter.Commit] nothing is visible and the
// previous snapshot is untouched. A local warehouse writes each file to a
// temporary sibling named part-00000.parquet.<hex>.tmp (which no
// *.parquet glob matches) and renames it into place, which replaces the old
// file atomically; Abort removes the temporary file.
//
// Commit first finishes all three Parquet files, then publishes them one
// after the other. Each file is replaced atomically, but the three are not
// one transaction: a reader that needs the complete set reads the manifest,
// which the caller writes last with [Warehouse.WriteManifest] from the
// [FileInfo] values Commit returns (sizes and sha256 of what was published).
//
// Always pair Begin with a deferred Abort: it is a no-op after a successful
// Commit, and on a local warehouse it is what removes the temporary files of
// a run that failed or was cancelled.
//
// # Parquet
//
// Files are zstd-compressed with dictionary encoding and statistics on, and
// carry the Arrow schema (so timestamps read back as UTC), the schema
// version and the run id in their key-value metadata. Timestamps are
// TIMESTAMP(isAdjustedToUTC=true, MICROS) and snapshot_date is DATE. Batches
// are buffered into row groups of up to [DefaultRowGroupRows] rows (or
// [WriterOptions.RowGroupRows]) so that many small batches make one row
// group of the size BigQuery reads well; a row group is also cut once its
// encoded size passes 128 MiB, which bounds memory whatever the rows hold.
//
// # Errors
//
// Errors from the blob store are wrapped with %w and name the object key;
// an object that does not exist is reported as [ErrNotFound]
// (errors.Is). Arguments that cannot be right — a tenant id that would
// escape its directory, a batch whose schema is not the table's, a row of
// another slice — are reported before anything is written.
package load
