package transform

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
)

func randomEntry(rng *rand.Rand) spillEntry {
	e := spillEntry{shard: uint8(rng.IntN(4)), ref: RecordRef{Seq: rng.Int64N(5), Index: rng.IntN(5)}, updated: rng.Int64N(3)}
	e.key.hi = uint64(rng.IntN(3)) << 56 // few distinct keys: groups
	e.key.lo = uint64(rng.IntN(2))
	e.key.hash = rng.IntN(2) == 0
	e.state = rng.IntN(4) == 0
	return e
}

// TestMergeSeenRunsYieldsEveryEntryInOrder merges runs on disk and in
// memory, some empty, and checks the result is all of them, sorted.
func TestMergeSeenRunsYieldsEveryEntryInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, runs := range []int{0, 1, 2, 3, 17} {
		s, err := newSeenSpill(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		var all []spillEntry
		for r := range runs {
			n := rng.IntN(40)
			if r == 1 {
				n = 0
			}
			for range n {
				e := randomEntry(rng)
				all = append(all, e)
				s.buf = append(s.buf, e)
			}
			s.flush()
		}
		mem := make([]spillEntry, rng.IntN(10))
		for i := range mem {
			mem[i] = randomEntry(rng)
		}
		all = append(all, mem...)
		srcs := []seenSource{&seenMemRun{es: mem, order: sortEntries(mem, nil), mask: orderMask(len(mem))}}
		for _, r := range s.list {
			srcs = append(srcs, s.runSource(r))
		}
		var got []spillEntry
		if err := mergeSeenRuns(srcs, func(e spillEntry) { got = append(got, e) }); err != nil {
			t.Fatal(err)
		}
		if !slices.IsSortedFunc(got, cmpEntry) {
			t.Fatalf("%d runs: merged out of order", runs)
		}
		// The same entries: in a total order, the slices are equal.
		total := func(a, b spillEntry) int {
			return cmp.Or(cmpEntry(a, b), cmp.Compare(a.updated, b.updated), cmp.Compare(a.shard, b.shard), cmp.Compare(a.mask, b.mask))
		}
		slices.SortFunc(all, total)
		slices.SortFunc(got, total)
		if !slices.Equal(got, all) {
			t.Fatalf("%d runs: merged %d entries, want %d: %v, want %v", runs, len(got), len(all), got, all)
		}
		s.close()
	}
}

// TestSortEntriesOrdersAsCmpEntry checks sortEntries against cmpEntry on
// keys random in their first bytes (the ties are an id's copies), keys
// that share their top bits and differ below them (the ties sortEntries
// must order after sorting), and few keys (long ties), up to a full run.
func TestSortEntriesOrdersAsCmpEntry(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	keys := map[string]func() spillKey{
		"random": func() spillKey { return spillKey{hi: rng.Uint64(), lo: rng.Uint64(), hash: rng.IntN(2) == 0} },
		"low bits": func() spillKey {
			return spillKey{hi: 0x0123456789ab0000 | rng.Uint64N(1<<18), lo: rng.Uint64N(3), hash: rng.IntN(2) == 0}
		},
		"few": func() spillKey { return randomEntry(rng).key },
	}
	var order []uint64
	for name, key := range keys {
		for _, n := range []int{0, 1, 2, 3, 100, 1000, maxSpillRun} {
			es := make([]spillEntry, n)
			for i := range es {
				es[i] = randomEntry(rng)
				if i > 0 && rng.IntN(8) == 0 {
					es[i].key = es[rng.IntN(i)].key // another copy of an id
				} else {
					es[i].key = key()
				}
			}
			order = sortEntries(es, order)
			mask := orderMask(n)
			got := make([]spillEntry, 0, n)
			seen := make([]bool, n)
			for _, o := range order {
				i := o & mask
				if i >= uint64(n) || seen[i] {
					t.Fatalf("%s, %d entries: index %d out of range or twice", name, n, i)
				}
				seen[i] = true
				got = append(got, es[i])
			}
			if len(got) != n {
				t.Fatalf("%s: %d indexes for %d entries", name, len(got), n)
			}
			if !slices.IsSortedFunc(got, cmpEntry) {
				t.Fatalf("%s, %d entries: not in cmpEntry order", name, n)
			}
		}
	}
}

