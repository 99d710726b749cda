package bq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/credreg/credreg/schemas"
)

// runRow is the load_runs row of one LoadSlice: the fields of the manifest
// analysts filter on, and the manifest whole. The manifest's JSON names are
// the pipeline's; this package reads them without importing it (load never
// imports pipeline).
type runRow struct {
	RunID         string
	Status        string
	Endpoint      string
	StartedAt     *time.Time
	FinishedAt    *time.Time
	Users         int64
	Methods       int64
	Rejected      int64
	SchemaVersion string
	Build         *string
	ReplayedFrom  *string
	ManifestJSON  string
}

type manifestFields struct {
	SchemaVersion string          `json:"schema_version"`
	Status        string          `json:"status"`
	RunID         string          `json:"run_id"`
	Tenant        string          `json:"tenant_id"`
	SnapshotDate  string          `json:"snapshot_date"`
	Endpoint      string          `json:"endpoint"`
	Build         json.RawMessage `json:"build"`
	StartedAt     time.Time       `json:"started_at"`
	FinishedAt    time.Time       `json:"finished_at"`
	Counts        struct {
		Users    int64 `json:"users"`
		Methods  int64 `json:"methods"`
		Rejected int64 `json:"rejected"`
	} `json:"counts"`
	ReplayedFrom *struct {
		RunID string `json:"run_id"`
	} `json:"replayed_from"`
}

// parseRunRow reads the load_runs row from a manifest, and refuses a
// manifest of another slice or run: load_runs must describe the rows the
// same transaction swaps in.
func parseRunRow(key schemas.Key, runID string, manifest []byte) (runRow, error) {
	if len(bytes.TrimSpace(manifest)) == 0 {
		return runRow{}, errNoManifest
	}
	var m manifestFields
	if err := json.Unmarshal(manifest, &m); err != nil {
		return runRow{}, fmt.Errorf("bq: the manifest of %s %s: %w", key.DateString(), key.Tenant, err)
	}
	switch {
	case m.RunID != runID:
		return runRow{}, fmt.Errorf("bq: the manifest is of run %q, not of run %q being loaded", m.RunID, runID)
	case m.Tenant != "" && m.Tenant != key.Tenant:
		return runRow{}, fmt.Errorf("bq: the manifest is of tenant %q, not of tenant %q being loaded", m.Tenant, key.Tenant)
	case m.SnapshotDate != "" && m.SnapshotDate != key.DateString():
		return runRow{}, fmt.Errorf("bq: the manifest is of %s, not of %s being loaded", m.SnapshotDate, key.DateString())
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, manifest); err != nil {
		return runRow{}, fmt.Errorf("bq: the manifest of %s %s: %w", key.DateString(), key.Tenant, err)
	}
	r := runRow{RunID: m.RunID, Status: m.Status, Endpoint: m.Endpoint, SchemaVersion: m.SchemaVersion,
		Users: m.Counts.Users, Methods: m.Counts.Methods, Rejected: m.Counts.Rejected, ManifestJSON: compact.String()}
	if !m.StartedAt.IsZero() {
		r.StartedAt = &m.StartedAt
	}
	if !m.FinishedAt.IsZero() {
		r.FinishedAt = &m.FinishedAt
	}
	if b := bytes.TrimSpace(m.Build); len(b) > 0 && !bytes.Equal(b, []byte("null")) {
		var c bytes.Buffer
		if err := json.Compact(&c, b); err == nil {
			s := c.String()
			r.Build = &s
		}
	}
	if m.ReplayedFrom != nil && m.ReplayedFrom.RunID != "" {
		r.ReplayedFrom = &m.ReplayedFrom.RunID
	}
	return r, nil
}

// values are the load_runs row as SQL literals, in the order of
// schemas.LoadRunsTable's columns; loaded_at is the commit's time.
func (r runRow) values(key schemas.Key) []string {
	return []string{
		dateLiteral(key),
		stringLiteral(key.Tenant),
		stringLiteral(r.RunID),
		stringLiteral(r.Status),
		stringLiteral(r.Endpoint),
		timestampLiteral(r.StartedAt),
		timestampLiteral(r.FinishedAt),
		intLiteral(r.Users),
		intLiteral(r.Methods),
		intLiteral(r.Rejected),
		stringLiteral(r.SchemaVersion),
		nullableString(r.Build),
		nullableString(r.ReplayedFrom),
		"CURRENT_TIMESTAMP()",
		stringLiteral(r.ManifestJSON),
	}
}
