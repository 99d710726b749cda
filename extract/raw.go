package extract

import (
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"gocloud.dev/blob"

	"github.com/credreg/credreg/schemas"
)

// RawZone lands pages and lookups exactly as received, gzip-compressed, under
//
//	tenant_id=<tid>/snapshot_date=<day>/<endpoint>/run_id=<run>/page-<seq>.json.gz
//	tenant_id=<tid>/snapshot_date=<day>/<endpoint>/run_id=<run>/lookup-<seq>.json.gz
//
// and, when the extraction completes, an _index.json listing every one.
// A run's folder is written once and never changed; a rerun writes a new
// run_id beside it, so a replay can pick the newest complete run.
type RawZone struct {
	bucket *blob.Bucket
	prefix string

	mu    sync.Mutex
	pages []RawPage
}

// RawPage is one entry of a raw run's index: a page of a listing or,
// with Kind "lookup", the answer to a lookup of one user by id.
type RawPage struct {
	Seq int64 `json:"seq"`
	// Kind is "" for a page (so indexes written before lookups read as
	// pages) or "lookup".
	Kind       string    `json:"kind,omitempty"`
	UserID     string    `json:"user_id,omitempty"`   // a lookup's user id
	Status     int       `json:"status,omitempty"`    // a lookup's HTTP status: 200, or 404 for a user gone
	Aggregate  string    `json:"aggregate,omitempty"` // an aggregate's AggregateKind
	Shard      string    `json:"shard,omitempty"`     // the ShardPlan entry it belongs to
	Key        string    `json:"key"`
	URL        string    `json:"url"`     // the link it came from; carries no token
	Records    int       `json:"records"` // a lookup: 1 when found, 0 when gone
	Bytes      int       `json:"bytes"`   // uncompressed, as received
	SHA256     string    `json:"sha256"`  // of the uncompressed body
	ReceivedAt time.Time `json:"received_at"`
	// Invalid marks a body that was not a report page, kept for inspection.
	Invalid bool `json:"invalid,omitempty"`
}

// RawIndex is the _index.json of a complete raw run.
type RawIndex struct {
	Tenant       string           `json:"tenant_id"`
	SnapshotDate string           `json:"snapshot_date"`
	Endpoint     schemas.Endpoint `json:"endpoint"`
	RunID        string           `json:"run_id"`
	Complete     bool             `json:"complete"`
	Shards       ShardPlan        `json:"shards,omitempty"`
	// Listing says how the run listed the report, "sharded" or
	// "unsharded"; the pipeline sets it.
	Listing string    `json:"listing,omitempty"`
	Pages   []RawPage `json:"pages"`
	// Imported marks a run landed by Import from saved Graph responses,
	// not read from Graph by this tool; Sources are the files' base names.
	Imported bool     `json:"imported,omitempty"`
	Sources  []string `json:"sources,omitempty"`
	// NoIndex marks a run folder without an _index.json (a run that
	// crashed, or one still running), as ListRawRuns reports it, or, as
	// ListRawSlices reports it, with one that cannot be decoded; such a
	// run is never complete. Not stored.
	NoIndex bool `json:"-"`
	// Damaged says why a run's _index.json could not be decoded, when
	// ListRawSlices lists the run as NoIndex for that reason. Not stored.
	Damaged string `json:"-"`
	// Prefix is the run's folder as found in the bucket (what
	// ReadRawIndex and ReplayTenant take), in the folder's own case: a
	// folder written before tenant ids were lowercased keeps its
	// uppercase tenant. ReadRawIndex and ListRawRuns fill it. Not stored.
	Prefix string `json:"-"`
}

// RawKindLookup is RawPage.Kind of a lookup's answer.
const RawKindLookup = "lookup"

// NewRawZone returns the raw zone of one run in bucket.
func NewRawZone(bucket *blob.Bucket, key schemas.Key, endpoint schemas.Endpoint, runID string) *RawZone {
	return &RawZone{bucket: bucket, prefix: RawPrefix(key, endpoint) + "run_id=" + runID + "/"}
}

// RawPrefix is the folder holding every raw run of (key, endpoint).
func RawPrefix(key schemas.Key, endpoint schemas.Endpoint) string {
	return fmt.Sprintf("tenant_id=%s/snapshot_date=%s/%s/", key.Tenant, key.DateString(), endpoint)
}

