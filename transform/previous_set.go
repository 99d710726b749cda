package transform

import (
	"bytes"
	"slices"
	"strings"
)

// prevEntry is one GUID user of a previous snapshot held in memory: 32
// bytes, against the 60-80 a map entry costs.
type prevEntry struct {
	methods uint64 // bit i: the user had Previous.values[i] (i < 64)
	id      guid
	flags   flagSet
}

// prevUser is a user's previous state as a lookup returns it.
type prevUser struct {
	methods uint64
	flags   flagSet
	seen    bool // the snapshot being written has the user
}

// prevSet holds users of a previous snapshot in memory, compactly: the
// GUID users in a slice sorted by id (found by a bucket of the id's first
// two bytes, then a binary search), whether the new snapshot has them in
// a bitset by position, and the rare ids that are not lowercase GUIDs in
// a map. A whole snapshot of a small tenant is one prevSet; the
// partitioned join loads one partition at a time into one.
type prevSet struct {
	guids []prevEntry
	// sorted: guids is sorted and deduplicated and start indexes it;
	// adding a user clears it, the next lookup sorts again.
	sorted bool
	// start[b] is the first position of the ids whose first two bytes
	// are b, for large sets (nil for small ones).
	start []uint32
	seen  []uint64
	// byString holds the ids kept as strings, with their seen mark.
	byString map[string]prevUser
	// extra holds, by user id, the methods interned at 64 or later: only
	// a vocabulary grown past 64 values (malformed data) needs it.
	extra map[string][]uint16
}

func newPrevSet() *prevSet {
	return &prevSet{sorted: true, byString: map[string]prevUser{}, extra: map[string][]uint16{}}
}

// indexed is the size from which a set indexes its ids' first two bytes.
const indexed = 1 << 12

// len is how many users the set holds, a user listed twice counted twice
// until the next lookup.
func (s *prevSet) len() int { return len(s.guids) + len(s.byString) }

// add adds a user; a user added twice keeps the last state, as a map would.
func (s *prevSet) add(id string, fs flagSet) {
	if g, ok := parseGUID(id); ok {
		s.addGUID(g, fs, 0)
		return
	}
	s.byString[strings.Clone(id)] = prevUser{flags: fs}
}

func (s *prevSet) addGUID(g guid, fs flagSet, methods uint64) {
	s.guids = append(s.guids, prevEntry{id: g, flags: fs, methods: methods})
	s.sorted = false
}

// addMethod adds method i to the user find found at pos.
func (s *prevSet) addMethod(pos int, id string, i uint16) {
	if i >= 64 {
		s.extra[strings.Clone(id)] = appendUnique(s.extra[id], i)
		return
	}
	if pos >= 0 {
		s.guids[pos].methods |= 1 << i
		return
	}
	u := s.byString[id]
	u.methods |= 1 << i
	s.byString[id] = u
}

// seal sorts the GUID users by id, keeping the last of those added twice,
// and indexes them.
func (s *prevSet) seal() {
	if s.sorted {
		return
	}
	slices.SortStableFunc(s.guids, func(a, b prevEntry) int { return bytes.Compare(a.id[:], b.id[:]) })
	// Keep the last of each run of equal ids: it was added last.
	out := s.guids[:0]
	for i, e := range s.guids {
		if i+1 < len(s.guids) && s.guids[i+1].id == e.id {
			continue
		}
		out = append(out, e)
	}
	s.guids = slices.Clip(out)
	s.seen = make([]uint64, (len(s.guids)+63)/64)
	s.start = nil
	if len(s.guids) >= indexed {
		s.start = make([]uint32, 1<<16+1)
		b := 0
		for i, e := range s.guids {
			for k := int(e.id[0])<<8 | int(e.id[1]); b <= k; b++ {
				s.start[b] = uint32(i)
			}
		}
		for ; b <= 1<<16; b++ {
			s.start[b] = uint32(len(s.guids))
		}
	}
	s.sorted = true
}

// find returns the position of a GUID user, -1 for a user kept by its
// string, ok false for none.
func (s *prevSet) find(id string) (pos int, ok bool) {
	g, isGUID := parseGUID(id)
	if !isGUID {
		_, ok := s.byString[id]
		return -1, ok
	}
	s.seal()
	lo, hi := 0, len(s.guids)
	if s.start != nil {
		k := int(g[0])<<8 | int(g[1])
		lo, hi = int(s.start[k]), int(s.start[k+1])
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bytes.Compare(s.guids[m].id[:], g[:]) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(s.guids) && s.guids[lo].id == g {
		return lo, true
	}
	return 0, false
}

// take returns a user's state, seen as it was, and marks the user seen.
func (s *prevSet) take(id string) (prevUser, bool) {
	pos, ok := s.find(id)
	if !ok {
		return prevUser{}, false
	}
	if pos < 0 {
		u := s.byString[id]
		if !u.seen {
			s.byString[id] = prevUser{methods: u.methods, flags: u.flags, seen: true}
		}
		return u, true
	}
	e := s.guids[pos]
	w, bit := pos/64, uint64(1)<<(pos%64)
	u := prevUser{methods: e.methods, flags: e.flags, seen: s.seen[w]&bit != 0}
	s.seen[w] |= bit
	return u, true
}

// unsee forgets which users were taken.
func (s *prevSet) unsee() {
	clear(s.seen)
	for k, u := range s.byString {
		if u.seen {
			u.seen = false
			s.byString[k] = u
		}
	}
}

// each calls fn for every user with its methods below 64, in no set order.
func (s *prevSet) each(fn func(g guid, isGUID bool, id string, fs flagSet, methods uint64)) {
	for _, e := range s.guids {
		fn(e.id, true, "", e.flags, e.methods)
	}
	for id, u := range s.byString {
		fn(guid{}, false, id, u.flags, u.methods)
	}
}
