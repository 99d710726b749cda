package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/credreg/credreg/schemas"
	"github.com/credreg/credreg/transform"
)

// Changes is the manifest's account of the slice's registration_changes:
// which snapshot it was compared with, or why there is nothing to compare.
type Changes struct {
	// FirstSnapshot: the tenant has no earlier snapshot, so no changes.
	FirstSnapshot        bool   `json:"first_snapshot,omitempty"`
	PreviousSnapshotDate string `json:"previous_snapshot_date,omitempty"`
	PreviousRunID        string `json:"previous_run_id,omitempty"`
	// PreviousRawDigest is the previous slice's raw.digest: a backfill
	// that rebuilds that slice from other raw data knows this one's
	// changes compare with what is no longer there.
	PreviousRawDigest string `json:"previous_raw_digest,omitempty"`
	// PreviousKeyFingerprint is the pseudonymization key of the previous
	// slice's names ("" for real names): changes compare only slices
	// named alike.
	PreviousKeyFingerprint string `json:"previous_key_fingerprint,omitempty"`
	Rows                   int64  `json:"rows"`
	// Skipped says why a slice that has an earlier snapshot has no change
	// rows (it came from the other report, could not be read, or the
	// comparison's local spill files failed before any change row was
	// written).
	Skipped string `json:"skipped,omitempty"`
}

// Snapshots reads earlier slices of the warehouse for the derived tables.
// ParquetSink implements it.
type Snapshots interface {
	Previous(ctx context.Context, tenant string, before time.Time) (key schemas.Key, ok bool, err error)
	ReadManifest(ctx context.Context, key schemas.Key) ([]byte, error)
	ScanColumns(ctx context.Context, table *schemas.Table, key schemas.Key, cols []string, fn func(arrow.RecordBatch) error) error
}

// ScanColumns streams columns of a slice's table (see load.Warehouse.ScanColumns).
func (s ParquetSink) ScanColumns(ctx context.Context, table *schemas.Table, key schemas.Key, cols []string, fn func(arrow.RecordBatch) error) error {
	return s.Warehouse.ScanColumns(ctx, table, key, cols, fn)
}

// snapshotsOf finds, among a run's collaborators, the first that can read
// earlier slices.
func snapshotsOf(candidates ...any) Snapshots {
	for _, c := range candidates {
		if s, ok := c.(Snapshots); ok && s != nil {
			return s
		}
	}
	return nil
}

// sliceHistory is a slice's History with what the manifest says of it.
type sliceHistory struct {
	hist    *transform.History
	snaps   Snapshots
	prev    schemas.Key
	changes Changes
	// gone holds the previous slice's ids and names, copied to a local
	// file when the slice is opened: read again at the end of a run that
	// may take hours, the slice itself may have been replaced meanwhile.
	gone *os.File
	// previous is the snapshot compared with; a large one keeps its users
	// in local files until release.
	previous *transform.Previous
	log      *slog.Logger
}

// openHistory reads the tenant's previous snapshot (its users' states and
// methods, streamed into a compact form) and returns the History that
// derives the slice's summary and changes. A previous snapshot that cannot
// be used leaves the slice without change rows, and its manifest says why:
// a night's snapshot is never lost for the sake of the comparison. So does
// a comparison whose local spill files fail (see finish).
func openHistory(ctx context.Context, snaps Snapshots, key schemas.Key, endpoint schemas.Endpoint, runID string,
	batchRows int, log *slog.Logger) (*sliceHistory, error) {
	return openHistoryIn(ctx, snaps, key, endpoint, runID, batchRows, log, 0)
}

// openHistoryIn is openHistory holding at most inMemory previous users in
// memory (transform.Previous.InMemory): tests spill small snapshots.
func openHistoryIn(ctx context.Context, snaps Snapshots, key schemas.Key, endpoint schemas.Endpoint, runID string,
	batchRows int, log *slog.Logger, inMemory int) (*sliceHistory, error) {
	sh := &sliceHistory{snaps: snaps, log: log}
	o := transform.HistoryOptions{Key: key, RunID: runID, Endpoint: endpoint, BatchRows: batchRows}
	if snaps == nil {
		sh.changes.Skipped = "no warehouse to read the previous snapshot from"
		sh.hist = transform.NewHistory(o)
		return sh, nil
	}
	prev, ok, err := snaps.Previous(ctx, key.Tenant, key.Date)
	if err != nil {
		return nil, fmt.Errorf("finding the previous snapshot: %w", err)
	}
	if !ok {
		sh.changes.FirstSnapshot = true
		sh.hist = transform.NewHistory(o)
		return sh, nil
	}
	sh.prev = prev
	sh.changes.PreviousSnapshotDate = prev.DateString()
	p, why := readPrevious(ctx, snaps, prev, endpoint, &sh.changes, inMemory)
	if why == "" {
		if sh.gone, err = spillGone(ctx, snaps, prev); err != nil {
			why = fmt.Sprintf("the previous snapshot's users could not be read: %v", err)
		}
	}
	if why != "" {
		log.Warn("no registration_changes for this slice", "previous_snapshot", prev.DateString(), "why", why)
		sh.changes.Skipped = why
		if p != nil {
			p.Release()
		}
	} else {
		o.Previous, sh.previous = p, p
	}
	sh.hist = transform.NewHistory(o)
	return sh, nil
}

