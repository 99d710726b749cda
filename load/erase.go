package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"gocloud.dev/blob"

	"github.com/credreg/credreg/schemas"
)

// erasuresDir holds the erasure log: one JSON file per erasure, naming
// what was rewritten, never whom.
const erasuresDir = "_erasures"

// UserMatch names one person in a slice's rows: a row is theirs when its
// user_id is one of IDs or its user_principal_name one of UPNs (both
// compared case-insensitively), or, in rejected_records, when its
// raw_json holds any of them as a JSON string (a record that could not be
// read may still carry their name).
type UserMatch struct {
	IDs  []string
	UPNs []string
}

// row reports whether row i of rec, a batch of a table with the given
// column indexes, is the person's.
func (m UserMatch) row(cols matchColumns, rec arrow.RecordBatch, i int) bool {
	if c := cols.column(rec, cols.id); c != nil && c.IsValid(i) && anyEqualFold(m.IDs, c.Value(i)) {
		return true
	}
	if c := cols.column(rec, cols.upn); c != nil && c.IsValid(i) && anyEqualFold(m.UPNs, c.Value(i)) {
		return true
	}
	if c := cols.column(rec, cols.raw); c != nil && c.IsValid(i) {
		// As a JSON string, quotes included: another user whose UPN
		// merely contains theirs keeps their reject.
		v := strings.ToLower(c.Value(i))
		for _, x := range append(append([]string(nil), m.IDs...), m.UPNs...) {
			if x != "" && strings.Contains(v, `"`+strings.ToLower(x)+`"`) {
				return true
			}
		}
	}
	return false
}

