package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"gocloud.dev/blob"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
	"github.com/credreg/credreg/transform"
)

// SliceWriter receives the batches of one (date, tenant) slice and then
// either publishes them all at once, with the manifest that describes
// them, or discards them.
type SliceWriter interface {
	Write(ctx context.Context, table *schemas.Table, rec arrow.RecordBatch) error
	// CommitWith publishes the slice. manifest describes the slice from
	// what is published so far; a sink that publishes in steps (Parquet,
	// then BigQuery) calls it again after each, and keeps the last.
	CommitWith(ctx context.Context, manifest func(Published) ([]byte, error)) (Published, error)
	// Reset discards everything written and starts again, still holding
	// the slice: no other writer can get in between.
	Reset(ctx context.Context) error
	Abort()
}

// Published is what a sink published for a slice.
type Published struct {
	// Files are the slice's Parquet files, one per table.
	Files []load.FileInfo
	// BigQuery is the slice's load into BigQuery; nil when the sink
	// loads none.
	BigQuery *BigQueryLoad
}

// Sink is where slices are published.
type Sink interface {
	Begin(ctx context.Context, key schemas.Key, runID string) (SliceWriter, error)
	WriteManifest(ctx context.Context, key schemas.Key, manifest []byte) error
	String() string
}

// ParquetSink adapts a load.Warehouse to Sink: the warehouse every slice is
// published to, and, with BigQuery set, loaded into BigQuery from.
type ParquetSink struct {
	Warehouse *load.Warehouse
	Options   load.WriterOptions
	// BigQuery, when set, loads each slice from its published files
	// before the slice's lease goes (see BigQueryLoader).
	BigQuery BigQueryLoader
}

func (s ParquetSink) Begin(ctx context.Context, key schemas.Key, runID string) (SliceWriter, error) {
	pw := &parquetWriter{sink: s, key: key, runID: runID}
	opts := s.Options
	if s.BigQuery != nil {
		opts.AfterPublish = pw.loadBigQuery
	}
	sw, err := s.Warehouse.Begin(ctx, key, runID, opts)
	if err != nil {
		return nil, err
	}
	pw.SliceWriter = sw
	return pw, nil
}

func (s ParquetSink) WriteManifest(ctx context.Context, key schemas.Key, m []byte) error {
	return s.Warehouse.WriteManifest(ctx, key, m)
}

func (s ParquetSink) String() string {
	if s.BigQuery != nil {
		return s.Warehouse.String() + " and " + s.BigQuery.String()
	}
	return s.Warehouse.String()
}

// Previous is the tenant's latest complete slice before the date.
func (s ParquetSink) Previous(ctx context.Context, tenant string, before time.Time) (schemas.Key, bool, error) {
	return s.Warehouse.Previous(ctx, tenant, before)
}

// ReadUserIDs reads the user ids of a slice.
func (s ParquetSink) ReadUserIDs(ctx context.Context, key schemas.Key) ([]string, error) {
	return s.Warehouse.ReadUserIDs(ctx, key)
}

// parquetWriter is a slice of a ParquetSink on its way.
type parquetWriter struct {
	*load.SliceWriter
	sink     ParquetSink
	key      schemas.Key
	runID    string
	manifest func(Published) ([]byte, error)
	loaded   *BigQueryLoad
	loadErr  error
}

func (w *parquetWriter) CommitWith(ctx context.Context, manifest func(Published) ([]byte, error)) (Published, error) {
	w.manifest = manifest
	var mf func([]load.FileInfo) ([]byte, error)
	if manifest != nil {
		mf = func(files []load.FileInfo) ([]byte, error) { return manifest(Published{Files: files}) }
	}
	files, err := w.SliceWriter.CommitWith(ctx, mf)
	if w.loadErr != nil && errors.Is(err, w.loadErr) {
		// Published, but not loaded: that is the news, not the step.
		err = w.loadErr
	}
	return Published{Files: files, BigQuery: w.loaded}, err
}

// Source says where and how to read Graph.
type Source struct {
	GraphURL   string // default extract.DefaultGraphURL
	HTTPClient *http.Client
	Credential extract.CredentialOptions
	Throttle   *extract.Throttle // shared by every tenant of the process
	Retry      extract.RetryPolicy
	// PageSize is the listings' $top; 0 means extract.MaxPageSize.
	PageSize int
}

