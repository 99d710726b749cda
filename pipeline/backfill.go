package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sourcegraph/conc/pool"
	"gocloud.dev/blob"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// SliceAction is what a backfill does with one (date, tenant).
type SliceAction string

const (
	ActionReplay   SliceAction = "replay"
	ActionUpToDate SliceAction = "up_to_date"
	ActionNoRaw    SliceAction = "no_raw_data"
	// ActionLoad loads a slice whose Parquet is up to date into BigQuery
	// from its published files: no replay.
	ActionLoad SliceAction = "load"
)

// SlicePlan is what a backfill will do with one (date, tenant), and why.
type SlicePlan struct {
	Key       schemas.Key
	Action    SliceAction
	Endpoint  schemas.Endpoint // of the chosen raw run; "" when there is none
	RawRun    string           // the chosen raw run's id
	RawPrefix string
	// Records counts the records in the chosen run's pages, for progress.
	Records int64
	Why     string
}

// SliceOutcome is how one slice of a backfill ended.
type SliceOutcome string

const (
	OutcomeReplayed SliceOutcome = "replayed"
	OutcomeUpToDate SliceOutcome = "up_to_date"
	OutcomeNoRaw    SliceOutcome = "no_raw_data"
	OutcomeLoaded   SliceOutcome = "loaded" // into BigQuery, from the published files
	OutcomeFailed   SliceOutcome = "failed"
)

// SliceResult is one slice of a backfill as it ended.
type SliceResult struct {
	SlicePlan
	Outcome  SliceOutcome
	Manifest *Manifest // set when replayed
	Err      error     // set when failed
	Elapsed  time.Duration
}

// SliceManifests reads a slice's published manifest; errors.Is(err,
// load.ErrNotFound) when the slice has none. ParquetSink implements it.
type SliceManifests interface {
	ReadManifest(ctx context.Context, key schemas.Key) ([]byte, error)
}

// ReadManifest reads the slice's published manifest.
func (s ParquetSink) ReadManifest(ctx context.Context, key schemas.Key) ([]byte, error) {
	return s.Warehouse.ReadManifest(ctx, key)
}

// DefaultParallel is how many tenants a backfill replays at once by default.
const DefaultParallel = 2

// BackfillOptions configure PlanBackfill and Backfill.
type BackfillOptions struct {
	// Raw is the raw zone, the system of record the slices are rebuilt
	// from. Sink receives them; it must implement SliceManifests.
	Raw  *blob.Bucket
	Sink Sink
	// From and To bound the range of days, both included.
	From, To time.Time
	// Tenants limits the backfill to these tenants; empty means every
	// tenant with raw data in the range.
	Tenants []string
	// Endpoint picks the raw runs of one report; "" means, per day, the
	// endpoint of that day's newest complete run.
	Endpoint schemas.Endpoint
	// RawRun replays the raw run of this id wherever it exists, even an
	// incomplete one; the other slices of the range have no raw data.
	RawRun string
	// Parallel is how many tenants replay at once; 0 means DefaultParallel.
	// A tenant's own slices replay one after another, in date order.
	Parallel int
	// Force replays slices that are up to date.
	Force bool
	// Build is the build a slice must have been written by to be up to
	// date, and the one recorded; zero means CurrentBuild().
	Build Build
	// Replay is the template of every slice's replay: its BatchRows,
	// Budget, AllowEmpty, Tool, RawURL and aggregate settings; Raw,
	// Prefix, Sink, RunID and Build are set per slice.
	Replay ReplayOptions
	// Plan, when set, is what PlanBackfill returned for these options:
	// Backfill carries it out instead of planning again. Each slice is
	// checked again once its lease is held.
	Plan []SlicePlan
	// Started is called as a slice starts replaying, Finished as any
	// slice ends, skipped ones included. Calls are never concurrent.
	Started  func(SlicePlan)
	Finished func(SliceResult)
}

// ErrRawZone: the raw zone could not be listed or read, so no plan could be
// made.
var ErrRawZone = errors.New("the raw zone cannot be read")

