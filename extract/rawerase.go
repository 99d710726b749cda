package extract

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unsafe"

	"gocloud.dev/blob"

	"github.com/credreg/credreg/internal/odata"
)

// RawMatch names one person in the raw zone: a record is theirs when its
// id is one of IDs or its userPrincipalName one of UPNs (both compared
// case-insensitively, as Entra compares them). A record that is not valid
// JSON is theirs when its bytes hold any of them.
type RawMatch struct {
	IDs  []string
	UPNs []string
}

func (m RawMatch) empty() bool { return len(m.IDs) == 0 && len(m.UPNs) == 0 }

// record reports whether a record's JSON is the person's. A record that
// is not valid JSON is theirs when it holds one of the ids or UPNs as a
// JSON string, quotes included, so that another user whose UPN merely
// contains theirs keeps their record.
func (m RawMatch) record(raw []byte, valid bool) bool {
	var r struct {
		ID  string `json:"id"`
		UPN string `json:"userPrincipalName"`
	}
	if !valid || json.Unmarshal(raw, &r) != nil {
		return m.quoted(raw)
	}
	return m.is(r.ID, r.UPN)
}

func (m RawMatch) is(id, upn string) bool {
	for _, x := range m.IDs {
		if id != "" && strings.EqualFold(x, id) {
			return true
		}
	}
	for _, x := range m.UPNs {
		if upn != "" && strings.EqualFold(x, upn) {
			return true
		}
	}
	return false
}

// mentioned reports whether b holds any of the ids or UPNs anywhere:
// the test for bodies whose structure cannot be read.
func (m RawMatch) mentioned(b []byte) bool { return m.contains(b, "") }

// quoted reports whether b holds any of them as a JSON string.
func (m RawMatch) quoted(b []byte) bool { return m.contains(b, `"`) }

func (m RawMatch) contains(b []byte, quote string) bool {
	lb := bytes.ToLower(b)
	for _, x := range append(append([]string(nil), m.IDs...), m.UPNs...) {
		if x != "" && bytes.Contains(lb, []byte(quote+strings.ToLower(x)+quote)) {
			return true
		}
	}
	return false
}

// RawErasure is what EraseFromRawRun changed, or with dryRun would
// change, in one raw run. It names no person.
type RawErasure struct {
	Prefix string `json:"prefix"`
	RunID  string `json:"run_id"`
	// PagesRewritten counts the pages rewritten without the person's
	// records; RecordsRemoved the records taken out of them.
	PagesRewritten int `json:"pages_rewritten"`
	RecordsRemoved int `json:"records_removed"`
	// ObjectsRemoved counts what was deleted whole: the answer to a
	// lookup of the person, and a body kept for inspection (not a report
	// page) that mentions them.
	ObjectsRemoved int `json:"objects_removed"`
	// IndexUpdated says the run's _index.json was rewritten to match.
	IndexUpdated bool `json:"index_updated"`
	// Index is the run's index as it is after the erasure (as it would be,
	// for a dry run); zero for a run without one.
	Index RawIndex `json:"-"`
}

// Changed reports whether the run held anything of the person.
func (e RawErasure) Changed() bool {
	return e.PagesRewritten > 0 || e.ObjectsRemoved > 0 || e.IndexUpdated
}