// Options configure RunTenant.
type Options struct {
	Key      schemas.Key
	Endpoint schemas.Endpoint
	Source   Source
	Sink     Sink
	Raw      *blob.Bucket
	RawURL   string // for the manifest
	// RunID names the run; default: time and random suffix.
	RunID     string
	BatchRows int
	// SeenInMemory is transform.Options.SeenInMemory: the ids duplicate
	// detection holds in memory before it spills to $TMPDIR; 0 means
	// transform.DefaultSeenInMemory.
	SeenInMemory int
	Logger       *slog.Logger
	// Progress, when set, is called after every page (from one goroutine).
	Progress func(Progress)
	// Tool is the program name and version recorded in the manifest.
	Tool string
	// AllowEmpty publishes a snapshot with no users. Off by default: an
	// empty answer more likely means a broken report (the deprecated beta
	// endpoint stopped returning data) than a tenant without users, and
	// publishing it would replace a good snapshot.
	AllowEmpty bool
	// Shards is how many $filter partitions of the listing are read side
	// by side (see extract.PlanShards); 0 means extract.AutoShards.
	Shards int
	// Budget is the data contract's error budget; nil means DefaultBudget().
	Budget *ErrorBudget
	// History, when set, holds the tenant's earlier snapshots: a sharded
	// run reconciles its listing with the previous one (see reconcile.go).
	History History
	// MaxLookups caps the per-id lookups of users a sharded listing
	// missed; 0 means DefaultMaxLookups, a negative value none.
	MaxLookups int
	// MaxAggregateDrift is the largest difference from Graph's own
	// aggregates, as a share of its user count, that passes without a
	// warning; 0 means DefaultMaxAggregateDrift. StrictAggregates makes a
	// larger one a data-contract failure (ErrAggregateDrift).
	MaxAggregateDrift float64
	StrictAggregates  bool
	// Pseudonymize, when set, replaces the names in every table by their
	// pseudonyms (see transform.Pseudonymizer) and the manifest names its
	// key; the raw zone keeps the real names.
	Pseudonymize *transform.Pseudonymizer
	// Failed, when set, receives for inspection what a failed run had:
	// its rejected records and a manifest saying why it failed. It must
	// not be the warehouse itself (the published slice stays untouched).
	Failed Sink
}

// ErrEmptySnapshot: Graph returned no users and Options.AllowEmpty is off.
var ErrEmptySnapshot = errors.New("Graph returned no users; nothing was published")

// Progress is a snapshot of a running tenant.
type Progress struct {
	Tenant       string
	Pages        int64
	Users        int64
	Rejected     int64
	Requests     int64
	Throttled    int64
	ThrottleWait time.Duration
	Done         bool
}

// NewRunID returns a sortable, unique run id.
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// RunTenant extracts, transforms and publishes one slice. On error nothing
// new is published, the raw pages landed so far are marked incomplete, and
// (when Options.Failed is set and the run was not cancelled) the rejected
// records and a manifest of the failure are written there. A slice over the
// error budget fails with *BudgetError. The exception: a slice published
// in the Parquet warehouse but not loaded into BigQuery returns both its
// manifest and an error wrapping ErrNotLoaded.
func RunTenant(ctx context.Context, o Options) (*Manifest, error) {
	r, err := newTenantRun(ctx, o)
	if err != nil {
		return nil, err
	}
	defer func() { r.tr.Release() }() // a restart replaces r.tr
	m, err := r.run(ctx)
	if err != nil {
		err = fmt.Errorf("tenant %s, %s: %w", o.Key.Tenant, o.Endpoint, err)
		r.keepFailure(ctx, err) // nothing to keep when it is published
		if !r.published {
			m = nil
		}
	}
	return m, err
}