func (o *BackfillOptions) defaults() error {
	if o.Raw == nil || o.Sink == nil {
		return errors.New("backfill: no raw zone or no sink")
	}
	if _, ok := o.Sink.(SliceManifests); !ok {
		return fmt.Errorf("backfill: %s cannot read back its slices' manifests", o.Sink)
	}
	o.From, o.To = day(o.From), day(o.To)
	if o.From.After(o.To) {
		return fmt.Errorf("backfill: the range starts (%s) after it ends (%s)",
			o.From.Format(time.DateOnly), o.To.Format(time.DateOnly))
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.Build == (Build{}) {
		o.Build = CurrentBuild()
	}
	for i, t := range o.Tenants {
		o.Tenants[i] = strings.ToLower(t)
	}
	return nil
}

func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// PlanBackfill decides what Backfill would do, and changes nothing. Every
// day of the range appears for every tenant, sorted by tenant then date.
func PlanBackfill(ctx context.Context, o BackfillOptions) ([]SlicePlan, error) {
	o.Tenants = slices.Clone(o.Tenants)
	if err := o.defaults(); err != nil {
		return nil, err
	}
	return plan(ctx, o)
}

func plan(ctx context.Context, o BackfillOptions) ([]SlicePlan, error) {
	found, err := extract.ListRawSlices(ctx, o.Raw, o.From, o.To, o.Tenants)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRawZone, err)
	}
	var loaded map[schemas.Key]string // BigQuery's slices, when the sink loads it
	if bs, ok := o.Sink.(bigQuerySink); ok && bs.BigQueryDataset() != "" {
		if loaded, err = bs.LoadedRuns(ctx, o.From, o.To); err != nil {
			return nil, err
		}
	}
	bySlice := map[schemas.Key]extract.RawSlice{}
	tenants := slices.Clone(o.Tenants)
	for _, s := range found {
		bySlice[schemas.Key{Date: day(s.Date), Tenant: s.Tenant}] = s
		tenants = append(tenants, s.Tenant)
	}
	slices.Sort(tenants)
	tenants = slices.Compact(tenants)
	var out []SlicePlan
	for _, t := range tenants {
		// prev is the slice each day's changes will compare with once
		// the days before it are done.
		prev, known, err := publishedBefore(ctx, o, schemas.Key{Date: o.From, Tenant: t})
		if err != nil {
			return nil, err
		}
		replays := 0
		for d := o.From; !d.After(o.To); d = d.AddDate(0, 0, 1) {
			key := schemas.Key{Date: d, Tenant: t}
			p, err := planSlice(ctx, o, key, bySlice, loaded, &prev, known)
			if err != nil {
				return nil, err
			}
			if p.Action == ActionReplay {
				replays++
			}
			out = append(out, p)
		}
		if replays > 0 && known {
			// The first slice after the range compares with the range's
			// last: rebuilt, it may differ.
			follow, ok, err := followOn(ctx, o, t, prev)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, follow)
			}
		}
	}
	return out, nil
}

// planSlice decides one day of a tenant, given in *prev the slice its
// changes compare with, and moves *prev to what the day leaves.
func planSlice(ctx context.Context, o BackfillOptions, key schemas.Key, bySlice map[schemas.Key]extract.RawSlice,
	loaded map[schemas.Key]string, prev **prevSlice, known bool) (SlicePlan, error) {
	manifests := o.Sink.(SliceManifests)
	p := SlicePlan{Key: key}
	s, ok := bySlice[key]
	idx, why := chooseRun(s, ok, o)
	if why != "" {
		p.Action, p.Why = ActionNoRaw, why
		// A slice published without raw data (its raw run pruned) still
		// is the one the next day compares with.
		if m, err := readSliceManifest(ctx, manifests, key); err == nil {
			*prev = prevOf(key, m)
		}
		return p, nil
	}
	p.Endpoint, p.RawRun, p.RawPrefix, p.Records = idx.Endpoint, idx.RunID, idx.Prefix, snapshotRecords(idx)
	var err error
	p.Action, p.Why, err = upToDate(ctx, manifests, key, idx, o, loaded, *prev, known)
	if err != nil {
		return p, err
	}
	next := &prevSlice{date: key.DateString(), digest: rawDigest(idx)}
	if p.Action != ActionReplay {
		if m, err := readSliceManifest(ctx, manifests, key); err == nil {
			next = prevOf(key, m) // as it stays
		}
	} else if o.Replay.Pseudonymize != nil {
		next.key = o.Replay.Pseudonymize.Fingerprint() // as the replay names it
	}
	*prev = next
	return p, nil
}