// EraseFromRawRun removes one person from the raw run in the folder
// prefix (as RawIndex.Prefix holds it), for a data-subject request: each
// page holding records of theirs is rewritten without them, keeping the
// rest of its bytes — the envelope (@odata.context, @odata.nextLink) and
// every other record exactly as Graph sent them; the answer to a lookup
// of them, and a body kept for inspection that mentions them, are
// deleted; aggregates (counts) are kept. The run's _index.json is then
// rewritten with each changed page's size, checksum and record count, and
// without the entries of deleted objects, so that the run's digest (see
// pipeline) is that of what the run now holds.
//
// A run folder is otherwise never changed; this is the one exception. It
// is safe to run again after an interruption: pages are rewritten first
// (each atomically), then the index, then objects are deleted, and every
// page's checksum is compared with its index entry, so an index left
// behind is mended by the next run. A run without an index (one that
// crashed) has its pages rewritten all the same.
//
// With dryRun it reads everything and writes nothing. The caller holds
// the slice's lease, so that no backfill replays the run meanwhile.
// Errors name object keys, never the person.
func EraseFromRawRun(ctx context.Context, bucket *blob.Bucket, prefix string, m RawMatch, dryRun bool) (RawErasure, error) {
	if m.empty() {
		return RawErasure{}, errors.New("raw zone: erase: no id or UPN to match")
	}
	res := RawErasure{Prefix: prefix, RunID: runIDOf(prefix)}
	idx, err := ReadRawIndex(ctx, bucket, prefix)
	hasIndex := err == nil
	if err != nil && !errors.Is(err, ErrNoRawIndex) {
		return res, err
	}
	entries := map[string]int{} // object key → position in idx.Pages
	for i, p := range idx.Pages {
		entries[p.Key] = i
	}
	keys, err := runObjects(ctx, bucket, prefix)
	if err != nil {
		return res, err
	}
	dropped := map[string]bool{}
	type rewrite struct {
		key  string
		body []byte
	}
	var rewrites []rewrite
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		body, err := ReadRawPage(ctx, bucket, key)
		if err != nil {
			return res, fmt.Errorf("raw zone: erase: reading %s: %w", key, err)
		}
		i, indexed := entries[key]
		var entry RawPage
		if indexed {
			entry = idx.Pages[i]
		}
		kind := objectKind(key, entry, indexed)
		newBody, removed, drop, err := eraseBody(kind, entry, body, m)
		if err != nil {
			return res, fmt.Errorf("raw zone: erase: %s: %w", key, err)
		}
		switch {
		case drop:
			dropped[key] = true
			res.ObjectsRemoved++
			continue
		case removed > 0:
			rewrites = append(rewrites, rewrite{key, newBody})
			res.PagesRewritten++
			res.RecordsRemoved += removed
		}
		if !indexed {
			continue
		}
		sum := sha256.Sum256(newBody)
		e := &idx.Pages[i]
		if e.SHA256 != hex.EncodeToString(sum[:]) || e.Bytes != len(newBody) {
			e.SHA256, e.Bytes = hex.EncodeToString(sum[:]), len(newBody)
			if kind == kindPage {
				if p, err := odata.Split(newBody); err == nil {
					e.Records = len(p.Records)
				}
			}
			res.IndexUpdated = true
		}
	}
	if hasIndex {
		kept := idx.Pages[:0:0]
		for _, p := range idx.Pages {
			if dropped[p.Key] {
				res.IndexUpdated = true
				continue
			}
			kept = append(kept, p)
		}
		idx.Pages = kept
		res.Index = idx
	}
	if dryRun {
		return res, nil
	}
	for _, r := range rewrites {
		if err := writeRawObject(ctx, bucket, r.key, r.body); err != nil {
			return res, err
		}
	}
	if hasIndex && res.IndexUpdated {
		if err := writeRawIndex(ctx, bucket, prefix, idx); err != nil {
			return res, err
		}
	}
	for key := range dropped {
		if err := bucket.Delete(ctx, key); err != nil {
			return res, fmt.Errorf("raw zone: erase: deleting %s: %w", key, err)
		}
	}
	return res, nil
}

// The kinds of object a run folder holds.
const (
	kindPage = iota
	kindLookup
	kindAggregate
	kindInvalid
)

// objectKind says what an object of a run is: from its index entry when
// there is one, else from its name (as Land* name them).
func objectKind(key string, e RawPage, indexed bool) int {
	name := path.Base(key)
	switch {
	case indexed && e.Invalid, !indexed && strings.Contains(name, ".invalid."):
		return kindInvalid
	case indexed && e.Kind == RawKindLookup, !indexed && strings.HasPrefix(name, "lookup-"):
		return kindLookup
	case indexed && e.Kind == RawKindAggregate, !indexed && strings.HasPrefix(name, "aggregate-"):
		return kindAggregate
	}
	return kindPage
}

