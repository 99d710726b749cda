package transform

import (
	"fmt"
	"maps"
	"strings"
	"time"
)

// A sharded listing reads a report that Graph recomputes while we read it:
// a user whose shard boolean flips between the reads of two shards is
// listed by both (or by neither; the pipeline recovers those). Such a
// repeat is not a broken record: it is the same user read twice, and the
// copy with the later lastUpdatedDateTime is the truer one (on a tie, or on
// the beta report, which has no such field, the copy read later). A repeat
// inside one shard's chain of pages is something else — Graph listing a
// user twice in one listing — and stays a duplicate_id reject.
//
// A Transformer streams, so when a later copy wins, the earlier one has
// already been written. Superseded reports how many such copies were
// written; the caller then transforms the same pages again with
// Options.Winners set to Winners(), which loads exactly the winning copy
// of each user read twice. The result does not depend on the order the
// caller learnt things in, only on the pages and their sequence numbers,
// so a replay from the raw zone gives the same rows.

// RecordRef names one record of a snapshot's pages: the page's sequence
// number in the run and the record's index in the page.
type RecordRef struct {
	Seq   int64 `json:"seq"`
	Index int   `json:"index"`
}

// before orders records by when they were read.
func (r RecordRef) before(o RecordRef) bool {
	return r.Seq < o.Seq || r.Seq == o.Seq && r.Index < o.Index
}

// seenCopy is what a Transformer remembers of an id: the copy that wins
// so far and every shard that listed it.
type seenCopy struct {
	ref     RecordRef
	updated int64  // lastUpdatedDateTime in Unix nanoseconds; noUpdate when absent
	shards  uint64 // bit i: Transformer.shards[i] listed the id
}

const noUpdate = int64(-1 << 63)

func updatedNanos(t *time.Time) int64 {
	if t == nil {
		return noUpdate
	}
	return t.UnixNano()
}

// newer reports whether copy a (read as ra) is truer than copy b (read as rb).
func newer(aUpdated int64, ra RecordRef, bUpdated int64, rb RecordRef) bool {
	if aUpdated != bUpdated {
		return aUpdated > bUpdated
	}
	return rb.before(ra)
}

// shardIndex interns a shard name. A listing has at most 16 shards, plus
// the unsharded listing and the lookups: far below the 64 a mask holds.
func (t *Transformer) shardIndex(name string) int32 {
	for i, s := range t.shards {
		if s == name {
			return int32(i)
		}
	}
	if len(t.shards) == 64 {
		panic("transform: more than 64 shards in one snapshot")
	}
	t.shards = append(t.shards, strings.Clone(name))
	return int32(len(t.shards) - 1)
}

// decide says whether a decoded record loads. The decision depends only
// on the copies and their references, not on the order they come in: a
// shard's pages come in order, so its first copy of an id is always the
// same one, and a later copy in the same shard is a duplicate_id reject;
// among the first copies of the shards, the truer one wins (newer). The
// order only decides which losing copies were written before their
// winner came (Superseded), which a second pass with Winners repairs.
func (t *Transformer) decide(rec *Record, ref RecordRef, shard int32) (bool, error) {
	return t.decideKeyed(rec, decideKeyOf(rec), ref, shard)
}

// decideKey is what decide needs of a record besides its id string: the
// id parsed as a GUID, and lastUpdatedDateTime in nanoseconds. DecodePage
// computes it on the reader's goroutine, where the record's bytes are
// still in cache; on the deciding goroutine the two cost a third of
// decide (a parse, and a cache miss through LastUpdatedAt).
type decideKey struct {
	g       guid
	isGUID  bool
	updated int64
}

func decideKeyOf(rec *Record) decideKey {
	g, ok := parseGUID(rec.ID)
	return decideKey{g: g, isGUID: ok, updated: updatedNanos(rec.LastUpdatedAt)}
}