// chooseRun picks the raw run a slice is rebuilt from, or says why none.
func chooseRun(s extract.RawSlice, ok bool, o BackfillOptions) (extract.RawIndex, string) {
	if !ok || len(s.Runs) == 0 {
		return extract.RawIndex{}, "no raw data"
	}
	if o.RawRun != "" {
		for _, r := range s.Runs {
			if r.RunID != o.RawRun {
				continue
			}
			if r.Damaged != "" {
				return r, "raw run " + r.RunID + ": " + r.Damaged
			}
			if r.NoIndex {
				return r, "raw run " + r.RunID + " has no index (it crashed or is still running): its pages cannot be trusted to be all there"
			}
			return r, ""
		}
		return extract.RawIndex{}, "no raw run " + o.RawRun
	}
	if r, ok := s.Newest(o.Endpoint); ok {
		return r, ""
	}
	var incomplete, other int
	for _, r := range s.Runs {
		switch {
		case o.Endpoint != "" && r.Endpoint != o.Endpoint:
			other++
		default:
			incomplete++
		}
	}
	why := fmt.Sprintf("no complete raw run (%d incomplete)", incomplete)
	if other > 0 && incomplete == 0 {
		why = fmt.Sprintf("no raw run of %s (%d of another endpoint)", o.Endpoint, other)
	}
	return extract.RawIndex{}, why
}

// snapshotRecords counts the records of the pages a replay reads.
func snapshotRecords(idx extract.RawIndex) int64 {
	var n int64
	for _, p := range idx.Pages {
		if !p.Invalid && p.Kind == "" {
			n += int64(p.Records)
		}
	}
	return n
}

// upToDate decides whether the slice's published manifest already says it
// was built from this raw run, unchanged, with this schema and this build.
//
// prev is the slice its changes must compare with (nil: none, the tenant's
// first); known is false when that cannot be told (a sink that cannot read
// earlier slices), and the check is left out.
func upToDate(ctx context.Context, manifests SliceManifests, key schemas.Key, idx extract.RawIndex,
	o BackfillOptions, loaded map[schemas.Key]string, prev *prevSlice, known bool) (SliceAction, string, error) {
	m, err := readSliceManifest(ctx, manifests, key)
	if errors.Is(err, load.ErrNotFound) {
		return ActionReplay, "no slice yet", nil
	}
	var bad *badManifestError
	if errors.As(err, &bad) {
		return ActionReplay, "its manifest cannot be read (" + bad.err.Error() + ")", nil
	}
	if err != nil {
		return "", "", err
	}
	switch {
	case o.Force:
		return ActionReplay, "forced", nil
	case !strings.EqualFold(m.Raw.Prefix, idx.Prefix):
		return ActionReplay, "built from another raw run (" + runOf(*m) + ")", nil
	case m.Raw.Digest == "":
		return ActionReplay, "its manifest has no checksum of the raw run", nil
	case m.Raw.Digest != rawDigest(idx):
		return ActionReplay, "the raw run changed since the slice was built", nil
	case m.SchemaVersion != schemas.Version:
		return ActionReplay, fmt.Sprintf("schema version %s, now %s", m.SchemaVersion, schemas.Version), nil
	case !m.Build.Same(o.Build):
		return ActionReplay, "built by another credreg build (" + m.Build.String() + ")", nil
	case pseudonymsDiffer(m, o.Replay.Pseudonymize) != "":
		return ActionReplay, pseudonymsDiffer(m, o.Replay.Pseudonymize), nil
	case known && !linked(m.Changes, prev):
		return ActionReplay, "its registration_changes compare with " + comparedWith(m.Changes) + "; the previous snapshot is now " + prev.String(), nil
	}
	if bs, ok := o.Sink.(bigQuerySink); ok && bs.BigQueryDataset() != "" && loaded[key] != m.RunID {
		why := "up to date, but not in " + bs.BigQueryDataset()
		if loaded[key] != "" {
			why = "up to date, but " + bs.BigQueryDataset() + " holds run " + loaded[key]
		}
		return ActionLoad, why, nil
	}
	return ActionUpToDate, "up to date", nil
}