// eraseBody returns body without the person's records and how many it
// removed, or drop when the whole object is theirs: a lookup of them, or
// a body kept for inspection that mentions them. A report page is never
// dropped, since it holds other people's records too: one that cannot be
// split but mentions them is an error.
func eraseBody(kind int, e RawPage, body []byte, m RawMatch) (newBody []byte, removed int, drop bool, err error) {
	switch kind {
	case kindAggregate:
		return body, 0, false, nil
	case kindInvalid:
		return body, 0, m.mentioned(body), nil
	case kindLookup:
		if m.is(e.UserID, "") {
			return nil, 0, true, nil
		}
		rec, err := odata.Entity(body)
		if err != nil {
			return body, 0, m.mentioned(body), nil
		}
		return body, 0, m.record(rec.Raw, true), nil
	}
	p, err := odata.Split(body)
	if err != nil {
		if m.mentioned(body) {
			return nil, 0, false, fmt.Errorf("the page cannot be split (%w) and mentions the person; nothing of the run was changed", err)
		}
		return body, 0, false, nil
	}
	var keep []odata.Record
	for _, r := range p.Records {
		if m.record(r.Raw, r.Err == nil) {
			removed++
			continue
		}
		keep = append(keep, r)
	}
	if removed == 0 {
		return body, 0, false, nil
	}
	out, ok := splice(body, p.Records, keep)
	if !ok {
		return nil, 0, false, errors.New("its records are not where the page holds them; nothing of the run was changed")
	}
	return out, removed, false, nil
}

// splice rebuilds a page body with only the records kept: the bytes
// before the first record and after the last stay as they are, and the
// kept records are joined by commas, each byte for byte. It relies on
// odata.Split's records being sub-slices of the body; ok is false if one
// is not.
func splice(body []byte, all, keep []odata.Record) ([]byte, bool) {
	first, ok := offset(body, all[0].Raw)
	if !ok {
		return nil, false
	}
	lastStart, ok := offset(body, all[len(all)-1].Raw)
	if !ok {
		return nil, false
	}
	end := lastStart + len(all[len(all)-1].Raw)
	var out bytes.Buffer
	out.Write(body[:first])
	for i, r := range keep {
		if i > 0 {
			out.WriteByte(',')
		}
		out.Write(r.Raw)
	}
	out.Write(body[end:])
	return out.Bytes(), true
}

// offset is where sub, a sub-slice of body, starts in it. Split caps its
// records' capacity, so the address is what tells; the bytes are checked.
func offset(body, sub []byte) (int, bool) {
	if len(body) == 0 {
		return 0, false
	}
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(sub))) - uintptr(unsafe.Pointer(unsafe.SliceData(body))))
	if off < 0 || off > len(body) || off+len(sub) > len(body) || !bytes.Equal(body[off:off+len(sub)], sub) {
		return 0, false
	}
	return off, true
}

// runObjects lists the landed objects of a run folder: every .json.gz.
func runObjects(ctx context.Context, bucket *blob.Bucket, prefix string) ([]string, error) {
	var keys []string
	it := bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return keys, nil
		}
		if err != nil {
			return nil, fmt.Errorf("raw zone: listing %s: %w", prefix, err)
		}
		if !obj.IsDir && strings.HasSuffix(obj.Key, ".json.gz") {
			keys = append(keys, obj.Key)
		}
	}
}

// writeRawObject replaces a landed object with body, gzip-compressed as
// Land writes it; the bucket publishes it whole or not at all.
func writeRawObject(ctx context.Context, bucket *blob.Bucket, key string, body []byte) error {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	if _, err := gz.Write(body); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	if err := bucket.WriteAll(ctx, key, buf.Bytes(), &blob.WriterOptions{ContentType: "application/gzip"}); err != nil {
		return fmt.Errorf("raw zone: erase: writing %s: %w", key, err)
	}
	return nil
}

// runIDOf reads the run id from a run folder's name.
func runIDOf(prefix string) string {
	id, _ := strings.CutPrefix(path.Base(strings.TrimSuffix(prefix, "/")), "run_id=")
	return id
}