// decideKeyed is decide with the record's decideKey.
func (t *Transformer) decideKeyed(rec *Record, dk decideKey, ref RecordRef, shard int32) (bool, error) {
	if t.decideHook != nil {
		return t.decideHook(rec, ref, shard)
	}
	if w, ok := t.opts.Winners[rec.ID]; ok {
		return t.decideWinner(rec, w, ref, shard)
	}
	if t.spillErr != nil {
		// The spill could not start: Err reports it, the snapshot is
		// not published, and memory stays where it was.
		return true, nil
	}
	upd := dk.updated
	k := seenKey{id: rec.ID, g: dk.g, isGUID: dk.isGUID}
	if t.spill != nil {
		// Optimistic: see seen_spill.go.
		t.spill.add(spillEntry{key: spillKeyOf(k), shard: uint8(shard), ref: ref, updated: upd}, k)
		return true, nil
	}
	bit := uint64(1) << shard
	prev, seen := t.seen.get(k)
	if seen && prev.shards&bit != 0 {
		// Named too, though it needs no second pass: if one runs, it
		// must decide this id exactly even past SeenInMemory.
		t.name(rec.ID, prev.ref, false)
		return false, recordError(ReasonDuplicateID, "id", rec.ID, "field id: %q already loaded earlier in this snapshot", rec.ID)
	}
	if !seen {
		t.seen.put(k, seenCopy{ref: ref, updated: upd, shards: bit})
		if t.seenLimit > 0 && t.seen.len() > t.seenLimit {
			t.startSpill()
		}
		return true, nil
	}
	prev.shards |= bit
	t.stats.MovedBetweenShards++
	// Every id read twice is named, whichever copy won: a second pass
	// that reads the pages in another order must load the same copy.
	if !newer(upd, ref, prev.updated, prev.ref) {
		t.name(rec.ID, prev.ref, false)
		t.seen.put(k, prev)
		return false, nil
	}
	t.superseded++
	t.name(rec.ID, ref, true)
	prev.ref, prev.updated = ref, upd
	t.seen.put(k, prev)
	return true, nil
}

// name records ref as the winning copy of id: always when replace, else
// only when id has none yet.
func (t *Transformer) name(id string, ref RecordRef, replace bool) {
	if t.winners == nil {
		t.winners = map[string]RecordRef{}
	}
	if _, ok := t.winners[id]; ok {
		if replace {
			t.winners[id] = ref
		}
		return
	}
	t.winners[strings.Clone(id)] = ref
}

// decideWinner decides a copy of an id Options.Winners names, on a second
// pass: exactly the winning copy loads; a repeat within a shard is still a
// duplicate_id reject, any other copy moved.
func (t *Transformer) decideWinner(rec *Record, w, ref RecordRef, shard int32) (bool, error) {
	bit := uint64(1) << shard
	mask := t.winnerSeen[rec.ID]
	if mask&bit != 0 {
		return false, recordError(ReasonDuplicateID, "id", rec.ID, "field id: %q already loaded earlier in this snapshot", rec.ID)
	}
	if t.winnerSeen == nil {
		t.winnerSeen = map[string]uint64{}
	}
	// A clone either way: assigning to a key already there stores the
	// key given, and rec.ID would keep the record's buffer alive.
	t.winnerSeen[strings.Clone(rec.ID)] = mask | bit
	if w != ref {
		t.stats.MovedBetweenShards++
	}
	return w == ref, nil
}

// startSpill moves what seen holds to a seenSpill. When the temporary
// files cannot be created, Err reports it from then on and decide stops
// remembering ids: deciding in memory instead would grow without bound,
// the very thing SeenInMemory exists to prevent (a tenant too large for
// its memory limit would be killed rather than fail with a reason).
func (t *Transformer) startSpill() {
	s, err := newSeenSpill(min(t.seenLimit, maxSpillRun))
	if err != nil {
		t.spillErr = fmt.Errorf("past %d ids in memory: %w", t.seenLimit, err)
		return
	}
	for g, p := range t.seen.byGUID {
		ref, shard := unpack(p.ref)
		mask := uint64(1) << shard
		if m, ok := t.seen.multi[g]; ok {
			mask = m
		}
		s.add(spillEntry{key: keyFromBytes(g[:], false), state: true, ref: ref, updated: p.updated, mask: mask}, seenKey{})
	}
	for id, c := range t.seen.byString {
		k := keyOf(id)
		s.add(spillEntry{key: spillKeyOf(k), state: true, ref: c.ref, updated: c.updated, mask: c.shards}, k)
	}
	t.seen = newSeenMem()
	t.spill = s
}

