package pipeline

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
	"github.com/credreg/credreg/transform"
)

// replayRaw feeds a landed raw run to tr, in the order the run numbered
// its pages and lookups: the pages of the index's shard plan (pages of a
// plan the run gave up on, and bodies kept only for inspection, are not
// part of the snapshot) and the users found by id. The transformer decides
// duplicates by (lastUpdatedDateTime, sequence number), never by the order
// it is fed in, so the rows are those of the run that landed the pages.
// The pages are read, decompressed, split and decoded a few ahead, on
// readWorkers other goroutines, so that work overlaps deciding and
// appending the page before: decoding records is the larger half of the
// transformer's work, and on the transformer's goroutine alone it bounded
// the replay.
func replayRaw(ctx context.Context, bucket *blob.Bucket, idx extract.RawIndex, tr *transform.Transformer,
	write func(transform.Batch) error) error {
	plan := map[string]bool{}
	for _, s := range idx.Shards {
		plan[s.Name] = true
	}
	var entries []extract.RawPage
	for _, e := range idx.Pages {
		lookup := e.Kind == extract.RawKindLookup
		if !(e.Invalid || lookup && e.Status != http.StatusOK || !lookup && !plan[e.Shard]) {
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b extract.RawPage) int { return int(a.Seq - b.Seq) })
	dec := tr.Decoder()
	pages, stop := readAhead(ctx, bucket, entries, readAheadPages, readWorkers, &dec)
	defer stop()
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		shard := p.e.Shard
		if p.e.Kind == extract.RawKindLookup {
			shard = lookupShard
		}
		batches := tr.AddDecodedShardPage(p.e.Seq, shard, p.e.ReceivedAt, p.decoded)
		// The transformer copies what it keeps of a record: the body
		// can be read over. Not before: a record that decoded fine may
		// be rejected as a repeat, its raw_json copied from the body.
		p.recycle()
		if err := writeBatches(batches, write); err != nil {
			return err
		}
	}
	return ctx.Err() // the pages end early only when ctx is done
}

// readAheadPages is how many pages replayRaw reads ahead: enough to keep
// the transformer fed, a few MB at most.
const readAheadPages = 4

// readWorkers is how many goroutines replayRaw reads pages on. Two: alone,
// the reader is the replay's busiest goroutine (gunzip and the one walk:
// about 4 of a 1M-user replay's 9.5 CPU s), so it would set the wall time
// once the others are cheaper still. Today one and two measure the same
// within noise (quiet, 6 alternating runs each: 5.50 and 5.41 s median,
// the same CPU and peak RSS); two keep the reader off the critical path.
const readWorkers = 2

// maxPageHint caps the buffer allocated ahead from the index's page size;
// Graph's pages are under a few MB.
const maxPageHint = 64 << 20

// rawRead is one raw entry, read, split and decoded ahead of the
// transformer.
type rawRead struct {
	e       extract.RawPage
	records []odata.Record // sub-slices of body
	// decoded are the records decoded, when readAhead was given a
	// decoder; their Raw are sub-slices of body.
	decoded []transform.Decoded
	err     error
	body    []byte
	free    chan<- pageBuffers
}

// pageBuffers are what readAhead reuses from page to page: the body and
// the decoded records.
type pageBuffers struct {
	body    []byte
	decoded []transform.Decoded
}

// recycle hands the page's buffers back to the reader, to read a later
// page into; r's records must not be used after.
func (r *rawRead) recycle() {
	if r.body == nil {
		return
	}
	// Cleared, so that the records of this page are not kept alive by
	// a buffer waiting for the next (AddShardPage clears its own too).
	clear(r.decoded)
	select {
	case r.free <- pageBuffers{body: r.body[:0], decoded: r.decoded[:0]}:
	default: // the reader has enough; the collector takes this one
	}
	r.body, r.records, r.decoded = nil, nil, nil
}

