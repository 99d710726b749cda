package pipeline

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
	"github.com/credreg/credreg/transform"
)

// Manifest describes one published slice: what was read, what was written,
// and how the extraction went. It is written as JSON beside the data, last,
// so a manifest always describes a complete slice.
type Manifest struct {
	SchemaVersion string `json:"schema_version"`
	// Status is StatusPublished for a slice in the warehouse; a manifest
	// kept for inspection of a failed run says why it failed.
	Status       string           `json:"status"`
	Error        string           `json:"error,omitempty"`
	RunID        string           `json:"run_id"`
	Tenant       string           `json:"tenant_id"`
	SnapshotDate string           `json:"snapshot_date"`
	Endpoint     schemas.Endpoint `json:"endpoint"`
	GraphHost    string           `json:"graph_host"`
	Tool         string           `json:"tool"`
	// Build is the credreg build that wrote the slice; a backfill
	// replays slices another build wrote.
	Build      Build             `json:"build"`
	StartedAt  time.Time         `json:"started_at"`
	FinishedAt time.Time         `json:"finished_at"`
	Timings    Timings           `json:"timings"`
	Shards     extract.ShardPlan `json:"shards"`
	Budget     ErrorBudget       `json:"error_budget"`
	Counts     Counts            `json:"counts"`
	Requests   extract.Stats     `json:"requests"`
	Raw        RawRef            `json:"raw"`
	Files      []load.FileInfo   `json:"files"`
	// ReplayedFrom names the raw run a replay rebuilt the slice from; nil
	// for a slice read from Graph.
	ReplayedFrom *ReplayRef `json:"replayed_from,omitempty"`
	// Pseudonymization, when set, says the slice's names are pseudonyms
	// and under which key; absent for real names (see pseudonym.go).
	Pseudonymization *Pseudonymization `json:"pseudonymization,omitempty"`
	// Reconcile accounts for users a sharded listing read twice or missed.
	Reconcile Reconcile `json:"reconcile"`
	// GraphAggregates compares the snapshot with Graph's own counts.
	GraphAggregates GraphAggregates `json:"graph_aggregates"`
	// Changes says what registration_changes compared the slice with.
	Changes Changes `json:"changes"`
	// BigQueryJobs lists the load job ids of a BigQuery sink; empty for Parquet.
	BigQueryJobs []string `json:"bigquery_jobs"`
	// BigQuery says how the slice's load into BigQuery went, when the run
	// loads one.
	BigQuery *BigQueryLoad `json:"bigquery,omitempty"`
}

// setPublished records what the sink published.
func (m *Manifest) setPublished(p Published) {
	m.Files, m.BigQuery, m.BigQueryJobs = p.Files, p.BigQuery, []string{}
	if m.Files == nil {
		m.Files = []load.FileInfo{}
	}
	if p.BigQuery != nil {
		for _, t := range p.BigQuery.Tables {
			m.BigQueryJobs = append(m.BigQueryJobs, t.JobID)
		}
	}
}

// Manifest statuses.
const (
	StatusPublished        = "published"
	StatusContractBreached = "contract_breached" // over the error budget; not published
	StatusFailed           = "failed"            // extraction or writing failed; not published
)

// Timings are wall-clock durations in seconds.
type Timings struct {
	TotalSeconds        float64 `json:"total_seconds"`
	ThrottleWaitSeconds float64 `json:"throttle_wait_seconds"`
	PublishSeconds      float64 `json:"publish_seconds"`
}

// Counts add up: RecordsIn == Users + Rejected + MovedBetweenShards. Pages
// count every page of every shard.
type Counts struct {
	Pages         int64 `json:"pages"`
	EmptyPages    int64 `json:"empty_pages"`
	SalvagedPages int64 `json:"salvaged_pages"`
	RecordsIn     int64 `json:"records_in"`
	Users         int64 `json:"users"`
	Methods       int64 `json:"methods"`
	Rejected      int64 `json:"rejected"`
	// DuplicateIDs are records whose id was already read (rejected as
	// duplicate_id): shards that overlap, or Graph listing a user twice.
	DuplicateIDs int64 `json:"duplicate_ids"`
	// MovedBetweenShards are copies of users read in two shards of a
	// sharded listing because Graph changed them during the run; the
	// truer copy loaded. Not rejects, not against the error budget.
	MovedBetweenShards int64            `json:"moved_between_shards"`
	RejectsByReason    map[string]int64 `json:"rejects_by_reason"`
	UnknownMethods     map[string]int64 `json:"unknown_method_values"`
	UnknownFields      map[string]int64 `json:"unknown_fields"`
	// UnknownValues counts undocumented values of the enum-like fields,
	// keyed field=value; the values are loaded as sent.
	UnknownValues map[string]int64 `json:"unknown_values"`
}

// addRecords fills the counts of records from a transformer's stats.
func (c *Counts) addRecords(cs transform.Stats) {
	c.RecordsIn, c.Users, c.Methods, c.Rejected = cs.RecordsIn, cs.Users, cs.Methods, cs.Rejected
	c.RejectsByReason, c.UnknownMethods, c.UnknownFields = cs.RejectsByReason, cs.UnknownMethods, cs.UnknownFields
	c.UnknownValues = cs.UnknownValues
	c.DuplicateIDs = cs.RejectsByReason[transform.ReasonDuplicateID]
	c.MovedBetweenShards = cs.MovedBetweenShards
}

// RawRef points at the raw pages of the run.
type RawRef struct {
	Location string `json:"location"`
	Prefix   string `json:"prefix"`
	Pages    int64  `json:"pages"`
	// Digest is a checksum over the raw run's page checksums: a backfill
	// replays a slice whose raw run changed since it was built.
	Digest string `json:"digest,omitempty"`
}

// rawDigest is the checksum of a raw run's index entries: what each
// numbered page or lookup holds.
func rawDigest(idx extract.RawIndex) string {
	pages := slices.Clone(idx.Pages)
	slices.SortFunc(pages, func(a, b extract.RawPage) int { return cmp.Compare(a.Seq, b.Seq) })
	h := sha256.New()
	for _, p := range pages {
		fmt.Fprintf(h, "%d %s %s %t\n", p.Seq, p.Key, p.SHA256, p.Invalid)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// JSON renders the manifest as indented JSON.
func (m *Manifest) JSON() ([]byte, error) { return json.MarshalIndent(m, "", "  ") }