// spillGone copies the previous slice's user ids and names to a local
// temporary file (Arrow IPC), for History.Gone at the end of the slice.
func spillGone(ctx context.Context, snaps Snapshots, prev schemas.Key) (*os.File, error) {
	f, err := os.CreateTemp("", "credreg-previous-*.arrow")
	if err != nil {
		return nil, err
	}
	var w *ipc.Writer
	err = snaps.ScanColumns(ctx, schemas.UserRegistrationDetailsTable, prev, []string{"user_id", "user_principal_name"},
		func(rec arrow.RecordBatch) error {
			if w == nil {
				w = ipc.NewWriter(f, ipc.WithSchema(rec.Schema()))
			}
			return w.Write(rec)
		})
	if err == nil && w != nil {
		err = w.Close()
	}
	if err != nil || w == nil { // w == nil: the previous slice has no users
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// prevManifest is what the derived tables read of a slice's manifest.
type prevManifest struct {
	RunID    string           `json:"run_id"`
	Endpoint schemas.Endpoint `json:"endpoint"`
	Raw      struct {
		Digest string `json:"digest"`
	} `json:"raw"`
	Pseudonymization *Pseudonymization `json:"pseudonymization"`
}

// readPrevious loads a previous slice into a transform.Previous, noting in
// c which slice it is; why says why it cannot be compared with.
func readPrevious(ctx context.Context, snaps Snapshots, prev schemas.Key, endpoint schemas.Endpoint, c *Changes,
	inMemory int) (*transform.Previous, string) {
	raw, err := snaps.ReadManifest(ctx, prev)
	if err != nil {
		return nil, fmt.Sprintf("the previous snapshot's manifest could not be read: %v", err)
	}
	var m prevManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Sprintf("the previous snapshot's manifest is not valid JSON: %v", err)
	}
	if m.Endpoint == "" {
		m.Endpoint = schemas.UserRegistrationDetails
	}
	// The slice compared with is recorded once it is known to be
	// comparable, or never will be: a read that failed leaves it out, so
	// a backfill sees the slice's changes as not linked and derives them.
	linked := func() {
		c.PreviousRunID, c.PreviousRawDigest = m.RunID, m.Raw.Digest
		if m.Pseudonymization != nil {
			c.PreviousKeyFingerprint = m.Pseudonymization.KeyFingerprint
		}
	}
	if m.Endpoint != endpoint {
		linked()
		return nil, fmt.Sprintf("the previous snapshot (%s) is from the %s report and this one from %s: their methods and states are not comparable",
			prev.DateString(), m.Endpoint, endpoint)
	}
	p := transform.NewPrevious(prev.Date, m.RunID, m.Endpoint)
	p.InMemory = inMemory
	if m.Pseudonymization != nil {
		p.KeyFingerprint = m.Pseudonymization.KeyFingerprint
	}
	if err := snaps.ScanColumns(ctx, schemas.UserRegistrationDetailsTable, prev, p.UserColumns(), p.AddUsers); err != nil {
		p.Release()
		return nil, fmt.Sprintf("the previous snapshot's users could not be read: %v", err)
	}
	if err := snaps.ScanColumns(ctx, schemas.UserAuthMethodsTable, prev, p.MethodColumns(), p.AddMethods); err != nil {
		p.Release()
		return nil, fmt.Sprintf("the previous snapshot's methods could not be read: %v", err)
	}
	linked()
	return p, ""
}

// finish writes what the slice's History derives once every user is in:
// the previous snapshot's users who are gone, then the summary row.
func (sh *sliceHistory) finish(ctx context.Context, write func(transform.Batch) error) error {
	if why := sh.hist.Incomparable(); why != "" {
		sh.changes.Skipped = why
	}
	if sh.hist.Compared() && sh.gone != nil {
		if err := sh.readGone(write); err != nil {
			return fmt.Errorf("reading the previous snapshot's users again for registration_changes: %w", err)
		}
	}
	// A previous snapshot too large to hold was spilled to local files:
	// its comparison runs now, a partition at a time.
	sent := 0
	err := sh.hist.Join(func(b transform.Batch) error { sent++; return write(b) })
	skipped := false
	switch {
	case err == nil:
	case errors.Is(err, transform.ErrSpill) && sent == 0:
		// The local files failed (a full disk, most likely) before any
		// change row reached the sink: the snapshot is published without
		// its changes, as when the previous one cannot be read, and left
		// unlinked so a backfill derives them.
		sh.log.Warn("no registration_changes for this slice", "previous_snapshot", sh.changes.PreviousSnapshotDate, "why", err)
		sh.changes.Skipped = fmt.Sprintf("the comparison could not run: %v", err)
		sh.changes.PreviousRunID, sh.changes.PreviousRawDigest, sh.changes.PreviousKeyFingerprint = "", "", ""
		skipped = true
	default:
		// Rows already in the sink cannot be taken back, and a slice with
		// part of its changes would pass for complete: the tenant fails.
		// Join finds every write failure before its first row, so this is
		// a spill file that could not be read back, or the sink.
		return fmt.Errorf("comparing with the previous snapshot for registration_changes: %w", err)
	}
	if err := writeBatches(sh.hist.Finish(), write); err != nil {
		return err
	}
	if !skipped {
		sh.changes.Rows = sh.hist.Changes()
	}
	return nil
}

// readGone feeds History.Gone the previous slice's users from the copy.
func (sh *sliceHistory) readGone(write func(transform.Batch) error) error {
	if _, err := sh.gone.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r, err := ipc.NewReader(sh.gone)
	if err != nil {
		return err
	}
	defer r.Release()
	for r.Next() {
		batches, err := sh.hist.Gone(r.RecordBatch())
		if err != nil {
			return err
		}
		if err := writeBatches(batches, write); err != nil {
			return err
		}
	}
	return r.Err()
}

func (sh *sliceHistory) release() {
	if sh == nil {
		return
	}
	sh.hist.Release()
	if sh.previous != nil {
		sh.previous.Release()
	}
	if sh.gone != nil {
		sh.gone.Close()
		os.Remove(sh.gone.Name())
		sh.gone = nil
	}
}