// Prefix is this run's folder in the bucket.
func (z *RawZone) Prefix() string { return z.prefix }

// Land writes one page under seq, the run's page number: unique across the
// run's shards, in the order pages arrived. It returns the object key.
func (z *RawZone) Land(ctx context.Context, seq int64, shard string, p Page) (string, error) {
	return z.land(ctx, fmt.Sprintf("%spage-%06d.json.gz", z.prefix, seq), RawPage{Seq: seq, Shard: shard,
		URL: p.URL, Records: len(p.Records), ReceivedAt: p.ReceivedAt}, p.Body)
}

// LandLookup writes the answer to a lookup under seq, which the run's
// pages and lookups share. A 404 is landed too, so that a replay knows
// the user was gone rather than never asked for.
func (z *RawZone) LandLookup(ctx context.Context, seq int64, l Lookup) (string, error) {
	records := 0
	if l.Found {
		records = 1
	}
	return z.land(ctx, fmt.Sprintf("%slookup-%06d.json.gz", z.prefix, seq), RawPage{Seq: seq, Kind: RawKindLookup,
		UserID: l.UserID, Status: l.Status, URL: l.URL, Records: records, ReceivedAt: l.ReceivedAt}, l.Body)
}

// LandInvalid writes a body that was not a report page, so a person can
// see what Graph sent. The index marks it invalid; a replay never reads it.
func (z *RawZone) LandInvalid(ctx context.Context, seq int64, shard string, pe *PageError, link string) (string, error) {
	return z.land(ctx, fmt.Sprintf("%spage-%06d.invalid.json.gz", z.prefix, seq), RawPage{Seq: seq, Shard: shard,
		URL: link, Invalid: true, ReceivedAt: time.Now().UTC()}, pe.Body)
}

func (z *RawZone) land(ctx context.Context, key string, entry RawPage, body []byte) (string, error) {
	w, err := z.bucket.NewWriter(ctx, key, &blob.WriterOptions{ContentType: "application/gzip"})
	if err != nil {
		return "", fmt.Errorf("raw zone: %s: %w", key, err)
	}
	gz := gzip.NewWriter(w)
	_, err = gz.Write(body)
	if err == nil {
		err = gz.Close()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("raw zone: writing %s: %w", key, err)
	}
	sum := sha256.Sum256(body)
	entry.Key, entry.Bytes, entry.SHA256 = key, len(body), hex.EncodeToString(sum[:])
	z.mu.Lock()
	z.pages = append(z.pages, entry)
	z.mu.Unlock()
	return key, nil
}

// Pages returns the entries landed so far, by sequence number: what
// Finish writes into the index.
func (z *RawZone) Pages() []RawPage {
	z.mu.Lock()
	pages := slices.Clone(z.pages)
	z.mu.Unlock()
	slices.SortFunc(pages, func(a, b RawPage) int { return cmp.Compare(a.Seq, b.Seq) })
	return pages
}

// Finish writes the run's _index.json. complete is false for a run that
// failed: the pages stay for inspection and a replay skips the run.
func (z *RawZone) Finish(ctx context.Context, idx RawIndex, complete bool) error {
	idx.Pages = z.Pages()
	idx.Complete = complete
	return writeRawIndex(ctx, z.bucket, z.prefix, idx)
}

// MarkIncomplete rewrites the _index.json of the run folder prefix (as
// RawZone.Prefix returns it) with Complete false, keeping the rest. A
// run whose replay was refused must not stay the newest complete run of
// its day, or a later backfill would pick it again. A folder without an
// index is ErrNoRawIndex.
func MarkIncomplete(ctx context.Context, bucket *blob.Bucket, prefix string) error {
	idx, err := ReadRawIndex(ctx, bucket, prefix)
	if err != nil {
		return err
	}
	idx.Complete = false
	return writeRawIndex(ctx, bucket, prefix, idx)
}

func writeRawIndex(ctx context.Context, bucket *blob.Bucket, prefix string, idx RawIndex) error {
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	if err := bucket.WriteAll(ctx, prefix+rawIndexName, data, &blob.WriterOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("raw zone: writing %s%s: %w", prefix, rawIndexName, err)
	}
	return nil
}