// tenantRun is the state of one RunTenant.
type tenantRun struct {
	o      Options
	start  time.Time
	log    *slog.Logger
	client *extract.Client
	plan   extract.ShardPlan
	raw    *extract.RawZone
	// rawDigest is the checksum of the finished raw run, for the manifest.
	rawDigest string
	tr        *transform.Transformer
	// hist derives the summary and change tables; tr reports to it.
	hist   *sliceHistory
	counts Counts
	// seq numbers the run's pages and lookups as they arrive.
	seq atomic.Int64
	// sw is the slice being written; a reread or second pass replaces it.
	sw SliceWriter
	// rec is the reconciliation's account for the manifest, aggs the
	// comparison with Graph's aggregates.
	rec  Reconcile
	aggs GraphAggregates
	// prevKept counts the previous snapshot's users loaded when the listing
	// was reconciled; prevMissing are the ids it lacked then (see missing).
	prevKept    int64
	prevMissing []string
	// failed tees the rejected records to Options.Failed, opened at the
	// first reject so a clean run writes nothing there.
	failed SliceWriter
	// published is set once the slice is out: a later error (the
	// manifest) is not a run that published nothing.
	published bool
	// failedBroken: the inspection copy failed and is no longer written.
	failedBroken bool
}

func newTenantRun(ctx context.Context, o Options) (*tenantRun, error) {
	r := &tenantRun{o: o, start: time.Now()}
	if r.o.Logger == nil {
		r.o.Logger = slog.New(slog.DiscardHandler)
	}
	if r.o.RunID == "" {
		r.o.RunID = NewRunID(r.start)
	}
	if r.o.Shards == 0 {
		r.o.Shards = extract.AutoShards
	}
	if r.o.Budget == nil {
		b := DefaultBudget()
		r.o.Budget = &b
	}
	if r.o.MaxAggregateDrift <= 0 {
		r.o.MaxAggregateDrift = DefaultMaxAggregateDrift
	}
	o = r.o
	r.log = o.Logger.With("tenant", o.Key.Tenant, "snapshot_date", o.Key.DateString(), "run_id", o.RunID)
	plan, err := planShards(ctx, o, r.log)
	if err != nil {
		return nil, err
	}
	r.plan = plan
	cred, err := extract.NewCredential(o.Key.Tenant, withTransport(o.Source.Credential, o.Source.HTTPClient))
	if err != nil {
		return nil, err
	}
	r.client, err = extract.NewClient(extract.ClientOptions{GraphURL: o.Source.GraphURL, Tenant: o.Key.Tenant,
		Credential: cred, HTTPClient: o.Source.HTTPClient, PageSize: o.Source.PageSize, Throttle: o.Source.Throttle, Retry: o.Source.Retry, Logger: r.log})
	if err != nil {
		return nil, err
	}
	r.raw = extract.NewRawZone(o.Raw, o.Key, o.Endpoint, o.RunID)
	r.tr = transform.New(r.transformOptions(nil)) // run gives it the History
	return r, nil
}