// readAhead reads entries, inflates, splits and (with dec) decodes them
// on workers goroutines, each taking every workers-th page, and hands them
// over in order: depth pages wait ahead of the receiver in all, or one a
// worker when depth is smaller (depth/workers a worker, rounded down). It
// stops after the first error, which it hands over last. stop ends it
// early and waits for it. Decoding is most of a replay's reading, which
// was the busiest of its goroutines: on two it no longer bounds the
// replay. The receiver recycles each page once done with it, so that the
// same few buffers (depth, one per worker and one being transformed),
// sized to the largest page, hold every body of a replay: reading pages of
// half a MB into new buffers was a third of the replay's allocations.
func readAhead(ctx context.Context, bucket *blob.Bucket, entries []extract.RawPage, depth, workers int, dec *transform.Decoder) (iter.Seq[rawRead], func()) {
	ctx, cancel := context.WithCancel(ctx)
	workers = max(1, min(workers, len(entries)))
	per := max(1, depth/workers) // pages waiting per worker
	free := make(chan pageBuffers, workers*(per+1)+1)
	ready := make([]chan rawRead, workers)
	var wg sync.WaitGroup
	for w := range ready {
		ch := make(chan rawRead, per)
		ready[w] = ch
		wg.Go(func() {
			defer close(ch)
			var rd extract.RawPageReader
			for i := w; i < len(entries); i += workers {
				r := readPage(ctx, &rd, bucket, entries[i], free, dec)
				select {
				case ch <- r:
				case <-ctx.Done():
					return
				}
				if r.err != nil {
					return
				}
			}
		})
	}
	pages := func(yield func(rawRead) bool) {
		for i := range entries {
			r, ok := <-ready[i%workers]
			if !ok || !yield(r) || r.err != nil {
				return // stopped, or the receiver is done, or the error was the last
			}
		}
	}
	return pages, func() { cancel(); wg.Wait() }
}

// readPage reads entry e into a buffer recycled through free, or a new
// one, and decodes its records with dec, when given.
func readPage(ctx context.Context, rd *extract.RawPageReader, bucket *blob.Bucket, e extract.RawPage, free chan pageBuffers, dec *transform.Decoder) rawRead {
	var bufs pageBuffers
	select {
	case bufs = <-free:
	default:
	}
	buf := bufs.body
	if cap(buf) < e.Bytes {
		// The index's size is a hint, not a promise: a damaged index
		// must not allocate at will.
		buf = make([]byte, 0, min(e.Bytes, maxPageHint))
	}
	r := rawRead{e: e, free: free}
	if dec != nil && e.Kind != extract.RawKindLookup {
		// A page is split and decoded in one walk of its records
		// (Decoder.ReadPage): the same records, rejections and errors as
		// Split and then DecodePage, each record walked once, not twice.
		if r.body, r.err = rd.ReadInto(ctx, bucket, e.Key, buf); r.err == nil {
			if r.decoded, r.err = dec.ReadPage(bufs.decoded, r.body); r.err != nil {
				r.err = fmt.Errorf("raw page %s: %w", e.Key, r.err)
			}
		}
		if r.err != nil {
			r.body, r.decoded = nil, nil
		}
		return r
	}
	r.body, r.records, r.err = readRawEntry(ctx, rd, bucket, e, buf)
	if r.err == nil && dec != nil {
		r.decoded = dec.DecodePage(bufs.decoded, r.records)
	}
	return r
}

// readRawEntry reads a landed page or lookup into buf and splits it into
// records, which are sub-slices of the body it returns.
func readRawEntry(ctx context.Context, rd *extract.RawPageReader, bucket *blob.Bucket, e extract.RawPage, buf []byte) ([]byte, []odata.Record, error) {
	body, err := rd.ReadInto(ctx, bucket, e.Key, buf)
	if err != nil {
		return nil, nil, err
	}
	if e.Kind == extract.RawKindLookup {
		rec, err := odata.Entity(body)
		if err != nil {
			return nil, nil, fmt.Errorf("raw lookup %s: %w", e.Key, err)
		}
		return body, []odata.Record{rec}, nil
	}
	p, err := odata.Split(body)
	if err != nil {
		return nil, nil, fmt.Errorf("raw page %s: %w", e.Key, err)
	}
	return body, p.Records, nil
}

// errWriteBehindFailed is what writeBehind's send returns once a write
// failed; its wait returns that write's error.
var errWriteBehindFailed = errors.New("an earlier batch could not be written")

// writeBehind hands batches to write on its own goroutine, in order, at
// most depth waiting, so encoding Parquet overlaps decoding the next
// pages on the other core. Once a write fails, later batches are released
// unwritten and send says so; wait, called once, waits for the batches
// sent and returns the first write's error.
func writeBehind(write func(transform.Batch) error, depth int) (send func(transform.Batch) error, wait func() error) {
	ch := make(chan transform.Batch, depth)
	done := make(chan struct{})
	var failed atomic.Bool
	var werr error // the goroutine's; read after done
	go func() {
		defer close(done)
		for b := range ch {
			if werr != nil {
				b.Record.Release()
				continue
			}
			if werr = write(b); werr != nil {
				failed.Store(true)
			}
		}
	}()
	send = func(b transform.Batch) error {
		if failed.Load() {
			b.Record.Release()
			return errWriteBehindFailed
		}
		ch <- b
		return nil
	}
	wait = func() error {
		close(ch)
		<-done
		return werr
	}
	return send, wait
}

// writeBehindBatches is how many batches a replay's transformer may run
// ahead of the Parquet writer.
const writeBehindBatches = 2

