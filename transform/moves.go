package transform

import (
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
	bit := uint64(1) << shard
	upd := updatedNanos(rec.LastUpdatedAt)
	k := keyOf(rec.ID)
	prev, seen := t.seen.get(k)
	if seen && prev.shards&bit != 0 {
		return false, recordError(ReasonDuplicateID, "id", rec.ID, "field id: %q already loaded earlier in this snapshot", rec.ID)
	}
	if !seen {
		t.seen.put(k, seenCopy{ref: ref, updated: upd, shards: bit})
		if w, ok := t.opts.Winners[rec.ID]; ok && w != ref {
			// Second pass: this copy lost to one still to come.
			t.stats.MovedBetweenShards++
			return false, nil
		}
		return true, nil
	}
	prev.shards |= bit
	if w, ok := t.opts.Winners[rec.ID]; ok {
		// Second pass: exactly the winning copy loads.
		t.seen.put(k, prev)
		if w != ref {
			t.stats.MovedBetweenShards++
		}
		return w == ref, nil
	}
	t.stats.MovedBetweenShards++
	if t.winners == nil {
		t.winners = map[string]RecordRef{}
	}
	// Every id read twice is named, whichever copy won: a second pass
	// that reads the pages in another order must load the same copy.
	if !newer(upd, ref, prev.updated, prev.ref) {
		if _, ok := t.winners[rec.ID]; !ok {
			t.winners[strings.Clone(rec.ID)] = prev.ref
		}
		t.seen.put(k, prev)
		return false, nil
	}
	t.superseded++
	t.winners[strings.Clone(rec.ID)] = ref
	prev.ref, prev.updated = ref, upd
	t.seen.put(k, prev)
	return true, nil
}

// Superseded is how many copies already written lost to a later copy of
// the same user: when it is not zero, the batches returned so far hold
// users twice, and the pages must be transformed again with
// Options.Winners = Winners().
func (t *Transformer) Superseded() int { return t.superseded }

// Winners maps each id read in more than one shard to its winning copy.
func (t *Transformer) Winners() map[string]RecordRef { return t.winners }

// Loaded reports whether a user with id is loaded: one of its copies is
// in the batches (a second pass may still pick another of its copies).
func (t *Transformer) Loaded(id string) bool {
	return t.seen.has(id)
}

// Has reports whether a record with id has been read, loaded or not (a
// copy that lost, a repeat, a record rejected for its contents).
func (t *Transformer) Has(id string) bool {
	if t.seen.has(id) {
		return true
	}
	_, ok := t.rejectedIDs[id]
	return ok
}
