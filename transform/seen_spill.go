package transform

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
)

// Past Options.SeenInMemory ids, a Transformer stops deciding repeats as
// it reads: it loads every copy (optimistically: repeats are rare) and
// writes a compact entry per copy to sorted runs in a temporary file. When
// asked (Finish, Superseded, Winners, Loaded, Has; not Stats before Finish,
// which progress calls per page) it merges the runs and
// finds the ids read more than once; for those it computes what the
// in-memory decide would have decided, from the same copies in the order
// of their references. A copy loaded that decide would not have loaded
// counts as superseded, so the caller's second pass, with Winners naming
// every id read more than once, writes exactly the rows decide would have.
// Memory stays one run's buffer and the copy flush partitions it into
// (see maxSpillRun), a read buffer per run while merging, and an index of
// one key in seenKeysPerBlock of the sorted ids. A failure of
// the files is final: Transformer.Err reports it, and nothing more is
// buffered (see fail).

// spillKey orders the entries: a GUID, or the first 16 bytes of the
// SHA-256 of an id that is not one. Two ids share a key with probability
// about 2^-128 per pair (2^-88 among a billion ids): Loaded and Has could
// then answer yes for an id never read, which is far below any other
// source of error.
type spillKey struct {
	hi, lo uint64 // the 16 bytes, big-endian: they compare as the bytes do
	hash   bool   // a hash, not a GUID
}

func keyFromBytes(b []byte, hash bool) spillKey {
	return spillKey{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:16]), hash: hash}
}

func (k spillKey) bytes(b []byte) {
	binary.BigEndian.PutUint64(b[:8], k.hi)
	binary.BigEndian.PutUint64(b[8:16], k.lo)
}

func spillKeyOf(k seenKey) spillKey {
	if k.isGUID {
		return keyFromBytes(k.g[:], false)
	}
	sum := sha256.Sum256([]byte(k.id))
	return keyFromBytes(sum[:16], true)
}

func cmpKey(a, b spillKey) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	if c := cmp.Compare(a.lo, b.lo); c != 0 {
		return c
	}
	switch {
	case a.hash == b.hash:
		return 0
	case b.hash:
		return -1
	}
	return 1
}

// spillEntry is one copy read (state false), or, for an id decided in
// memory before the spill began, what decide knew of it (state true): its
// winning copy and every shard that listed it.
type spillEntry struct {
	key     spillKey
	state   bool
	shard   uint8
	ref     RecordRef
	updated int64
	mask    uint64 // state only
}

// cmpEntry orders entries by key; within an id, the state first (its
// copies were all read before the spill began), then the copies as read.
func cmpEntry(a, b spillEntry) int {
	if c := cmpKey(a.key, b.key); c != 0 {
		return c
	}
	if a.state != b.state {
		if a.state {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.ref.Seq, b.ref.Seq); c != 0 {
		return c
	}
	return cmp.Compare(a.ref.Index, b.ref.Index)
}

// spillEntrySize is a spillEntry in memory (unsafe.Sizeof).
const spillEntrySize = 64

// seenEntrySize is an encoded spillEntry: key 16, hash 1, state 1, shard 1,
// pad 5, seq 8, index 8, updated 8, mask 8.
const seenEntrySize = 56

func (e *spillEntry) encode(b []byte) {
	e.key.bytes(b)
	b[16], b[17], b[18] = seenByte(e.key.hash), seenByte(e.state), e.shard
	clear(b[19:24])
	binary.LittleEndian.PutUint64(b[24:], uint64(e.ref.Seq))
	binary.LittleEndian.PutUint64(b[32:], uint64(e.ref.Index))
	binary.LittleEndian.PutUint64(b[40:], uint64(e.updated))
	binary.LittleEndian.PutUint64(b[48:], e.mask)
}

func (e *spillEntry) decode(b []byte) {
	e.key = keyFromBytes(b, b[16] != 0)
	e.state, e.shard = b[17] != 0, b[18]
	e.ref.Seq = int64(binary.LittleEndian.Uint64(b[24:]))
	e.ref.Index = int(binary.LittleEndian.Uint64(b[32:]))
	e.updated = int64(binary.LittleEndian.Uint64(b[40:]))
	e.mask = binary.LittleEndian.Uint64(b[48:])
}

func seenByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// seenKeySize is a key in the keys file: the 16 bytes and the hash flag.
const seenKeySize = 17

// seenKeysPerBlock is how many sorted keys one ReadAt of Loaded or Has reads
// (1 KiB); the in-memory index holds the first key of each block.
const seenKeysPerBlock = 64

// seenRunBuffer is the read buffer of each run while merging.
const seenRunBuffer = 16 << 10

// spillRun is one sorted run in the runs file.
type spillRun struct {
	off int64
	n   int
}

// seenResolution is what the merge found: see seenSpill.resolve.
type seenResolution struct {
	superseded int
	winners    map[string]RecordRef
	// The corrections to Stats: what decide would have counted for the
	// copies loaded optimistically.
	users, rejected, moved int64
}

// seenSpill holds the entries of a Transformer past Options.SeenInMemory.
type seenSpill struct {
	dir   string // removed on close
	runs  *os.File
	names *os.File // non-GUID ids, to name them in Winners: key 16, length 2, id
	keys  *os.File // the sorted distinct keys as of the last merge
	nameW *bufio.Writer

	runEntries int // entries per run
	list       []spillRun
	runsEnd    int64
	buf        []spillEntry // the entries not yet in a run
	order      []uint64     // a sort order (sortEntries), reused
	parted     []spillEntry // buf partitioned by flush, reused
	bufKeys    map[spillKey]struct{}

	// version counts entries added; merged is the version and mergedRuns
	// the runs the last merge saw.
	version, merged int
	mergedRuns      int
	merges          int // merges begun (tests count them)
	lookups         int // calls of has (tests count them)
	res             seenResolution
	index           []spillKey // the first key of each block of keys
	nkeys           int

	err error
}

// newSeenSpill creates the temporary files.
func newSeenSpill(runEntries int) (*seenSpill, error) {
	dir, err := os.MkdirTemp("", "credreg-seen-*")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary folder in %s: %w", os.TempDir(), err)
	}
	s := &seenSpill{dir: dir, runEntries: max(runEntries, 1), merged: -1}
	for _, f := range []struct {
		name string
		to   **os.File
	}{{"runs", &s.runs}, {"names", &s.names}, {"keys", &s.keys}} {
		if *f.to, err = os.Create(filepath.Join(dir, f.name)); err != nil {
			s.close()
			return nil, fmt.Errorf("creating a temporary file in %s: %w", dir, err)
		}
	}
	s.nameW = bufio.NewWriter(s.names)
	return s, nil
}

