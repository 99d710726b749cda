package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/sourcegraph/conc/pool"
	"gocloud.dev/blob"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
	"github.com/credreg/credreg/transform"
)

// SliceWriter receives the batches of one (date, tenant) slice and then
// either publishes them all at once or discards them.
type SliceWriter interface {
	Write(ctx context.Context, table *schemas.Table, rec arrow.RecordBatch) error
	Commit(ctx context.Context) ([]load.FileInfo, error)
	Abort()
}

// Sink is where slices are published.
type Sink interface {
	Begin(ctx context.Context, key schemas.Key, runID string) (SliceWriter, error)
	WriteManifest(ctx context.Context, key schemas.Key, manifest []byte) error
	String() string
}

// ParquetSink adapts a load.Warehouse to Sink.
type ParquetSink struct {
	Warehouse *load.Warehouse
	Options   load.WriterOptions
}

func (s ParquetSink) Begin(ctx context.Context, key schemas.Key, runID string) (SliceWriter, error) {
	return s.Warehouse.Begin(ctx, key, runID, s.Options)
}

func (s ParquetSink) WriteManifest(ctx context.Context, key schemas.Key, m []byte) error {
	return s.Warehouse.WriteManifest(ctx, key, m)
}

func (s ParquetSink) String() string { return s.Warehouse.String() }

// Source says where and how to read Graph.
type Source struct {
	GraphURL   string // default extract.DefaultGraphURL
	HTTPClient *http.Client
	Credential extract.CredentialOptions
	Throttle   *extract.Throttle // shared by every tenant of the process
	Retry      extract.RetryPolicy
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
	Logger    *slog.Logger
	// Progress, when set, is called after every page (from one goroutine).
	Progress func(Progress)
	// Tool is the program name and version recorded in the manifest.
	Tool string
	// AllowEmpty publishes a snapshot with no users. Off by default: an
	// empty answer more likely means a broken report (the deprecated beta
	// endpoint stopped returning data) than a tenant without users, and
	// publishing it would replace a good snapshot.
	AllowEmpty bool
}

