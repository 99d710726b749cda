package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"gocloud.dev/blob"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// ErrPseudonymized: the warehouse's tables hold keyed hashes instead of
// user principal names, so a UPN matches no row; the person must be
// named by their object id.
var ErrPseudonymized = errors.New("the warehouse is pseudonymized: its tables hold no user principal name to match")

// EraseOptions configure Erase. Exactly one of UserID and UPN is set.
type EraseOptions struct {
	Warehouse *load.Warehouse
	// Raw is the raw zone; nil when there is none to erase from.
	Raw *blob.Bucket
	// RawURL is the raw zone's location for the log (load.Location).
	RawURL string
	UserID string
	// UPN is matched case-insensitively against user_principal_name;
	// the ids it finds are then erased as if given.
	UPN      string
	DryRun   bool
	LockWait time.Duration
	// Build is recorded in the erasure log; zero means CurrentBuild().
	Build Build
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// EraseResult is what Erase did, or with DryRun would do. It names no
// person: ErasureLog is what is written to the warehouse.
type EraseResult struct {
	ErasureLog
	// LogKey is where the log was written, relative to the warehouse; ""
	// for a dry run.
	LogKey string
}

// ErasureLog is the record of one erasure: when, by which build, of whom
// only as the sha256 of their object id, and what was rewritten.
type ErasureLog struct {
	ID         string    `json:"erasure_id"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Build      Build     `json:"build"`
	DryRun     bool      `json:"dry_run,omitempty"`
	// MatchedBy is "user_id" or "user_principal_name": how the person
	// was named.
	MatchedBy string `json:"matched_by"`
	// UserSHA256 is the hex sha256 of each object id erased, lowercase:
	// a UPN may have named several over time.
	UserSHA256 []string `json:"user_sha256"`
	Warehouse  string   `json:"warehouse"`
	Raw        string   `json:"raw,omitempty"`
	// Slices are the slices that held rows of the person, or were
	// rewritten because their raw run was.
	Slices  []ErasedSlice        `json:"slices"`
	RawRuns []extract.RawErasure `json:"raw_runs"`
	// Skipped are the slices not erased, and why (another process was
	// writing them, or they could not be read): run the erasure again.
	Skipped []SkippedSlice   `json:"skipped"`
	Totals  map[string]int64 `json:"totals"`
	// Kept says what still holds something of the person, by design.
	Kept string `json:"kept"`
}

// ErasedSlice is one slice of an erasure.
type ErasedSlice struct {
	SnapshotDate string `json:"snapshot_date"`
	Tenant       string `json:"tenant_id"`
	// Folder is "" for the warehouse's slices, _failed/run_id=<run> for
	// those kept for inspection.
	Folder      string           `json:"folder,omitempty"`
	RowsRemoved map[string]int64 `json:"rows_removed"`
	Rewritten   bool             `json:"rewritten"`
	// RawDigestUpdated says the manifest's raw.digest now matches the
	// rewritten raw run, so a backfill finds the slice up to date.
	RawDigestUpdated bool `json:"raw_digest_updated,omitempty"`
}

// SkippedSlice is a slice an erasure could not touch.
type SkippedSlice struct {
	Slice string `json:"slice"`
	Why   string `json:"why"`
}

const erasureKept = "registration_daily_summary keeps its counts (no names); the person still counts in the days' totals"

// Erase removes one person from every slice of the warehouse (the
// _failed folders included) and every run of the raw zone, for a
// data-subject request, and writes the erasure log (see load).
//
// Each slice is handled under its lease: its raw runs are rewritten first
// (extract.EraseFromRawRun), then its tables (load.Warehouse.EraseUser),
// and its manifest keeps everything but its files, its counts and, when
// the raw run it was built from was rewritten, raw.digest — so a backfill
// over the range finds the slice up to date, and one that replays it
// (forced, or by a new build) replays the rewritten pages. A slice
// another process is writing, or one that cannot be read or rewritten, is
// skipped and listed in the log's skipped, and the erasure goes on; the
// error then wraps load.ErrLeaseHeld when every skipped slice was held,
// else the failures: run it again. The log is written even when the
// erasure is cancelled halfway, listing what was rewritten.
//
// Nothing it logs, writes or returns names the person.
func Erase(ctx context.Context, o EraseOptions) (EraseResult, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Build == (Build{}) {
		o.Build = CurrentBuild()
	}
	start := o.Now().UTC()
	res := EraseResult{ErasureLog: ErasureLog{ID: NewRunID(start), StartedAt: start, Build: o.Build, DryRun: o.DryRun,
		Warehouse: o.Warehouse.String(), Raw: o.RawURL, Slices: []ErasedSlice{}, RawRuns: []extract.RawErasure{},
		Skipped: []SkippedSlice{}, Totals: map[string]int64{}, Kept: erasureKept}}
	if (o.UserID == "") == (o.UPN == "") {
		return res, errors.New("erase: give either a user id or a user principal name")
	}
	keys, err := o.Warehouse.SliceKeys(ctx)
	if err != nil {
		return res, err
	}
	match, err := o.match(ctx, keys)
	if err != nil {
		return res, err
	}
	res.MatchedBy = "user_id"
	if o.UPN != "" {
		res.MatchedBy = "user_principal_name"
	}
	for _, id := range match.IDs {
		sum := sha256.Sum256([]byte(strings.ToLower(id)))
		res.UserSHA256 = append(res.UserSHA256, hex.EncodeToString(sum[:]))
	}
	rawRuns, err := o.rawRuns(ctx)
	if err != nil {
		return res, err
	}
	e := eraser{o: o, match: match, res: &res, digests: map[string]digestChange{}}
	err = nil
	for _, key := range mergeKeys(keys, rawRuns) {
		runs := rawRuns[sliceName(key)]
		if slices.ContainsFunc(keys, func(k schemas.Key) bool { return sliceName(k) == sliceName(key) }) {
			err = e.slice(ctx, o.Warehouse, "", key, runs)
		} else {
			err = e.rawOnly(ctx, key, runs)
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		err = e.failedFolders(ctx)
	}
	res.FinishedAt = o.Now().UTC()
	if !o.DryRun {
		// What was erased is recorded even when the erasure stopped
		// halfway: those slices and runs are rewritten already.
		data, jerr := json.MarshalIndent(res.ErasureLog, "", "  ")
		if jerr == nil {
			jerr = o.Warehouse.WriteErasureLog(context.WithoutCancel(ctx), res.ID, data)
		}
		if jerr != nil {
			return res, errors.Join(err, jerr)
		}
		res.LogKey = load.ErasureLogKey(res.ID)
	}
	switch {
	case err != nil:
		return res, err
	case len(e.failed) > 0:
		return res, fmt.Errorf("erase: %d slice(s) could not be erased and %d were being written by another process; the log lists them; run the erasure again once mended: %w",
			len(e.failed), len(e.held), errors.Join(e.failed...))
	case len(e.held) > 0:
		return res, fmt.Errorf("erase: %d slice(s) skipped, being written by another process; run the erasure again: %w",
			len(e.held), errors.Join(e.held...))
	}
	return res, nil
}

// match resolves the person to their object ids: the one given, or every
// id whose user_principal_name is the UPN in any slice. A UPN also
// matches as itself, in the raw zone and in rows without an id.
func (o EraseOptions) match(ctx context.Context, keys []schemas.Key) (load.UserMatch, error) {
	if o.UserID != "" {
		return o.matchID(ctx, keys)
	}
	m := load.UserMatch{UPNs: []string{o.UPN}}
	seen := map[string]bool{}
	for _, key := range keys {
		data, err := o.Warehouse.ReadManifest(ctx, key)
		if err != nil && !errors.Is(err, load.ErrNotFound) {
			return m, err
		}
		if pseudonymized(data) {
			return m, fmt.Errorf("%w (slice %s %s); give the person's object id (user_id) instead", ErrPseudonymized, key.DateString(), key.Tenant)
		}
		tbl, err := o.Warehouse.ReadSlice(ctx, schemas.UserRegistrationDetailsTable, key)
		if errors.Is(err, load.ErrNotFound) {
			continue
		}
		if err != nil {
			return m, err
		}
		ids := idsOf(tbl, o.UPN)
		tbl.Release()
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				m.IDs = append(m.IDs, id)
			}
		}
	}
	slices.Sort(m.IDs)
	return m, nil
}

// matchID resolves an object id to the names the slices give it too: a
// raw record or reject that names the person but whose id cannot be read
// (not JSON) is matched by the name. Pseudonymized slices add nothing:
// the raw zone holds real names.
func (o EraseOptions) matchID(ctx context.Context, keys []schemas.Key) (load.UserMatch, error) {
	id := strings.ToLower(o.UserID)
	m := load.UserMatch{IDs: []string{id}}
	seen := map[string]bool{}
	for _, key := range keys {
		data, err := o.Warehouse.ReadManifest(ctx, key)
		if err != nil && !errors.Is(err, load.ErrNotFound) {
			return m, err
		}
		if pseudonymized(data) {
			continue
		}
		tbl, err := o.Warehouse.ReadSlice(ctx, schemas.UserRegistrationDetailsTable, key)
		if errors.Is(err, load.ErrNotFound) {
			continue
		}
		if err != nil {
			return m, err
		}
		for _, upn := range valuesWhere(tbl, "user_id", id, "user_principal_name") {
			if low := strings.ToLower(upn); !seen[low] {
				seen[low] = true
				m.UPNs = append(m.UPNs, upn)
			}
		}
		tbl.Release()
	}
	slices.Sort(m.UPNs)
	return m, nil
}

// pseudonymized reports whether a manifest records a pseudonymization key.
func pseudonymized(manifest []byte) bool {
	var m struct {
		P json.RawMessage `json:"pseudonymization"`
	}
	if len(manifest) == 0 || json.Unmarshal(manifest, &m) != nil {
		return false
	}
	p := bytes.TrimSpace(m.P)
	return len(p) > 0 && !bytes.Equal(p, []byte("null")) && !bytes.Equal(p, []byte("{}"))
}

// idsOf returns the user_id of every row of user_registration_details
// whose user_principal_name is upn, lowercase.
func idsOf(tbl arrow.Table, upn string) []string {
	var out []string
	for _, id := range valuesWhere(tbl, "user_principal_name", upn, "user_id") {
		out = append(out, strings.ToLower(id))
	}
	return out
}

// valuesWhere returns column out of every row of tbl whose column match
// equals want, ignoring case; nil when tbl lacks either column.
func valuesWhere(tbl arrow.Table, match, want, out string) []string {
	schema := tbl.Schema()
	mCol, oCol := schema.FieldIndices(match), schema.FieldIndices(out)
	if len(mCol) == 0 || len(oCol) == 0 {
		return nil
	}
	var vals []string
	tr := array.NewTableReader(tbl, 64<<10)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		ms, ok1 := rec.Column(mCol[0]).(*array.String)
		os, ok2 := rec.Column(oCol[0]).(*array.String)
		if !ok1 || !ok2 {
			return nil
		}
		for i := range ms.Len() {
			if ms.IsValid(i) && os.IsValid(i) && strings.EqualFold(ms.Value(i), want) && os.Value(i) != "" {
				vals = append(vals, os.Value(i))
			}
		}
	}
	return vals
}

// rawRuns lists every run of the raw zone by slice (sliceName).
func (o EraseOptions) rawRuns(ctx context.Context) (map[string][]extract.RawIndex, error) {
	out := map[string][]extract.RawIndex{}
	if o.Raw == nil {
		return out, nil
	}
	found, err := extract.ListRawSlices(ctx, o.Raw, time.Time{}, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRawZone, err)
	}
	for _, s := range found {
		key := schemas.Key{Date: s.Date, Tenant: s.Tenant}
		out[sliceName(key)] = s.Runs
	}
	return out, nil
}

func sliceName(k schemas.Key) string { return k.DateString() + " " + strings.ToLower(k.Tenant) }

// mergeKeys is every slice of the warehouse and of the raw zone, sorted.
func mergeKeys(keys []schemas.Key, raw map[string][]extract.RawIndex) []schemas.Key {
	out := slices.Clone(keys)
	have := map[string]bool{}
	for _, k := range keys {
		have[sliceName(k)] = true
	}
	for name, runs := range raw {
		if have[name] || len(runs) == 0 {
			continue
		}
		date, tenant, _ := strings.Cut(name, " ")
		d, _ := time.Parse(time.DateOnly, date) // sliceName wrote it
		out = append(out, schemas.Key{Date: d, Tenant: tenant})
		have[name] = true
	}
	slices.SortFunc(out, func(a, b schemas.Key) int { return strings.Compare(sliceName(a), sliceName(b)) })
	return out
}

// eraser carries one erasure through its slices.
type eraser struct {
	o     EraseOptions
	match load.UserMatch
	res   *EraseResult
	held  []error // slices skipped: their lease is held
	// failed are the slices (or raw runs) that could not be erased, for
	// another reason than a held lease; the erasure goes on without them.
	failed []error
	// digests are the raw.digest of the warehouse's slices this erasure
	// rewrote, by sliceName, before and after: the next slice's changes
	// record its previous slice's digest, which must follow.
	digests map[string]digestChange
}

type digestChange struct{ old, new string }

func (e *eraser) rawMatch() extract.RawMatch {
	return extract.RawMatch{IDs: e.match.IDs, UPNs: e.match.UPNs}
}

// eraseRaw erases the person from runs; it returns the new index of each
// run that changed, by prefix in lowercase.
func (e *eraser) eraseRaw(ctx context.Context, runs []extract.RawIndex) (map[string]extract.RawIndex, error) {
	changed := map[string]extract.RawIndex{}
	for _, r := range runs {
		got, err := extract.EraseFromRawRun(ctx, e.o.Raw, r.Prefix, e.rawMatch(), e.o.DryRun)
		if err != nil {
			return nil, err
		}
		if !got.Changed() {
			continue
		}
		e.res.RawRuns = append(e.res.RawRuns, got)
		e.res.Totals["raw_records_removed"] += int64(got.RecordsRemoved)
		e.res.Totals["raw_objects_removed"] += int64(got.ObjectsRemoved)
		changed[strings.ToLower(r.Prefix)] = got.Index
	}
	return changed, nil
}

// skip records a slice that could not be erased: another process is
// writing it, or it could not be read or rewritten.
// A cancelled erasure stops; any other failure of one slice is recorded
// and the erasure goes on with the next.
func (e *eraser) skip(ctx context.Context, name string, err error) error {
	if ctx.Err() != nil {
		return err
	}
	e.res.Skipped = append(e.res.Skipped, SkippedSlice{Slice: name, Why: err.Error()})
	if errors.Is(err, load.ErrLeaseHeld) {
		e.held = append(e.held, err)
	} else {
		e.failed = append(e.failed, err)
	}
	return nil
}

// slice erases the person from one slice of wh (the warehouse, or a
// _failed folder), and from runs, the raw runs of its day, under its lease.
func (e *eraser) slice(ctx context.Context, wh *load.Warehouse, folder string, key schemas.Key, runs []extract.RawIndex) error {
	var changed map[string]extract.RawIndex
	var ref manifestRefs
	var digestUpdated bool
	var prevDigest string // the previous slice's new raw.digest, when this one's changes recorded its old one
	locked := func(ctx context.Context) (bool, error) {
		var err error
		if changed, err = e.eraseRaw(ctx, runs); err != nil {
			return false, err
		}
		if ref, err = readManifestRefs(ctx, wh, key); err != nil {
			return false, err
		}
		_, digestUpdated = changed[strings.ToLower(ref.rawPrefix)]
		if d, ok := e.digests[ref.previousSlice(key)]; ok && folder == "" && d.old == ref.previousRawDigest {
			prevDigest = d.new
		}
		return digestUpdated || prevDigest != "", nil
	}
	newManifest := func(files []load.FileInfo, removed map[string]int64) ([]byte, error) {
		old, err := wh.ReadManifest(ctx, key)
		if errors.Is(err, load.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return erasedManifest(old, files, removed, manifestEdits{changed: changed, previousRawDigest: prevDigest}, e.res.ID)
	}
	opts := load.EraseOptions{RunID: "erase-" + e.res.ID, LockWait: e.o.LockWait, DryRun: e.o.DryRun,
		Locked: locked, Manifest: newManifest}
	if e.o.DryRun {
		if _, err := locked(ctx); err != nil {
			return err
		}
	}
	got, err := wh.EraseUser(ctx, key, e.match, opts)
	if err != nil {
		name := key.DateString() + " " + key.Tenant
		if folder != "" {
			name = folder + " " + name
		}
		return e.skip(ctx, name, err)
	}
	if got.RowsRemoved() == 0 && !got.Rewritten && !digestUpdated {
		return nil
	}
	if got.Rewritten && digestUpdated && folder == "" {
		e.digests[sliceName(key)] = digestChange{old: ref.rawDigest, new: rawDigest(changed[strings.ToLower(ref.rawPrefix)])}
	}
	for t, n := range got.Removed {
		e.res.Totals[t] += n
	}
	e.res.Slices = append(e.res.Slices, ErasedSlice{SnapshotDate: key.DateString(), Tenant: key.Tenant, Folder: folder,
		RowsRemoved: got.Removed, Rewritten: got.Rewritten, RawDigestUpdated: digestUpdated})
	return nil
}

// rawOnly erases the person from the raw runs of a day the warehouse has
// no slice of, under that slice's lease all the same: a backfill of the
// day would replay them.
func (e *eraser) rawOnly(ctx context.Context, key schemas.Key, runs []extract.RawIndex) error {
	if !e.o.DryRun {
		lease, err := e.o.Warehouse.Lease(ctx, key, load.LeaseOptions{RunID: "erase-" + e.res.ID, Wait: e.o.LockWait})
		if err != nil {
			return e.skip(ctx, key.DateString()+" "+key.Tenant+" (raw runs)", err)
		}
		defer lease.Release()
	}
	if _, err := e.eraseRaw(ctx, runs); err != nil {
		return e.skip(ctx, key.DateString()+" "+key.Tenant+" (raw runs)", err)
	}
	return nil
}

// failedFolders erases the person from the slices kept for inspection in
// _failed: no lease (each folder is one finished run's), no raw.
func (e *eraser) failedFolders(ctx context.Context) error {
	ids, err := e.o.Warehouse.FailedRuns(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		sub, err := e.o.Warehouse.Failed(id)
		if err != nil {
			continue // not a folder credreg names
		}
		keys, err := sub.SliceKeys(ctx)
		if err != nil {
			return err
		}
		for _, key := range keys {
			if err := e.slice(ctx, sub, "_failed/run_id="+id, key, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