func (r *tenantRun) run(ctx context.Context) (*Manifest, error) {
	o := r.o
	sw, err := o.Sink.Begin(ctx, o.Key, o.RunID)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", o.Sink, err)
	}
	r.sw = sw
	defer func() {
		if !r.published {
			r.sw.Abort()
		}
	}()
	r.hist, err = openHistory(ctx, snapshotsOf(o.History, o.Sink), o.Key, o.Endpoint, o.RunID, o.BatchRows, r.log)
	if err != nil {
		return nil, err
	}
	defer r.hist.release()
	old := r.tr
	r.tr = transform.New(r.transformOptions(nil))
	old.Release()

	r.log.Info("extracting", "endpoint", o.Endpoint, "graph", r.client.Host(), "shards", len(r.plan))
	err = r.stream(ctx, r.sw)
	if err != nil && len(r.plan) > 1 && r.tr.Stats().RecordsIn == 0 && ctx.Err() == nil &&
		(errors.Is(err, extract.ErrBadRequest) || errors.Is(err, extract.ErrFilterIgnored)) {
		// Graph documents $filter on each boolean, not their
		// combination: if it refuses or ignores the plan's filter before
		// any record is in, read the listing whole rather than fail the
		// night.
		r.log.Warn("Graph refused the shard filter; reading the listing unsharded", "err", err)
		err = r.reread(ctx)
	}
	if err == nil {
		err = r.reconcile(ctx, r.reread)
	}
	var aggs []extract.Aggregate
	var aggWhy string
	if err == nil {
		aggs, aggWhy, err = r.fetchAggregates(ctx)
	}
	if err != nil {
		// The context may be cancelled: record the incomplete raw run with
		// a short context of its own so a replay knows to skip it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if ferr := r.raw.Finish(fctx, r.rawIndex(), false); ferr != nil {
			r.log.Warn("could not mark the raw run incomplete", "err", ferr)
		}
		return nil, err
	}
	if err := r.writeAll(ctx, r.sw, r.tr.Finish()); err != nil {
		return nil, err
	}
	if err := r.raw.Finish(ctx, r.rawIndex(), true); err != nil {
		return nil, err
	}
	r.rawDigest = rawDigest(extract.RawIndex{Pages: r.raw.Pages()})
	// Duplicate detection's temporary files failed: Superseded may be too
	// low and the slice hold users twice. The raw run is complete; a
	// replay can rebuild the slice.
	if err := r.tr.Err(); err != nil {
		return nil, fmt.Errorf("not publishing: %w", err)
	}
	if n := r.tr.Superseded(); n > 0 {
		// Users read twice whose later copy won were written as both:
		// transform the landed pages again, loading only the winners.
		r.log.Info("users moved between shards during the run; transforming the landed pages again", "superseded", n)
		if err := r.secondPass(ctx); err != nil {
			return nil, err
		}
		if err := r.tr.Err(); err != nil {
			return nil, fmt.Errorf("not publishing after the second pass: %w", err)
		}
	}
	if err := r.hist.finish(ctx, func(b transform.Batch) error { return r.write(ctx, r.sw, b) }); err != nil {
		return nil, err
	}
	r.finishReconcile()
	cs := r.tr.Stats()
	r.aggs = compareAggregates(aggs, aggWhy, cs, o.MaxAggregateDrift)
	if err := r.judgeAggregates(); err != nil {
		return nil, err
	}
	if err := o.Budget.check(cs.RecordsIn-cs.MovedBetweenShards, cs.Rejected); err != nil {
		return nil, err
	}
	if cs.Users == 0 && !o.AllowEmpty {
		return nil, fmt.Errorf("%w (%d records read, %d rejected)", ErrEmptySnapshot, cs.RecordsIn, cs.Rejected)
	}

	// Last look before publishing: History's finish and the reconciliation
	// ask the transformer too.
	if err := r.tr.Err(); err != nil {
		return nil, fmt.Errorf("not publishing: %w", err)
	}
	// The manifest is published with the files, last: a reader that sees
	// it sees the complete slice, and a crash before it leaves a publish
	// the next writer of the slice finishes or undoes.
	publishStart := time.Now()
	var m *Manifest
	_, err = r.sw.CommitWith(ctx, func(p Published) ([]byte, error) {
		m = r.manifest(StatusPublished, p)
		m.Timings.PublishSeconds = time.Since(publishStart).Seconds()
		return m.JSON()
	})
	if err != nil && (m == nil || !errors.Is(err, load.ErrPublishedBut) && !errors.Is(err, ErrNotLoaded)) {
		return nil, fmt.Errorf("publishing to %s: %w", o.Sink, err)
	}
	notLoaded := errors.Is(err, ErrNotLoaded)
	if err != nil && !notLoaded {
		// The slice is out; what failed after it (releasing the lease)
		// does not unpublish it.
		r.log.Warn("published, but a step after it failed", "err", err)
	}
	r.published = true
	if r.failed != nil {
		r.failed.Abort()
		r.failed = nil
	}
	warnDrift(r.log, cs)
	r.progress(true)
	r.log.Info("published", "users", cs.Users, "methods", cs.Methods, "rejected", cs.Rejected, "pages", r.counts.Pages,
		"moved_between_shards", r.rec.MovedBetweenShards, "recovered", r.rec.Recovered, "unconfirmed", r.rec.Unconfirmed)
	if notLoaded {
		// Published, but one sink of two has not got it: the caller
		// reports the tenant partial, with the manifest.
		return m, err
	}
	return m, nil
}

// rawIndex is the raw run's index as it stands: its shards are the plan
// whose pages make the snapshot.
func (r *tenantRun) rawIndex() extract.RawIndex {
	listing := "sharded"
	if len(r.plan) == 1 {
		listing = "unsharded"
	}
	return extract.RawIndex{Tenant: r.o.Key.Tenant, SnapshotDate: r.o.Key.DateString(), Endpoint: r.o.Endpoint,
		RunID: r.o.RunID, Shards: r.plan, Listing: listing}
}