// ErrEmptySnapshot: Graph returned no users and Options.AllowEmpty is off.
var ErrEmptySnapshot = errors.New("Graph returned no users; nothing was published (allow it with --allow-empty)")

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
// new is published and the raw pages landed so far are marked incomplete.
func RunTenant(ctx context.Context, o Options) (*Manifest, error) {
	start := time.Now()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RunID == "" {
		o.RunID = NewRunID(start)
	}
	log := o.Logger.With("tenant", o.Key.Tenant, "snapshot_date", o.Key.DateString(), "run_id", o.RunID)

	cred, err := extract.NewCredential(o.Key.Tenant, withTransport(o.Source.Credential, o.Source.HTTPClient))
	if err != nil {
		return nil, err
	}
	client, err := extract.NewClient(extract.ClientOptions{GraphURL: o.Source.GraphURL, Tenant: o.Key.Tenant,
		Credential: cred, HTTPClient: o.Source.HTTPClient, Throttle: o.Source.Throttle, Retry: o.Source.Retry, Logger: log})
	if err != nil {
		return nil, err
	}
	raw := extract.NewRawZone(o.Raw, o.Key, o.Endpoint, o.RunID)
	tr := transform.New(transform.Options{Key: o.Key, Endpoint: o.Endpoint, RunID: o.RunID, BatchRows: o.BatchRows})
	defer tr.Release()

	sw, err := o.Sink.Begin(ctx, o.Key, o.RunID)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", o.Sink, err)
	}
	published := false
	defer func() {
		if !published {
			sw.Abort()
		}
	}()

	log.Info("extracting", "endpoint", o.Endpoint, "graph", client.Host())
	var counts Counts
	err = streamPages(ctx, client.Pages(o.Endpoint, ""), raw, tr, sw, &counts, func() {
		if o.Progress != nil {
			st, cs := client.Stats(), tr.Stats()
			o.Progress(Progress{Tenant: o.Key.Tenant, Pages: counts.Pages, Users: cs.Users, Rejected: cs.Rejected,
				Requests: st.Requests, Throttled: st.Throttled, ThrottleWait: st.ThrottleWait})
		}
	})
	rawIdx := extract.RawIndex{Tenant: o.Key.Tenant, SnapshotDate: o.Key.DateString(), Endpoint: o.Endpoint, RunID: o.RunID}
	if err != nil {
		// The context may be cancelled: record the incomplete raw run with
		// a short context of its own so a replay knows to skip it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if ferr := raw.Finish(fctx, rawIdx, false); ferr != nil {
			log.Warn("could not mark the raw run incomplete", "err", ferr)
		}
		return nil, fmt.Errorf("tenant %s, %s: %w", o.Key.Tenant, o.Endpoint, err)
	}
	for _, b := range tr.Finish() {
		if err := writeBatch(ctx, sw, b); err != nil {
			return nil, err
		}
	}
	if err := raw.Finish(ctx, rawIdx, true); err != nil {
		return nil, err
	}
	if cs := tr.Stats(); cs.Users == 0 && !o.AllowEmpty {
		return nil, fmt.Errorf("tenant %s, %s: %w (%d records read, %d rejected)", o.Key.Tenant, o.Endpoint,
			ErrEmptySnapshot, cs.RecordsIn, cs.Rejected)
	}

	publishStart := time.Now()
	files, err := sw.Commit(ctx)
	if err != nil {
		return nil, fmt.Errorf("publishing to %s: %w", o.Sink, err)
	}
	published = true
	// From here on the new data is out: the manifest that describes it
	// must be written even if the run is being interrupted.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	st, cs := client.Stats(), tr.Stats()
	counts.RecordsIn, counts.Users, counts.Methods, counts.Rejected = cs.RecordsIn, cs.Users, cs.Methods, cs.Rejected
	counts.RejectsByReason, counts.UnknownMethods, counts.UnknownFields = cs.RejectsByReason, cs.UnknownMethods, cs.UnknownFields
	m := &Manifest{
		SchemaVersion: schemas.Version, RunID: o.RunID, Tenant: o.Key.Tenant, SnapshotDate: o.Key.DateString(),
		Endpoint: o.Endpoint, GraphHost: client.Host(), Tool: o.Tool, StartedAt: start.UTC(), Counts: counts,
		Requests: st, Raw: RawRef{Location: o.RawURL, Prefix: raw.Prefix(), Pages: counts.Pages},
		Files: files, BigQueryJobs: []string{},
	}
	m.FinishedAt = time.Now().UTC()
	m.Timings = Timings{TotalSeconds: m.FinishedAt.Sub(start).Seconds(), ThrottleWaitSeconds: st.ThrottleWait.Seconds(),
		PublishSeconds: time.Since(publishStart).Seconds()}
	data, err := m.JSON()
	if err != nil {
		return nil, err
	}
	if err := o.Sink.WriteManifest(ctx, o.Key, data); err != nil {
		return nil, fmt.Errorf("writing manifest: %w", err)
	}
	warnDrift(log, cs)
	if o.Progress != nil {
		o.Progress(Progress{Tenant: o.Key.Tenant, Pages: counts.Pages, Users: cs.Users, Rejected: cs.Rejected,
			Requests: st.Requests, Throttled: st.Throttled, ThrottleWait: st.ThrottleWait, Done: true})
	}
	log.Info("published", "users", cs.Users, "methods", cs.Methods, "rejected", cs.Rejected, "pages", counts.Pages)
	return m, nil
}

// streamPages runs the extractor and the transformer side by side: one
// goroutine fetches and lands pages, the other turns them into batches.
// The first error cancels both.
func streamPages(ctx context.Context, pager *extract.Pager, raw *extract.RawZone, tr *transform.Transformer,
	sw SliceWriter, counts *Counts, progress func()) error {
	pages := make(chan extract.Page, 2)
	p := pool.New().WithContext(ctx).WithCancelOnError().WithFirstError()
	p.Go(func(ctx context.Context) error {
		defer close(pages)
		for {
			page, err := pager.Next(ctx)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if _, err := raw.Land(ctx, pager.Seq(), page); err != nil {
				return err
			}
			select {
			case pages <- page:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	p.Go(func(ctx context.Context) error {
		var seq int64
		for page := range pages {
			seq++
			counts.Pages++
			if len(page.Records) == 0 {
				counts.EmptyPages++
			}
			if page.Salvaged {
				counts.SalvagedPages++
			}
			for _, b := range tr.AddPage(seq, page.ReceivedAt, page.Records) {
				if err := writeBatch(ctx, sw, b); err != nil {
					return err
				}
			}
			progress()
		}
		return ctx.Err()
	})
	return p.Wait()
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
}