func (s *seenSpill) close() {
	for _, f := range []*os.File{s.runs, s.names, s.keys} {
		if f != nil {
			f.Close()
		}
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
		s.dir = ""
	}
}

// fail keeps the first failure of the files for Transformer.Err, and
// drops the buffer: every answer is void from now on, and memory must not
// grow with what can no longer be written.
func (s *seenSpill) fail(err error) {
	if s.err == nil {
		s.err = fmt.Errorf("duplicate detection's temporary files in %s: %w", s.dir, err)
	}
	s.buf = s.buf[:0]
	clear(s.bufKeys)
}

// add remembers an entry; k names it when it is a hash. After a failure it
// remembers nothing (see fail).
func (s *seenSpill) add(e spillEntry, k seenKey) {
	if s.err != nil {
		return
	}
	s.version++
	if e.key.hash {
		var hdr [18]byte
		e.key.bytes(hdr[:])
		binary.LittleEndian.PutUint16(hdr[16:], uint16(len(k.id)))
		if len(k.id) > 1<<16-1 {
			s.fail(fmt.Errorf("an id of %d bytes", len(k.id)))
		}
		s.nameW.Write(hdr[:])
		s.nameW.WriteString(k.id)
	}
	s.buf = append(s.buf, e)
	if s.bufKeys != nil {
		s.bufKeys[e.key] = struct{}{}
	}
	if len(s.buf) >= s.runEntries {
		s.flush()
	}
}

// flush writes the buffer as a sorted run. On a write error it fails (see
// fail).
func (s *seenSpill) flush() {
	if len(s.buf) == 0 || s.err != nil {
		return
	}
	w := bufio.NewWriterSize(&seenWriter{f: s.runs, off: s.runsEnd}, 64<<10)
	var b [seenEntrySize]byte
	for _, part := range s.partition() {
		s.order = sortEntries(part, s.order)
		mask := orderMask(len(part))
		for _, o := range s.order {
			part[o&mask].encode(b[:])
			w.Write(b[:])
		}
	}
	if err := w.Flush(); err != nil {
		s.fail(err)
		return
	}
	s.list = append(s.list, spillRun{off: s.runsEnd, n: len(s.buf)})
	s.runsEnd += int64(len(s.buf)) * seenEntrySize
	s.buf = s.buf[:0]
	clear(s.bufKeys)
}

// partitionBits is how many top bits of a key flush partitions a run by.
const partitionBits = 8