// ReplayOptions configure ReplayTenant.
type ReplayOptions struct {
	// Raw is the raw zone's bucket and Prefix the raw run's folder in it
	// (the manifest's raw.prefix).
	Raw    *blob.Bucket
	Prefix string
	// RawURL is the raw zone's location for the manifest (load.Location).
	RawURL string
	Sink   Sink
	// RunID names the replay; default: a new run id.
	RunID     string
	BatchRows int
	// SeenInMemory is as in Options.
	SeenInMemory int
	// Budget is the data contract's error budget; nil means DefaultBudget().
	Budget     *ErrorBudget
	AllowEmpty bool
	Tool       string
	// MaxAggregateDrift and StrictAggregates are as in Options; the
	// comparison with Graph's aggregates is replayed from the ones the run
	// landed, so a slice a strict run refused is refused again.
	MaxAggregateDrift float64
	StrictAggregates  bool
	// Build is recorded in the manifest; zero means CurrentBuild().
	Build Build
	// AllowIncomplete replays a raw run whose index says it did not
	// complete (an operator named it): its pages are what it landed.
	AllowIncomplete bool
	// Pseudonymize is as in Options: a replay with the run's key rebuilds
	// the same pseudonyms.
	Pseudonymize *transform.Pseudonymizer
	// Precondition, when set, runs once the slice's lease is held and
	// before anything is read: its error stops the replay, the slice
	// untouched (a backfill checks its plan still holds).
	Precondition func(ctx context.Context) error
}

// ReplayRef names the raw run a replayed slice was built from.
type ReplayRef struct {
	RunID  string `json:"run_id"`
	Prefix string `json:"prefix"`
	// Imported says the raw run holds saved Graph responses that
	// `credreg import` landed, not pages a run received.
	Imported bool `json:"imported,omitempty"`
}

