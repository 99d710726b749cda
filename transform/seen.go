package transform

import (
	"math/bits"
	"strings"
)

// seenMem is the exact, in-memory record of the ids of a snapshot that
// decide works with: for each id, the copy that wins so far and the shards
// that listed it (a seenCopy). A million ids as map[string]seenCopy cost
// about 120 bytes each (the cloned string, its header, a 32-byte value);
// Graph's ids are GUIDs, so most are kept as a 16-byte key and a 16-byte
// value instead, about half that, and the shard mask only for the few ids
// listed by more than one shard.
type seenMem struct {
	byGUID map[guid]packedCopy
	// multi holds the shard masks of the GUID ids of byGUID listed by
	// more than one shard (users moved during a sharded run: few).
	multi map[guid]uint64
	// byString holds the ids that are not lowercase GUIDs (tests, and
	// anything Graph might send one day), and those whose reference does
	// not pack (see pack).
	byString map[string]seenCopy
}

// packedCopy is a seenCopy of a GUID id listed by one shard, or by several
// when multi has its mask.
type packedCopy struct {
	ref     uint64 // see pack
	updated int64
}

// Bits of a packed reference: seq (32) | index (26) | shard (6). A page
// holds at most a few thousand records and a run a few million pages, so
// every reference fits; one that does not is kept unpacked.
const (
	packShardBits = 6
	packIndexBits = 26
)

// pack packs ref and shard, or reports that they do not fit.
func pack(ref RecordRef, shard int32) (uint64, bool) {
	if ref.Seq < 0 || ref.Seq >= 1<<32 || ref.Index < 0 || ref.Index >= 1<<packIndexBits || shard < 0 || shard >= 1<<packShardBits {
		return 0, false
	}
	return uint64(ref.Seq)<<(packIndexBits+packShardBits) | uint64(ref.Index)<<packShardBits | uint64(shard), true
}

func unpack(p uint64) (RecordRef, int32) {
	return RecordRef{Seq: int64(p >> (packIndexBits + packShardBits)), Index: int((p >> packShardBits) & (1<<packIndexBits - 1))},
		int32(p & (1<<packShardBits - 1))
}

func newSeenMem() *seenMem {
	return &seenMem{byGUID: map[guid]packedCopy{}}
}

// seenKey is an id parsed once for the lookups of one record.
type seenKey struct {
	id     string
	g      guid
	isGUID bool
}

func keyOf(id string) seenKey {
	g, ok := parseGUID(id)
	return seenKey{id: id, g: g, isGUID: ok}
}

func (s *seenMem) len() int { return len(s.byGUID) + len(s.byString) }

// get returns what is remembered of k.
func (s *seenMem) get(k seenKey) (seenCopy, bool) {
	if k.isGUID {
		if p, ok := s.byGUID[k.g]; ok {
			ref, shard := unpack(p.ref)
			mask := uint64(1) << shard
			if len(s.multi) > 0 {
				if m, ok := s.multi[k.g]; ok {
					mask = m
				}
			}
			return seenCopy{ref: ref, updated: p.updated, shards: mask}, true
		}
	}
	if len(s.byString) == 0 {
		return seenCopy{}, false
	}
	c, ok := s.byString[k.id]
	return c, ok
}

// put remembers c as what is known of k, replacing what was.
func (s *seenMem) put(k seenKey, c seenCopy) {
	if k.isGUID {
		if p, ok := pack(c.ref, lowestShard(c.shards)); ok {
			s.byGUID[k.g] = packedCopy{ref: p, updated: c.updated}
			if c.shards&(c.shards-1) != 0 {
				if s.multi == nil {
					s.multi = map[guid]uint64{}
				}
				s.multi[k.g] = c.shards
			}
			if len(s.byString) > 0 {
				delete(s.byString, k.id)
			}
			return
		}
		delete(s.byGUID, k.g)
		delete(s.multi, k.g)
	}
	if s.byString == nil {
		s.byString = map[string]seenCopy{}
	}
	// Always a clone: assigning to a key already there stores the key
	// given too, and rec.ID would keep the record's buffer alive.
	s.byString[strings.Clone(k.id)] = c
}

func (s *seenMem) has(id string) bool {
	_, ok := s.get(keyOf(id))
	return ok
}

// lowestShard is the index of the lowest bit of a non-empty mask.
func lowestShard(mask uint64) int32 { return int32(bits.TrailingZeros64(mask)) }