func anyEqualFold(xs []string, v string) bool {
	for _, x := range xs {
		if x != "" && strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// matchColumns are the indexes of the columns a UserMatch reads in one
// table; -1 when the table has none. A table with none of them (the daily
// summary: counts, no names) is copied as it is.
type matchColumns struct{ id, upn, raw int }

func columnsOf(t *schemas.Table) matchColumns {
	idx := func(name string) int {
		if is := t.Arrow().FieldIndices(name); len(is) > 0 {
			return is[0]
		}
		return -1
	}
	return matchColumns{id: idx("user_id"), upn: idx("user_principal_name"), raw: idx("raw_json")}
}

func (c matchColumns) any() bool { return c.id >= 0 || c.upn >= 0 || c.raw >= 0 }

func (matchColumns) column(rec arrow.RecordBatch, i int) *array.String {
	if i < 0 {
		return nil
	}
	s, _ := rec.Column(i).(*array.String)
	return s
}

// SliceErasure is what EraseUser did, or with DryRun would do, to one
// slice: rows removed per table (every table listed, zeros included).
type SliceErasure struct {
	Key     schemas.Key
	Removed map[string]int64
	// Rewritten says the slice's files were replaced; false for a dry
	// run and for a slice that held nothing of the person and whose
	// Locked asked for no rewrite.
	Rewritten bool
	Files     []FileInfo
}

// RowsRemoved totals Removed.
func (e SliceErasure) RowsRemoved() int64 {
	var n int64
	for _, v := range e.Removed {
		n += v
	}
	return n
}

// EraseOptions configure EraseUser.
type EraseOptions struct {
	// RunID names the erasure in the lease and the files' metadata.
	RunID    string
	LockWait time.Duration
	// DryRun counts the rows that would go and writes nothing; it takes
	// no lease.
	DryRun bool
	// Locked, when set, runs once the slice's lease is held, before the
	// slice is read: the pipeline rewrites the raw runs of the slice
	// there, so that no backfill replays them meanwhile. rewrite asks
	// for the slice to be rewritten even when none of its rows is the
	// person's (its manifest must change); its error stops the erasure,
	// the slice untouched.
	Locked func(ctx context.Context) (rewrite bool, err error)
	// Manifest makes the slice's new manifest from the files written and
	// the rows removed, still under the lease; nil, or a nil result,
	// writes none (see CommitWith).
	Manifest func(files []FileInfo, removed map[string]int64) ([]byte, error)
}

// EraseUser rewrites one slice without the rows of one person, for a
// data-subject request: every table with a user_id, user_principal_name
// or raw_json column is filtered (see UserMatch), every other table —
// the daily summary, counts without names — is copied as it is, and the
// slice is published as a run publishes it: under its lease, staged,
// then every file and the manifest replaced atomically (see the package
// doc). Rows keep their run_id; the files' metadata names opts.RunID.
//
// A slice being written is refused with a *LeaseHeldError, as Begin
// refuses it. A slice that holds nothing of the person is left as it is
// unless Locked asks for a rewrite. A table file the slice lacks is
// written empty, as Commit writes every table. On a Sub (a failed run's
// folder) there is no lease, as for any Sub.
//
// Errors name the slice and the table, never the person.
func (w *Warehouse) EraseUser(ctx context.Context, key schemas.Key, m UserMatch, o EraseOptions) (SliceErasure, error) {
	res := SliceErasure{Key: key, Removed: map[string]int64{}}
	if len(m.IDs) == 0 && len(m.UPNs) == 0 {
		return res, errors.New("load: erase: no id or UPN to match")
	}
	if o.DryRun {
		for _, t := range schemas.Tables {
			n, err := w.eraseTable(ctx, t, key, m, nil)
			if err != nil {
				return res, err
			}
			res.Removed[t.Name] = n
		}
		return res, nil
	}
	if o.RunID == "" {
		return res, errors.New("load: erase: the run id is empty")
	}
	sw, err := w.Begin(ctx, key, o.RunID, WriterOptions{LockWait: o.LockWait})
	if err != nil {
		return res, err
	}
	defer sw.Abort()
	rewrite := false
	if o.Locked != nil {
		if rewrite, err = o.Locked(ctx); err != nil {
			return res, err
		}
	}
	for _, t := range schemas.Tables {
		n, err := w.eraseTable(ctx, t, key, m, sw)
		if err != nil {
			return res, err
		}
		res.Removed[t.Name] = n
	}
	if res.RowsRemoved() == 0 && !rewrite {
		return res, nil // Abort: the slice stays as it was
	}
	var manifest func([]FileInfo) ([]byte, error)
	if o.Manifest != nil {
		manifest = func(files []FileInfo) ([]byte, error) { return o.Manifest(files, res.Removed) }
	}
	files, err := sw.CommitWith(ctx, manifest)
	if err != nil {
		return res, err
	}
	res.Rewritten, res.Files = true, files
	return res, nil
}

// eraseTable reads a table of the slice and, when sw is set, writes back
// the rows that are not the person's; it returns how many are. A table
// the slice lacks has none.
func (w *Warehouse) eraseTable(ctx context.Context, t *schemas.Table, key schemas.Key, m UserMatch, sw *SliceWriter) (int64, error) {
	tbl, err := w.ReadSlice(ctx, t, key)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load: erase from %s of %s/%s: %w", t.Name, key.DateString(), key.Tenant, err)
	}
	defer tbl.Release()
	cols := columnsOf(t)
	tr := array.NewTableReader(tbl, 64<<10)
	defer tr.Release()
	var removed int64
	for tr.Next() {
		rec := tr.RecordBatch()
		n := int(rec.NumRows())
		start := 0 // of the run of kept rows being gathered
		flush := func(end int) error {
			if sw == nil || end <= start {
				return nil
			}
			part := rec.NewSlice(int64(start), int64(end))
			defer part.Release()
			return sw.Write(ctx, t, part)
		}
		for i := range n {
			if !cols.any() || !m.row(cols, rec, i) {
				continue
			}
			removed++
			if err := flush(i); err != nil {
				return 0, err
			}
			start = i + 1
		}
		if err := flush(n); err != nil {
			return 0, err
		}
	}
	return removed, nil
}

// ErasureLogKey is where WriteErasureLog puts the log of an erasure
// named id, relative to the warehouse: _erasures/<id>.json.
func ErasureLogKey(id string) string { return erasuresDir + "/" + id + ".json" }

// WriteErasureLog stores the record of one erasure at ErasureLogKey(id).
// The log says what was rewritten, never whom: the caller puts no
// personal data in it.
func (w *Warehouse) WriteErasureLog(ctx context.Context, id string, data []byte) error {
	if id == "" || strings.ContainsAny(id, "/\\") || strings.Contains(id, "..") {
		return fmt.Errorf("load: erasure id %q cannot name a file", id)
	}
	k := w.prefix + ErasureLogKey(id)
	if err := w.bucket.WriteAll(ctx, k, data, &blob.WriterOptions{ContentType: "application/json"}); err != nil {
		return blobError("write erasure log", k, err)
	}
	return nil
}

// FailedRuns lists the run ids that have a folder in _failed (see
// Failed): the slices kept for inspection hold people's rows too.
func (w *Warehouse) FailedRuns(ctx context.Context) ([]string, error) {
	prefix := w.prefix + failedDir + "/"
	it := w.bucket.List(&blob.ListOptions{Prefix: prefix, Delimiter: "/"})
	var ids []string
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return ids, nil
		}
		if err != nil {
			return nil, blobError("list", prefix, err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(obj.Key, prefix), "/")
		if id, ok := strings.CutPrefix(name, "run_id="); ok && obj.IsDir && id != "" {
			ids = append(ids, id)
		}
	}
}

// SliceKeys lists every slice that has a manifest or a file of any
// table, sorted by date then tenant: every slice that can hold a row.
func (w *Warehouse) SliceKeys(ctx context.Context) ([]schemas.Key, error) {
	seen := map[string]bool{}
	var out []schemas.Key
	add := func(keys []schemas.Key) {
		for _, k := range keys {
			if id := k.DateString() + "/" + k.Tenant; !seen[id] {
				seen[id] = true
				out = append(out, k)
			}
		}
	}
	for _, t := range schemas.Tables {
		keys, err := w.Slices(ctx, t)
		if err != nil {
			return nil, err
		}
		add(keys)
	}
	keys, err := w.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	add(keys)
	sortKeys(out)
	return out, nil
}