// partition copies the buffer to s.parted grouped by the top bits of the
// keys, in key order from group to group, and returns the groups. Reading
// the buffer and writing the groups are sequential, and each group, a few
// hundred entries, is sorted and encoded in cache: sorting the whole
// buffer in place and encoding it in that order missed the cache on
// nearly every entry, the larger part of a flush.
func (s *seenSpill) partition() [][]spillEntry {
	var count [1 << partitionBits]int
	for i := range s.buf {
		count[s.buf[i].key.hi>>(64-partitionBits)]++
	}
	var at [1 << partitionBits]int
	for i, sum := 1, count[0]; i < len(count); i++ {
		at[i] = sum
		sum += count[i]
	}
	s.parted = slices.Grow(s.parted[:0], len(s.buf))[:len(s.buf)]
	parts := make([][]spillEntry, 0, len(count))
	for i, n := range count {
		if n > 0 {
			parts = append(parts, s.parted[at[i]:at[i]+n])
		}
	}
	for i := range s.buf {
		g := s.buf[i].key.hi >> (64 - partitionBits)
		s.parted[at[g]] = s.buf[i]
		at[g]++
	}
	return parts
}

// sortEntries returns the indexes of es in cmpEntry order, in order[:0]'s
// storage, each in the low bits of a value whose high bits are the top of
// its key's hi (see orderMask). Sorting those plain integers is a fraction
// of sorting the 64-byte entries with cmpEntry: keys are GUIDs or hashes,
// random in their first bytes, so only the copies of one id tie on the
// top bits, and those few runs of ties are put in cmpEntry order after.
// Keys that share their first bytes (tests' ids, an ordered tenant) only
// make the ties longer, never the order wrong.
func sortEntries(es []spillEntry, order []uint64) []uint64 {
	order = order[:0]
	mask := orderMask(len(es))
	for i := range es {
		order = append(order, es[i].key.hi&^mask|uint64(i))
	}
	slices.Sort(order)
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && order[j]&^mask == order[i]&^mask {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(order[i:j], func(a, b uint64) int { return cmpEntry(es[a&mask], es[b&mask]) })
		}
		i = j
	}
	return order
}

// orderMask is the low bits of sortEntries' values that hold an index
// below n.
func orderMask(n int) uint64 {
	return 1<<bits.Len(uint(max(n-1, 0))) - 1
}

type seenWriter struct {
	f   *os.File
	off int64
}

func (w *seenWriter) Write(p []byte) (int, error) {
	n, err := w.f.WriteAt(p, w.off)
	w.off += int64(n)
	return n, err
}