// restart drops what the slice holds and starts it again with a fresh
// transformer, loading only winners when given. The slice writer keeps
// the slice's lease throughout.
func (r *tenantRun) restart(ctx context.Context, winners map[string]transform.RecordRef) error {
	if err := r.sw.Reset(ctx); err != nil {
		return fmt.Errorf("starting %s again: %w", r.o.Sink, err)
	}
	if r.failed != nil {
		r.failed.Abort()
		r.failed = nil
	}
	old := r.tr
	if r.hist != nil {
		r.hist.hist.Reset()
	}
	r.tr = transform.New(r.transformOptions(winners))
	old.Release()
	return nil
}

// transformOptions configure the run's transformer, loading only winners
// when given.
func (r *tenantRun) transformOptions(winners map[string]transform.RecordRef) transform.Options {
	o := transform.Options{Key: r.o.Key, Endpoint: r.o.Endpoint, RunID: r.o.RunID,
		BatchRows: r.o.BatchRows, SeenInMemory: r.o.SeenInMemory, Winners: winners, Pseudonymize: r.o.Pseudonymize}
	if r.hist != nil {
		o.History = r.hist.hist
	}
	return o
}

// reread reads the whole listing again, unsharded, into a fresh slice.
func (r *tenantRun) reread(ctx context.Context) error {
	if err := r.restart(ctx, nil); err != nil {
		return err
	}
	r.plan, _ = extract.PlanShards(r.o.Endpoint, 1)
	return r.stream(ctx, r.sw)
}

// secondPass transforms the landed run again from the raw zone, loading
// exactly the winning copy of each user read twice.
func (r *tenantRun) secondPass(ctx context.Context) error {
	winners := r.tr.Winners()
	if err := r.restart(ctx, winners); err != nil {
		return err
	}
	idx, err := extract.ReadRawIndex(ctx, r.o.Raw, r.raw.Prefix())
	if err != nil {
		return err
	}
	err = replayRaw(ctx, r.o.Raw, idx, r.tr, func(b transform.Batch) error { return r.write(ctx, r.sw, b) })
	if err != nil {
		return err
	}
	if n := r.tr.Superseded(); n != 0 {
		return fmt.Errorf("the second pass over the landed pages superseded %d copies; expected none", n)
	}
	return r.writeAll(ctx, r.sw, r.tr.Finish())
}

// manifest describes the run so far.
func (r *tenantRun) manifest(status string, p Published) *Manifest {
	o := r.o
	st, cs := r.client.Stats(), r.tr.Stats()
	counts := r.counts
	counts.addRecords(cs)
	m := &Manifest{
		SchemaVersion: schemas.Version, Status: status, RunID: o.RunID, Tenant: o.Key.Tenant,
		SnapshotDate: o.Key.DateString(), Endpoint: o.Endpoint, GraphHost: r.client.Host(), Tool: o.Tool,
		StartedAt: r.start.UTC(), Shards: r.plan, Budget: *o.Budget, Counts: counts, Requests: st, Build: CurrentBuild(),
		Raw:       RawRef{Location: o.RawURL, Prefix: r.raw.Prefix(), Pages: counts.Pages, Digest: r.rawDigest},
		Reconcile: r.rec, GraphAggregates: r.aggs, Pseudonymization: pseudonymizationOf(o.Pseudonymize),
	}
	if r.hist != nil {
		m.Changes = r.hist.changes
	}
	m.setPublished(p)
	m.FinishedAt = time.Now().UTC()
	m.Timings = Timings{TotalSeconds: m.FinishedAt.Sub(r.start).Seconds(), ThrottleWaitSeconds: st.ThrottleWait.Seconds()}
	return m
}