// ReplayTenant rebuilds one slice from a complete raw run, asking Graph for
// nothing: the same transform, budget and atomic publish as RunTenant. A
// raw run that is not complete is refused.
func ReplayTenant(ctx context.Context, o ReplayOptions) (*Manifest, error) {
	start := time.Now()
	idx, err := extract.ReadRawIndex(ctx, o.Raw, o.Prefix)
	if err != nil {
		return nil, err
	}
	if !idx.Complete && !o.AllowIncomplete {
		return nil, fmt.Errorf("raw run %s is not complete; it is not replayed unless named", o.Prefix)
	}
	day, err := time.Parse(time.DateOnly, idx.SnapshotDate)
	if err != nil {
		return nil, fmt.Errorf("raw run %s: snapshot date %q: %w", o.Prefix, idx.SnapshotDate, err)
	}
	// Raw folders written before tenant ids were kept in lowercase may
	// name the tenant in capitals; its slice is the lowercase one.
	key := schemas.Key{Date: day, Tenant: strings.ToLower(idx.Tenant)}
	if o.Build == (Build{}) {
		o.Build = CurrentBuild()
	}
	if o.RunID == "" {
		o.RunID = NewRunID(start)
	}
	if o.Budget == nil {
		b := DefaultBudget()
		o.Budget = &b
	}
	sw, err := o.Sink.Begin(ctx, key, o.RunID)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", o.Sink, err)
	}
	defer sw.Abort()
	if o.Precondition != nil {
		if err := o.Precondition(ctx); err != nil {
			return nil, err
		}
	}
	// Replays of a tenant's days in date order compare each with the one
	// just rebuilt.
	hist, err := openHistory(ctx, snapshotsOf(o.Sink), key, idx.Endpoint, o.RunID, o.BatchRows, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer hist.release()
	pass := func(winners map[string]transform.RecordRef) (*transform.Transformer, error) {
		hist.hist.Reset()
		tr := transform.New(transform.Options{Key: key, Endpoint: idx.Endpoint, RunID: o.RunID, BatchRows: o.BatchRows,
			SeenInMemory: o.SeenInMemory, Winners: winners, History: hist.hist, Pseudonymize: o.Pseudonymize})
		write, wait := writeBehind(func(b transform.Batch) error { return writeBatch(ctx, sw, b) }, writeBehindBatches)
		err := replayRaw(ctx, o.Raw, idx, tr, write)
		if err == nil {
			err = writeBatches(tr.Finish(), write)
		}
		if err == nil {
			// A spill that failed may have hidden a repeat: such a
			// slice is not published.
			if err = tr.Err(); err != nil {
				err = fmt.Errorf("not publishing: %w", err)
			}
		}
		if werr := wait(); werr != nil {
			err = werr
		}
		if err != nil { // Release frees the rows not yet in a batch
			tr.Release()
			return nil, err
		}
		return tr, nil
	}
	tr, err := pass(nil)
	if err != nil {
		return nil, err
	}
	if tr.Superseded() > 0 {
		// Users read twice were written before their winner came: write
		// the slice again, still holding it, loading only the winners.
		winners := tr.Winners()
		tr.Release()
		if err := sw.Reset(ctx); err != nil {
			return nil, err
		}
		if tr, err = pass(winners); err != nil {
			return nil, err
		}
		if n := tr.Superseded(); n != 0 {
			tr.Release()
			return nil, fmt.Errorf("the second pass over raw run %s superseded %d copies; expected none (did its pages change?)", idx.RunID, n)
		}
	}
	defer tr.Release()
	if err := hist.finish(ctx, func(b transform.Batch) error { return writeBatch(ctx, sw, b) }); err != nil {
		return nil, err
	}
	cs := tr.Stats()
	if err := o.Budget.check(cs.RecordsIn-cs.MovedBetweenShards, cs.Rejected); err != nil {
		return nil, err
	}
	if cs.Users == 0 && !o.AllowEmpty {
		return nil, fmt.Errorf("%w (%d records read, %d rejected)", ErrEmptySnapshot, cs.RecordsIn, cs.Rejected)
	}
	var counts Counts
	counts.addRecords(cs)
	for _, p := range idx.Pages {
		if p.Kind == "" && !p.Invalid {
			counts.Pages++
			if p.Records == 0 {
				counts.EmptyPages++
			}
		}
	}
	if o.MaxAggregateDrift <= 0 {
		o.MaxAggregateDrift = DefaultMaxAggregateDrift
	}
	aggs, why, err := landedAggregates(ctx, o.Raw, idx)
	if err != nil {
		return nil, err
	}
	ga := compareAggregates(aggs, why, cs, o.MaxAggregateDrift)
	if ga.Available && ga.OverTolerance && o.StrictAggregates {
		return nil, fmt.Errorf("%w: %s", ErrAggregateDrift, ga.Summary())
	}
	rec := Reconcile{MovedBetweenShards: cs.MovedBetweenShards,
		Note: "replayed from raw run " + idx.RunID + ": the comparison with the previous snapshot is that run's"}
	for _, e := range idx.Pages {
		if e.Kind == extract.RawKindLookup {
			rec.Lookups++
			switch {
			case e.Status != http.StatusOK:
				rec.Gone++
			case tr.Loaded(e.UserID):
				rec.Recovered++
			default:
				rec.Unconfirmed++ // found, but its record is a reject
			}
		}
	}
	// Last look before publishing: Loaded above may read the spill's
	// files, and a failure there means its answers are void.
	if err := tr.Err(); err != nil {
		return nil, fmt.Errorf("not publishing: %w", err)
	}
	var m *Manifest
	_, err = sw.CommitWith(ctx, func(p Published) ([]byte, error) {
		m = &Manifest{SchemaVersion: schemas.Version, Status: StatusPublished, RunID: o.RunID, Tenant: key.Tenant,
			SnapshotDate: idx.SnapshotDate, Endpoint: idx.Endpoint, Tool: o.Tool, StartedAt: start.UTC(), Build: o.Build,
			Shards: idx.Shards, Budget: *o.Budget, Counts: counts,
			Raw:             RawRef{Location: o.RawURL, Prefix: o.Prefix, Pages: counts.Pages, Digest: rawDigest(idx)},
			ReplayedFrom:    &ReplayRef{RunID: idx.RunID, Prefix: o.Prefix, Imported: idx.Imported},
			GraphAggregates: ga, Reconcile: rec, Changes: hist.changes, Pseudonymization: pseudonymizationOf(o.Pseudonymize)}
		m.setPublished(p)
		m.FinishedAt = time.Now().UTC()
		m.Timings = Timings{TotalSeconds: m.FinishedAt.Sub(start).Seconds()}
		return m.JSON()
	})
	if err != nil && (m == nil || !errors.Is(err, load.ErrPublishedBut) && !errors.Is(err, ErrNotLoaded)) {
		return nil, fmt.Errorf("publishing to %s: %w", o.Sink, err)
	}
	if errors.Is(err, ErrNotLoaded) {
		return m, err
	}
	return m, nil
}

// landedAggregates reads back the aggregates a raw run landed.
func landedAggregates(ctx context.Context, bucket *blob.Bucket, idx extract.RawIndex) ([]extract.Aggregate, string, error) {
	var out []extract.Aggregate
	for _, e := range idx.Pages {
		if e.Kind != extract.RawKindAggregate {
			continue
		}
		body, err := extract.ReadRawPage(ctx, bucket, e.Key)
		if err != nil {
			return nil, "", err
		}
		a, err := extract.ParseAggregate(extract.AggregateKind(e.Aggregate), body)
		if err != nil {
			return nil, "", fmt.Errorf("raw aggregate %s: %w", e.Key, err)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, "the raw run holds no aggregates", nil
	}
	return out, "", nil
}
