// Package load is credreg's Parquet sink: it writes the three tables of one
// snapshot slice — a (snapshot date, tenant) pair — to a warehouse on any
// gocloud blob URL (file://, gs://, azblob://, mem://) or a local folder, and reads
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
// # One writer per slice
//
// [Warehouse.Begin] takes the slice's lease before it stages anything and
// holds it until Commit or Abort, so two processes — two nightly jobs, a
// run and a backfill, workers of one job — never write the same slice at
// once, and the second is refused before it asks Graph for anything. The
// refusal is a [*LeaseHeldError] (errors.Is [ErrLeaseHeld]) naming the
// slice and the holder (host, pid, run id, since when) on one line;
// [WriterOptions.LockWait] makes Begin wait for the lease instead.
// [Warehouse.Lease] takes one for commands that rewrite a slice without a
// SliceWriter.
//
//   - On a local warehouse a lease is an exclusive lock (flock) on
//     <warehouse>/_leases/<date>_<tenant>.lock, which holds the holder's
//     record; the OS drops the lock when its process dies, so a crash never
//     strands a slice. Lock files are never removed (removing one would let
//     two writers lock two different files).
//   - On other buckets it is the object _leases/<date>_<tenant>.json,
//     created only if absent, with the holder's record and an expiry
//     ([DefaultLeaseTimeout]), renewed every third of it. One whose expiry
//     passed is stale: its holder is gone, and the next writer takes it
//     over. A holder whose lease was taken over learns it at its next
//     renewal, and Commit then refuses to publish.
//   - On gs:// and azblob:// each of those steps is one request
//     conditional on the object's version (its generation on GCS, its
//     ETag on Azure): creation only if absent, takeover only of the stale
//     version read, renewal only of the version the holder last wrote,
//     release (a delete) only of that version. So of two
//     writers taking over one stale lease exactly one wins, a lease
//     renewed in time cannot be taken over, and neither a late renewal
//     nor a late release touches the lease of the writer that took over.
//   - Other buckets (mem://, which is one process anyway) have no
//     versions: takeover deletes the stale object and creates it
//     again, and renewal checks that the object still holds its token,
//     then rewrites it, a read then a write. A takeover racing a late
//     renewal (or another takeover) can leave two writers believing they
//     hold the slice for up to one renewal period; the renewal that sees
//     another token marks the lease lost, and Commit then refuses.
//
// A [Warehouse.Sub] takes no lease: its prefix is unique to a run (such as
// _failed/run_id=<run>), so no other writer shares its slices. Nor does
// its Begin recover anything: a Sub's Commit killed midway leaves its
// intent and staged files in the Sub's _staging, for inspection.
//
// # Atomic, crash-consistent publish
//
// Begin stages one file per table where no reader looks, and
// [SliceWriter.CommitWith] publishes them with the slice's manifest, each
// an atomic replace of the previous file ([SliceWriter.Commit] is
// CommitWith without a manifest), so until then nothing is visible and the
// previous snapshot is untouched:
//
//   - on a local warehouse (a folder or a file:// URL), each file is
//     written to <warehouse>/_staging/<date>_<tenant>/<run>-<table>-<hex>.parquet.tmp
//     and synced. The staging folder is inside the warehouse, so the
//     rename that publishes never crosses a filesystem, and nothing
//     partial ever sits inside a partition, where Spark or Hive — which
//     skip only names starting with _ or . — would read it;
//   - on other buckets (gs://, mem://), each file is a blob writer at its
//     final key: gocloud publishes the object when the writer is closed and
//     discards it when the writer's context is cancelled first.
//
// On a local warehouse CommitWith then stages the manifest too, writes a
// publish intent (staged path, target key, size and sha256 of the four
// files, and the run id) to the slice's staging folder and syncs it,
// renames the tables, then the manifest, syncs the folders they went to,
// and removes the intent; [WriterOptions.AfterStep] is told each step (the
// Step constants, [PublishSteps]). A writer killed at any point leaves
// either no intent — nothing published, the staged files are leftovers —
// or an intent that the next Begin of the slice, holding the lease and so
// sure its writer is gone, rolls forward if every file it lists is
// complete (in staging or already at its target), and rolls back
// otherwise — unless some of its files were already in place, when the
// slice can be neither finished nor undone and Begin removes its old
// manifest instead (Unfinishable), so no reader takes it as complete
// until the writer that began replaces it; [SliceWriter.Recovered] says
// which, as does
// [WriterOptions.Logger]. That Begin also removes every other file of the
// slice's staging folder. The slice is thus entirely old or entirely new
// once its next writer has begun. Until then, and for the milliseconds of
// the renames, a reader of plain files can see each table old or new:
// the manifest, renamed last, is what marks a complete slice.
//
// On other buckets there is no rename: each object appears atomically on
// its Close, tables then manifest. A crash in between leaves the earlier
// objects new and the manifest old; nothing can roll that forward, and the
// next writer of the slice replaces everything. A reader that needs a
// consistent set checks the files against the manifest's sha256.
//
// [SliceWriter.Reset] discards what a slice writer wrote and starts its
// files afresh without letting go of the lease, for a writer that must
// write the slice again.
//
// A process killed before the intent leaves only files in _staging. The
// next Begin of the slice removes its folder's files; any Begin removes
// files in _staging that are an hour old (a live slice keeps its own
// fresh), except in a slice folder holding an intent, which only that
// slice's next writer may touch.
//
// The writers' context does not derive its cancellation from the ctx given
// to Begin: only Abort, or a failed Commit, cancels it. So a signal that
// cancels the caller's context while Commit publishes cannot leave a slice
// half new, half old: Commit checks its ctx once before publishing, and
// once the first file is out it publishes the rest. The price is that the
// caller must end every slice with Commit or Abort, which also release the
// lease.
//
// [Warehouse.WriteManifest] still writes a manifest on its own, atomically,
// for a caller that commits without one. Manifests go under _manifests,
// which readers skip.
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
// # Where things are
//
// load owns the warehouse's layout: [OpenRaw] opens the raw zone (given,
// or <warehouse>/_raw), [Warehouse.Failed] the folder of a failed run
// (<warehouse>/_failed/run_id=<run>, a Sub), and [Location] shows any
// location as logs and manifests may, without user info or query
// parameters other than prefix. [Warehouse.Previous] finds a tenant's
// latest complete slice before a date — complete meaning it has a
// manifest — and [Warehouse.ReadUserIDs] reads that slice's user ids
// alone, with range reads of the user_id column, so that reconciling with
// a million users costs their ids, not their rows.
//
// # Tenant ids in lowercase
//
// Tenant ids are lowercase GUIDs; folders written before that may hold
// capitals. [Warehouse.MixedCaseTenants] lists those slices and
// [Warehouse.LowercaseTenant] moves one, under the lease of the lowercase
// slice, to the lowercase folders: tables byte for byte (their rows keep
// the tenant_id they were written with), then the manifest, its tenant
// strings rewritten. It refuses ([ErrTenantCaseConflict]) when the
// lowercase slice holds other content, and can be run again after an
// interruption. load itself accepts any tenant id validateKey allows;
// refusing ids that are not GUIDs is the CLI's business.
//
// # Checking that a run can write
//
// [Warehouse.CheckWritable] proves, before a run asks Graph for anything,
// that it will be able to publish: on a local warehouse it creates the
// folder and _staging if missing, then creates, renames and removes a
// file in _staging; on a bucket it writes and deletes a small object under
// _staging/. Then it proves the same of _leases, where Begin takes the
// slice's lease (except on a Sub, which takes none): a file created and
// removed there, or an object written and deleted. It leaves no file
// behind. Its error is one line naming the warehouse, the step and the
// cause, and wraps [ErrNotWritable].
//
// # Parquet
//
// Files are zstd-compressed and carry the Arrow schema (so timestamps read
// back as UTC), the schema version and the run id in their key-value
// metadata. Timestamps are TIMESTAMP(isAdjustedToUTC=true, MICROS) and
// snapshot_date is DATE. Batches are buffered into row groups of up to
// [DefaultRowGroupRows] rows (or [WriterOptions.RowGroupRows]) so that many
// small batches make one row group of the size BigQuery reads well; a row
// group is also cut once its encoded size passes 32 MiB, which bounds
// memory whatever the rows hold.
//
// Each column's encoding is chosen from its name and type, as measured on a
// 1M-user replay (parquet_columns.go): columns that repeat a small
// vocabulary are dictionary-encoded; for the enum-like ones (auth_method,
// method_family, user_type, default_mfa_method, system_preferred_methods'
// elements) the writer computes the indices over a per-file vocabulary
// seeded from the catalog (parquet_vocabulary.go), and they carry no
// statistics; display names and counts are hashed by arrow. The slice's
// constant strings (tenant_id, run_id, source) are a dictionary of their
// one value; snapshot_date, timestamps and the per-user unique user_id and
// user_principal_name are written plain, which is cheaper and, after zstd,
// smaller or a few kilobytes larger. user_id and user_principal_name carry
// no statistics either: their minimum and maximum prune nothing.
//
// zstd runs at level 1 with a 1 MiB window: Arrow compresses one page of
// about 1 MiB at a time (past it by one batch of values: 8192 of them, or
// 1024 in rejected_records, whose raw_json values can be long), so a
// larger window only costs memory; a longer page still makes a standard
// frame. Arrow
// chooses its codecs from a registry of its own, filled from init, so
// importing load replaces Arrow's zstd codec for the whole process, every
// Parquet writer included (parquet_zstd.go). The frames are standard zstd,
// which every reader decodes.
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
