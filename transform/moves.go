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

// seenCopy is what a Transformer remembers of the loaded copy of an id.
type seenCopy struct {
	ref     RecordRef
	updated int64 // lastUpdatedDateTime in Unix nanoseconds; noUpdate when absent
	shard   int32 // index into Transformer.shards
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

// shardIndex interns a shard name.
func (t *Transformer) shardIndex(name string) int32 {
	for i, s := range t.shards {
		if s == name {
			return int32(i)
		}
	}
	t.shards = append(t.shards, strings.Clone(name))
	return int32(len(t.shards) - 1)
}

// resolve decides what happens to a decoded record whose id was seen in
// another shard: it reports whether to load it. The loser is counted as
// moved; a winner that replaces a copy already written marks that copy
// superseded.
func (t *Transformer) resolve(rec *Record, ref RecordRef, shard int32) bool {
	prev := t.seen[rec.ID]
	upd := updatedNanos(rec.LastUpdatedAt)
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
		return false
	}
	t.superseded++
	t.winners[strings.Clone(rec.ID)] = ref
	t.seen[rec.ID] = seenCopy{ref: ref, updated: upd, shard: shard}
	return true
}

// Superseded is how many copies already written lost to a later copy of
// the same user: when it is not zero, the batches returned so far hold
// users twice, and the pages must be transformed again with
// Options.Winners = Winners().
func (t *Transformer) Superseded() int { return t.superseded }

// Winners maps each id read in more than one shard to its winning copy.
func (t *Transformer) Winners() map[string]RecordRef { return t.winners }

// Has reports whether a user with id has been loaded.
func (t *Transformer) Has(id string) bool {
	_, ok := t.seen[id]
	return ok
}
