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
// [Warehouse.Begin] stages one file per table where no reader looks, and
// [SliceWriter.Commit] publishes them, each an atomic replace of the
// previous file, so until Commit nothing is visible and the previous
// snapshot is untouched:
//
//   - on a local warehouse (a folder or a file:// URL), each file is
//     written to <warehouse>/_staging/<run>-<table>-<hex>.parquet.tmp,
//     synced, and renamed onto its part file. The staging folder is inside
//     the warehouse, so the rename never crosses a filesystem. Nothing
//     partial ever sits inside a partition, where Spark or Hive — which
//     skip only names starting with _ or . — would read it; a process
//     killed mid-write leaves only a file in _staging, which a later Begin
//     removes once it is an hour old (a live slice keeps its own fresh);
//   - on other buckets (gs://, mem://), each file is a blob writer at its
//     final key: gocloud publishes the object when the writer is closed and
//     discards it when the writer's context is cancelled first.
//
// The writers' context does not derive its cancellation from the ctx given
// to Begin: only Abort, or a failed Commit, cancels it. So a signal that
// cancels the caller's context while Commit publishes cannot leave a slice
// half new, half old: Commit checks its ctx once before publishing, and
// once the first file is out it publishes the rest. The price is that the
// caller must end every slice with Commit or Abort.
//
// Commit first finishes all three Parquet files, then publishes them one
// after the other. Each file is replaced atomically, but the three are not
// one transaction: a reader that needs the complete set reads the manifest,
// which the caller writes last with [Warehouse.WriteManifest] from the
// [FileInfo] values Commit returns (sizes and sha256 of what was published).
// Manifests go through the bucket, under _manifests, which readers skip.
//
// Always pair Begin with a deferred Abort: it is a no-op after a successful
// Commit, and it is what discards the staged files of a run that failed or
// was cancelled.
//
// # Sub-warehouses
//
// [Warehouse.Sub] gives a warehouse rooted at <warehouse>/<prefix>/, such
// as _failed/run_id=<run>, where the pipeline keeps for inspection the
// slice and manifest of a run that breached the data contract. It does
// everything a warehouse does, with the same layout under the prefix and
// the same staging and atomic publish, and creates, replaces and removes
// nothing outside the prefix: a local Sub stages in
// <warehouse>/<prefix>/_staging, and its Begin sweeps only that folder and
// its own partitions, as the parent's Begin sweeps only the parent's.
// FileInfo paths are relative to the Sub, and its String is the parent's
// with the prefix added, so it shows no credentials either. The prefix is
// checked: relative, no empty, "." or ".." segment, and a first segment
// that starts with "_" (so that readers of the parent skip it) and is
// neither _staging nor _manifests. A Sub shares its parent's bucket: its
// Close is a no-op, and closing the parent ends it.
//
// # Checking that a run can write
//
// [Warehouse.CheckWritable] proves, before a run asks Graph for anything,
// that it will be able to publish: on a local warehouse it creates the
// folder and _staging if missing, then creates, renames and removes a
// file in _staging; on a bucket it writes and deletes a small object under
// _staging/. It leaves no file behind. Its error is one line naming the
// warehouse, the step and the cause, and wraps [ErrNotWritable].
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
// (errors.Is), and a warehouse CheckWritable cannot write as
// [ErrNotWritable]. Errors name a warehouse as String does, never with
// the credentials its URL may hold. Arguments that cannot be right — a
// tenant id that would escape its directory, a batch whose schema is not
// the table's, a row of another slice, a Sub prefix that would leave its
// folder — are reported before anything is written.
package load