// has reports whether an entry with key k was added.
func (s *seenSpill) has(k spillKey) bool {
	s.lookups++
	if s.bufKeys == nil {
		// Built on the first question only: a replay asks none, or a
		// few about the ids looked up at its end.
		s.bufKeys = make(map[spillKey]struct{}, len(s.buf))
		for _, e := range s.buf {
			s.bufKeys[e.key] = struct{}{}
		}
	}
	if _, ok := s.bufKeys[k]; ok {
		return true
	}
	if s.mergedRuns != len(s.list) {
		s.merge()
	}
	if s.nkeys == 0 {
		return false
	}
	// The last block whose first key is not above k.
	bi, found := slices.BinarySearchFunc(s.index, k, cmpKey)
	if found {
		return true
	}
	if bi == 0 {
		return false
	}
	bi--
	n := min(seenKeysPerBlock, s.nkeys-bi*seenKeysPerBlock)
	var blk [seenKeysPerBlock * seenKeySize]byte
	if _, err := s.keys.ReadAt(blk[:n*seenKeySize], int64(bi)*seenKeysPerBlock*seenKeySize); err != nil {
		s.fail(err)
		return false
	}
	lo, hi := 0, n
	for lo < hi {
		m := (lo + hi) / 2
		c := cmpKey(readSpillKey(blk[m*seenKeySize:]), k)
		if c == 0 {
			return true
		}
		if c < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return false
}

func readSpillKey(b []byte) spillKey { return keyFromBytes(b, b[16] != 0) }

// resolved returns the seenResolution of every entry added so far, merging
// when entries came since the last merge.
func (s *seenSpill) resolved() *seenResolution {
	if s.merged != s.version {
		s.merge()
	}
	return &s.res
}

// merge merges the runs and the buffer: it writes the sorted distinct keys
// for has, and resolves the ids with more than one entry. Only a merge
// that succeeds replaces the last resolution and marks it up to date: a
// partial one (Superseded too low, the second pass skipped) must never
// pass for the answer. After a failure it does nothing: Err reports it.
func (s *seenSpill) merge() {
	if s.err != nil {
		return
	}
	s.merges++
	if err := s.nameW.Flush(); err != nil {
		s.fail(err)
		return
	}
	srcs := make([]seenSource, 0, len(s.list)+1)
	for _, r := range s.list {
		srcs = append(srcs, s.runSource(r))
	}
	if len(s.buf) > 0 {
		// Read through its order, not copied: a copy would double the
		// buffer's memory during the merge.
		s.order = sortEntries(s.buf, s.order)
		srcs = append(srcs, &seenMemRun{es: s.buf, order: s.order, mask: orderMask(len(s.buf))})
	}
	if _, err := s.keys.Seek(0, io.SeekStart); err != nil {
		s.fail(err)
		return
	}
	if err := s.keys.Truncate(0); err != nil {
		s.fail(err)
		return
	}
	kw := bufio.NewWriterSize(s.keys, 64<<10)
	s.index, s.nkeys = s.index[:0], 0
	res := seenResolution{}
	named := map[spillKey]RecordRef{} // winners of hashed ids, named after the merge
	var (
		group []spillEntry
		kb    [seenKeySize]byte // one for the merge: kw.Write keeps a local escaping per key
	)
	endGroup := func() {
		if len(group) == 0 {
			return
		}
		k := group[0].key
		k.bytes(kb[:])
		kb[16] = seenByte(k.hash)
		kw.Write(kb[:])
		if s.nkeys%seenKeysPerBlock == 0 {
			s.index = append(s.index, k)
		}
		s.nkeys++
		if len(group) > 1 {
			// Every id read more than once is named, whichever copy
			// won, so that a second pass decides it exactly.
			w := resolveGroup(group, &res)
			if k.hash {
				named[k] = w
			} else {
				if res.winners == nil {
					res.winners = map[string]RecordRef{}
				}
				var g guid
				k.bytes(g[:])
				res.winners[guidString(g)] = w
			}
		}
		group = group[:0]
	}
	err := mergeSeenRuns(srcs, func(e spillEntry) {
		if len(group) > 0 && group[0].key != e.key {
			endGroup()
		}
		group = append(group, e)
	})
	endGroup()
	if err == nil {
		err = kw.Flush()
	}
	if err == nil && len(named) > 0 {
		err = s.name(named, &res)
	}
	if err != nil {
		s.fail(err)
		return
	}
	s.res = res
	s.merged, s.mergedRuns = s.version, len(s.list)
}

// runSource reads run r.
func (s *seenSpill) runSource(r spillRun) seenSource {
	return &seenFileRun{r: bufio.NewReaderSize(io.NewSectionReader(s.runs, r.off, int64(r.n)*seenEntrySize), seenRunBuffer)}
}

// name finds the ids of hashed keys in the names file.
func (s *seenSpill) name(named map[spillKey]RecordRef, res *seenResolution) error {
	end, err := s.names.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	r := bufio.NewReader(io.NewSectionReader(s.names, 0, end))
	var hdr [18]byte
	for len(named) > 0 {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%d ids missing from the names file", len(named))
			}
			return err
		}
		id := make([]byte, binary.LittleEndian.Uint16(hdr[16:]))
		if _, err := io.ReadFull(r, id); err != nil {
			return err
		}
		k := keyFromBytes(hdr[:], true)
		if w, ok := named[k]; ok {
			if res.winners == nil {
				res.winners = map[string]RecordRef{}
			}
			res.winners[string(id)] = w
			delete(named, k)
		}
	}
	return nil
}

// resolveGroup replays decide over the entries of one id (sorted by
// cmpEntry) and returns the winning copy. Copies read after the spill
// began were all loaded; each that decide would not have loaded, and the
// in-memory winner when a later copy beats it, counts as superseded. It
// also corrects the counts to decide's: a repeat within a shard is a
// duplicate_id reject, a losing copy from another shard a move.
func resolveGroup(group []spillEntry, res *seenResolution) RecordRef {
	var (
		cur     spillEntry
		have    bool
		fromMem bool
		memRef  RecordRef
	)
	if group[0].state {
		cur, have, fromMem, memRef = group[0], true, true, group[0].ref
		group = group[1:]
	}
	for _, e := range group {
		bit := uint64(1) << e.shard
		switch {
		case !have:
			cur, have = e, true
			cur.mask = bit
		case cur.mask&bit != 0:
			res.users--
			res.rejected++
		default:
			cur.mask |= bit
			res.moved++
			if newer(e.updated, e.ref, cur.updated, cur.ref) {
				cur.ref, cur.updated = e.ref, e.updated
			} else {
				res.users--
			}
		}
	}
	win := cur.ref
	for _, e := range group {
		if e.ref != win {
			res.superseded++
		}
	}
	if fromMem && win != memRef {
		res.superseded++
	}
	return win
}