// TestSeenFileRunRefusesACutEntry checks that a run cut inside an entry
// (a damaged file) is an error, not a shorter run: the merge must fail
// rather than answer from part of the ids.
func TestSeenFileRunRefusesACutEntry(t *testing.T) {
	e := spillEntry{key: spillKey{hi: 7, lo: 9}, ref: RecordRef{Seq: 3, Index: 4}, updated: 5}
	var b [seenEntrySize]byte
	e.encode(b[:])
	for _, cut := range []int{1, seenEntrySize / 2, seenEntrySize - 1} {
		data := append(append([]byte{}, b[:]...), b[:cut]...)
		r := &seenFileRun{r: bufio.NewReaderSize(bytes.NewReader(data), seenRunBuffer)}
		if got, ok, err := r.next(); !ok || err != nil || got != e {
			t.Fatalf("cut %d: first entry %+v, %t, %v; want %+v", cut, got, ok, err, e)
		}
		if _, ok, err := r.next(); ok || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut %d: an entry cut after %d bytes read as %t, %v; want io.ErrUnexpectedEOF", cut, cut, ok, err)
		}
	}
	r := &seenFileRun{r: bufio.NewReaderSize(bytes.NewReader(b[:]), seenRunBuffer)}
	r.next()
	if _, ok, err := r.next(); ok || err != nil {
		t.Fatalf("the end of a whole run read as %t, %v; want its end", ok, err)
	}
}

// TestSeenSpillHasEveryKeyAndNoOther checks the sorted keys file and its
// block index over many blocks and runs, GUIDs and hashed ids.
func TestSeenSpillHasEveryKeyAndNoOther(t *testing.T) {
	s, err := newSeenSpill(7)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	id := func(i int) string {
		if i%3 == 0 {
			return fmt.Sprintf("user-%d", i)
		}
		return fmt.Sprintf("%08x-0000-4000-8000-%012x", i*2654435761%(1<<32), i)
	}
	for i := 0; i < 2000; i += 2 {
		k := keyOf(id(i))
		s.add(spillEntry{key: spillKeyOf(k), ref: RecordRef{Seq: int64(i)}}, k)
	}
	if len(s.list) < 100 {
		t.Fatalf("%d runs, want many", len(s.list))
	}
	for i := range 2000 {
		if got := s.has(spillKeyOf(keyOf(id(i)))); got != (i%2 == 0) {
			t.Fatalf("has(%s) = %t", id(i), got)
		}
	}
	if s.nkeys != 1000 || len(s.index) != (1000+seenKeysPerBlock-1)/seenKeysPerBlock {
		t.Fatalf("%d keys in %d blocks", s.nkeys, len(s.index))
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
}

// TestResolveGroupDecidesAsDecide checks the decisions on one id's copies.
func TestResolveGroupDecidesAsDecide(t *testing.T) {
	ref := func(seq int64) RecordRef { return RecordRef{Seq: seq} }
	copyOf := func(seq int64, shard uint8, upd int64) spillEntry {
		return spillEntry{ref: ref(seq), shard: shard, updated: upd}
	}
	state := func(seq int64, mask uint64, upd int64) spillEntry {
		return spillEntry{state: true, ref: ref(seq), mask: mask, updated: upd}
	}
	tests := []struct {
		name  string
		group []spillEntry
		win   RecordRef
		want  seenResolution
	}{{
		name: "a repeat within a shard: the first stays", group: []spillEntry{copyOf(1, 0, 9), copyOf(2, 0, 9)},
		win: ref(1), want: seenResolution{superseded: 1, users: -1, rejected: 1},
	}, {
		name: "a tie across shards: the later wins", group: []spillEntry{copyOf(1, 0, 5), copyOf(2, 1, 5)},
		win: ref(2), want: seenResolution{superseded: 1, moved: 1},
	}, {
		name: "the newer read first wins", group: []spillEntry{copyOf(1, 0, 6), copyOf(2, 1, 5)},
		win: ref(1), want: seenResolution{superseded: 1, moved: 1, users: -1},
	}, {
		name: "the memory's winner beaten", group: []spillEntry{state(1, 0b11, 5), copyOf(3, 2, 7)},
		win: ref(3), want: seenResolution{superseded: 1, moved: 1},
	}, {
		name: "the memory's winner keeps, its shard repeats", group: []spillEntry{state(1, 0b11, 5), copyOf(3, 1, 7), copyOf(4, 2, 1)},
		win: ref(1), want: seenResolution{superseded: 2, moved: 1, users: -2, rejected: 1},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var res seenResolution
			if w := resolveGroup(tc.group, &res); w != tc.win || !equalResolution(res, tc.want) {
				t.Errorf("winner %v %+v, want %v %+v", w, res, tc.win, tc.want)
			}
		})
	}
}

func equalResolution(a, b seenResolution) bool {
	return a.superseded == b.superseded && a.users == b.users && a.rejected == b.rejected && a.moved == b.moved
}

func TestIDOfGUIDInvertsParseGUID(t *testing.T) {
	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "0123abcd-4567-89ef-abcd-ef0123456789", "ffffffff-ffff-ffff-ffff-ffffffffffff"} {
		g, ok := parseGUID(id)
		if !ok || guidString(g) != id {
			t.Errorf("%s: parsed %t, back %s", id, ok, guidString(g))
		}
	}
}