// maxSpillRun caps the entries of one run: 64 bytes each in memory
// (spillEntrySize), 56 in the file (seenEntrySize), so a 2 MiB buffer and
// 2 MiB more for flush to partition it in.
const maxSpillRun = 1 << 15

// Superseded is how many copies already written lost to a later copy of
// the same user: when it is not zero, the batches returned so far hold
// users twice, and the pages must be transformed again with
// Options.Winners = Winners(). Past Options.SeenInMemory ids it also
// counts the repeats and losing copies loaded optimistically.
func (t *Transformer) Superseded() int {
	n := t.superseded
	if t.spill != nil {
		n += t.spill.resolved().superseded
	}
	return n
}

// Winners maps each id read more than once (in more than one shard, or
// twice in one) to its winning copy.
func (t *Transformer) Winners() map[string]RecordRef {
	if t.spill == nil {
		return t.winners
	}
	r := t.spill.resolved()
	if len(r.winners) == 0 {
		return t.winners
	}
	w := maps.Clone(t.winners)
	if w == nil {
		w = map[string]RecordRef{}
	}
	maps.Copy(w, r.winners)
	return w
}

// Loaded reports whether a user with id is loaded: one of its copies is
// in the batches (a second pass may still pick another of its copies).
// Every id of a record that passed the contract has a copy loaded, so
// this is whether such a record was read.
func (t *Transformer) Loaded(id string) bool {
	loaded, _ := t.Lookup(id)
	return loaded
}

// Lookup answers Loaded and whether a record with id was rejected for its
// contents, in one lookup: past Options.SeenInMemory a lookup may read the
// disk, and the reconciliation asks both of every previous user.
// Has(id) is loaded || rejected; rejected is false when loaded.
func (t *Transformer) Lookup(id string) (loaded, rejected bool) {
	if t.loaded(id) {
		return true, false
	}
	_, rejected = t.rejectedIDs[id]
	return false, rejected
}

func (t *Transformer) loaded(id string) bool {
	if _, ok := t.winnerSeen[id]; ok {
		return true
	}
	if t.seen.has(id) {
		return true
	}
	return t.spill != nil && t.spill.has(spillKeyOf(keyOf(id)))
}

// Has reports whether a record with id has been read, loaded or not (a
// copy that lost, a repeat, a record rejected for its contents).
func (t *Transformer) Has(id string) bool {
	loaded, rejected := t.Lookup(id)
	return loaded || rejected
}

// Err reports a failure of duplicate detection past Options.SeenInMemory:
// its temporary folder could not be created, or its files written or
// read. The error names the folder. Once set it stays set, and nothing
// retries: when not nil, Superseded, Winners, Stats, Loaded, Lookup and
// Has may be wrong (a user may be loaded twice, a second pass skipped),
// so the caller must not publish what the Transformer wrote. Memory stays
// bounded meanwhile: ids are no longer remembered, nor spilled. Check it
// after Finish, after a second pass, and before publishing.
func (t *Transformer) Err() error {
	if t.spillErr != nil {
		return fmt.Errorf("duplicate detection: %w", t.spillErr)
	}
	if t.spill != nil && t.spill.err != nil {
		return t.spill.err
	}
	return nil
}

// spillStats corrects s for the copies loaded optimistically (see
// seen_spill.go) with the last merge, and merges first only when no page
// came since Finish. Stats is called per page for progress: merging then,
// even only when the entries grew by a sixteenth, merged 76 times over a
// million ids (6.7 s, against 0.9 s for the one merge at the end).
func (t *Transformer) spillStats(s *Stats) {
	if t.spill == nil {
		return
	}
	sp := t.spill
	if t.finished {
		sp.resolved()
	}
	r := &sp.res
	s.Users += r.users
	s.Rejected += r.rejected
	s.MovedBetweenShards += r.moved
	if r.rejected > 0 {
		s.RejectsByReason[ReasonDuplicateID] += r.rejected
	}
}