// runOf names the raw run a manifest's slice was built from.
func runOf(m Manifest) string {
	if m.ReplayedFrom != nil {
		return m.ReplayedFrom.RunID
	}
	return m.RunID
}

// BackfillResult lists every slice of a backfill, sorted by tenant, then date.
type BackfillResult struct {
	Slices []SliceResult
}

// Count counts the slices that ended so.
func (r BackfillResult) Count(o SliceOutcome) int {
	n := 0
	for _, s := range r.Slices {
		if s.Outcome == o {
			n++
		}
	}
	return n
}

// Err is nil when no slice failed; else a *PartialError naming each failed
// slice, which wraps ErrPartial when another slice is whole (replayed or up
// to date), else every failed slice's error.
func (r BackfillResult) Err() error {
	pe := &PartialError{What: "slices"}
	for _, s := range r.Slices {
		if s.Outcome == OutcomeNoRaw {
			continue
		}
		pe.Total++
		if s.Outcome == OutcomeFailed {
			pe.Failed = append(pe.Failed, TenantResult{Err: s.Err,
				Tenant: TenantSource{ID: s.Key.Tenant, Name: s.Key.DateString()}})
		}
	}
	if len(pe.Failed) == 0 {
		return nil
	}
	return pe
}

// Backfill rebuilds the slices of a range from the raw zone, asking Graph
// for nothing: each slice whose raw run, schema or build changed since it
// was published is replayed and swapped in atomically under its lease, as
// a run publishes it; the others are skipped, so a killed backfill run again
// does only what is left. Tenants replay side by side, each tenant's days
// in date order. The error is for a plan that could not be made; slices
// that failed are in the result.
func Backfill(ctx context.Context, o BackfillOptions) (BackfillResult, error) {
	o.Tenants = slices.Clone(o.Tenants)
	if err := o.defaults(); err != nil {
		return BackfillResult{}, err
	}
	plans := o.Plan
	if plans == nil {
		var err error
		if plans, err = plan(ctx, o); err != nil {
			return BackfillResult{}, err
		}
	}
	results := make([]SliceResult, len(plans))
	var mu sync.Mutex // serializes the callbacks
	call := func(f func()) {
		mu.Lock()
		defer mu.Unlock()
		f()
	}
	p := pool.New().WithMaxGoroutines(o.Parallel)
	for next := 0; next < len(plans); {
		start, end := next, next+1
		for end < len(plans) && plans[end].Key.Tenant == plans[start].Key.Tenant {
			end++
		}
		next = end
		p.Go(func() {
			for i := start; i < end; i++ {
				results[i] = backfillSlice(ctx, plans[i], o, call)
				if o.Finished != nil {
					call(func() { o.Finished(results[i]) })
				}
			}
		})
	}
	p.Wait()
	return BackfillResult{Slices: results}, nil
}