// keepFailure writes, for inspection, the rejected records and a manifest
// of a run that failed, to Options.Failed. An interrupted run writes
// nothing: the operator stopped it and knows why.
func (r *tenantRun) keepFailure(ctx context.Context, cause error) {
	if r.failed != nil {
		defer r.failed.Abort()
	}
	if r.o.Failed == nil || ctx.Err() != nil || r.published {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	status := StatusFailed
	var be *BudgetError
	if errors.As(cause, &be) {
		status = StatusContractBreached
	}
	var files Published
	if r.failed != nil {
		var err error
		if files, err = r.failed.CommitWith(ctx, nil); err != nil {
			r.log.Warn("could not keep the rejected records of the failed run", "where", r.o.Failed.String(), "err", err)
		}
	}
	m := r.manifest(status, files)
	m.Error = cause.Error()
	data, err := m.JSON()
	if err == nil {
		err = r.o.Failed.WriteManifest(ctx, r.o.Key, data)
	}
	if err != nil {
		r.log.Warn("could not keep the manifest of the failed run", "where", r.o.Failed.String(), "err", err)
		return
	}
	r.log.Info("kept the failed run for inspection", "where", r.o.Failed.String(), "status", status,
		"rejected", m.Counts.Rejected)
}

// writeAll writes batches in order; after an error it releases the rest.
func (r *tenantRun) writeAll(ctx context.Context, sw SliceWriter, batches []transform.Batch) error {
	return writeBatches(batches, func(b transform.Batch) error { return r.write(ctx, sw, b) })
}

// writeBatches hands batches to write in order; after an error it releases
// the rest (write owns, and releases, each batch it is given).
func writeBatches(batches []transform.Batch, write func(transform.Batch) error) error {
	for i, b := range batches {
		if err := write(b); err != nil {
			for _, rest := range batches[i+1:] {
				rest.Record.Release()
			}
			return err
		}
	}
	return nil
}

// write writes a batch to the slice and, for rejected records, to the
// failed-run sink too, so they survive a run the budget stops.
func (r *tenantRun) write(ctx context.Context, sw SliceWriter, b transform.Batch) error {
	if b.Table == schemas.RejectedRecordsTable && r.o.Failed != nil && !r.failedBroken {
		err := error(nil)
		if r.failed == nil {
			r.failed, err = r.o.Failed.Begin(ctx, r.o.Key, r.o.RunID)
		}
		if err == nil {
			err = r.failed.Write(ctx, b.Table, b.Record)
		}
		if err != nil && ctx.Err() == nil {
			// The copy is for inspection only: losing it must not fail
			// a run that is otherwise good.
			r.log.Warn("cannot keep a copy of the rejected records for inspection", "where", r.o.Failed.String(), "err", err)
			r.failedBroken = true
			if r.failed != nil {
				r.failed.Abort()
				r.failed = nil
			}
		}
	}
	return writeBatch(ctx, sw, b)
}

func (r *tenantRun) progress(done bool) {
	if r.o.Progress == nil {
		return
	}
	st, cs := r.client.Stats(), r.tr.Stats()
	r.o.Progress(Progress{Tenant: r.o.Key.Tenant, Pages: r.counts.Pages, Users: cs.Users, Rejected: cs.Rejected,
		Requests: st.Requests, Throttled: st.Throttled, ThrottleWait: st.ThrottleWait, Done: done})
}

func writeBatch(ctx context.Context, sw SliceWriter, b transform.Batch) error {
	defer b.Record.Release()
	if err := sw.Write(ctx, b.Table, b.Record); err != nil {
		return fmt.Errorf("writing %s: %w", b.Table.Name, err)
	}
	return nil
}

func withTransport(c extract.CredentialOptions, hc *http.Client) extract.CredentialOptions {
	if c.HTTPClient == nil {
		c.HTTPClient = hc
	}
	return c
}

// warnDrift logs, once per run, values and fields the catalog and decoder
// do not know. They are kept (is_known_value=false; the raw zone) and
// counted in the manifest.
func warnDrift(log *slog.Logger, s transform.Stats) {
	if len(s.UnknownMethods) > 0 {
		log.Warn("unknown authentication method values (kept with is_known_value=false)", "values", s.UnknownMethods)
	}
	if len(s.UnknownFields) > 0 {
		log.Warn("unknown fields in records (kept in the raw zone)", "fields", s.UnknownFields)
	}
	if len(s.UnknownValues) > 0 {
		log.Warn("undocumented values of enum fields (loaded as sent)", "values", s.UnknownValues)
	}
}