// backfillSlice carries out one slice's plan.
func backfillSlice(ctx context.Context, p SlicePlan, o BackfillOptions, call func(func())) SliceResult {
	switch p.Action {
	case ActionNoRaw:
		return SliceResult{SlicePlan: p, Outcome: OutcomeNoRaw}
	case ActionUpToDate:
		return SliceResult{SlicePlan: p, Outcome: OutcomeUpToDate}
	}
	if err := ctx.Err(); err != nil {
		return SliceResult{SlicePlan: p, Outcome: OutcomeFailed, Err: err}
	}
	if o.Started != nil {
		call(func() { o.Started(p) })
	}
	start := time.Now()
	if p.Action == ActionLoad {
		m, err := o.Sink.(bigQuerySink).LoadPublished(ctx, p.Key)
		r := SliceResult{SlicePlan: p, Outcome: OutcomeLoaded, Manifest: m, Elapsed: time.Since(start)}
		if err != nil {
			r.Outcome, r.Err = OutcomeFailed, err
		}
		return r
	}
	ro := o.Replay
	ro.Raw, ro.Prefix, ro.Sink, ro.Build = o.Raw, p.RawPrefix, o.Sink, o.Build
	ro.RunID = NewRunID(start)
	ro.AllowIncomplete = o.RawRun != ""
	ro.Precondition = func(ctx context.Context) error { return stillPlanned(ctx, p, o) }
	m, err := ReplayTenant(ctx, ro)
	r := SliceResult{SlicePlan: p, Outcome: OutcomeReplayed, Manifest: m, Elapsed: time.Since(start)}
	var done *doneMeanwhile
	if errors.As(err, &done) {
		r.Outcome, r.Why, r.Manifest = OutcomeUpToDate, done.Error(), nil
		return r
	}
	if err != nil {
		// Manifest stays set for a slice published in Parquet whose
		// BigQuery load failed.
		r.Outcome, r.Err = OutcomeFailed, err
	}
	return r
}

// doneMeanwhile: another process published the slice, up to date, between
// the plan and the replay taking its lease.
type doneMeanwhile struct{ why string }

func (e *doneMeanwhile) Error() string { return e.why }

// ErrRawZoneChanged: the raw run a slice was planned from is no longer the
// one to replay (a newer run landed while the backfill ran).
var ErrRawZoneChanged = errors.New("the raw zone changed while the backfill ran; run it again")

// stillPlanned checks a slice's plan again once its lease is held: a run
// may have published it, or landed a newer raw run, since the plan was
// made, and a backfill must not swap older data back in.
//
// It lists only the slice's day in two tenant folders: the one the planned
// run lies in, in its case as landed, and the lowercase one, where every
// new run lands (see rawSliceFolders). Listing the raw zone from its top
// instead, once per slice, cost a 200-tenant backfill 43 % of its CPU.
func stillPlanned(ctx context.Context, p SlicePlan, o BackfillOptions) error {
	s, ok, err := extract.ListRawSlice(ctx, o.Raw, p.Key.Date, rawSliceFolders(p))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRawZone, err)
	}
	idx, why := chooseRun(s, ok, o)
	if why != "" {
		return fmt.Errorf("%w (planned from raw run %s; now %s)", ErrRawZoneChanged, p.RawRun, why)
	}
	prev, known, err := publishedBefore(ctx, o, p.Key)
	if err != nil {
		return err
	}
	action, why, err := upToDate(ctx, o.Sink.(SliceManifests), p.Key, idx, o, nil, prev, known)
	switch {
	case err != nil:
		return err
	case action == ActionUpToDate:
		return &doneMeanwhile{why: "published meanwhile by another process: " + why}
	case idx.Prefix != p.RawPrefix:
		return fmt.Errorf("%w (planned from raw run %s; the newest is now %s)", ErrRawZoneChanged, p.RawRun, idx.RunID)
	}
	return nil
}

// rawSliceFolders are the tenant folders stillPlanned lists: the planned
// run's (a folder written before tenant ids were lowercased keeps its
// capitals) and the lowercase one. Another case variant's runs were there
// when the plan was made and lost to the planned one; only a build older
// than lowercase tenant ids could land a newer one there.
func rawSliceFolders(p SlicePlan) []string {
	folders := []string{strings.ToLower(p.Key.Tenant)}
	if f, ok := extract.RawTenantFolder(p.RawPrefix); ok {
		folders = append(folders, f)
	}
	return folders
}
