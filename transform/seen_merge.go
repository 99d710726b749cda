package transform

import (
	"bufio"
	"errors"
	"io"
)

// seenSource yields the entries of one sorted run in order; ok is false
// at its end.
type seenSource interface {
	next() (e spillEntry, ok bool, err error)
}

// seenFileRun reads a run of the runs file.
type seenFileRun struct {
	r *bufio.Reader
}

func (f *seenFileRun) next() (spillEntry, bool, error) {
	var e spillEntry
	// Decoded in the reader's buffer: Peek hands out no copy (only a
	// refill slides the few bytes of an entry cut by the buffer's end to
	// its front), and decode copies every field out before Discard.
	b, err := f.r.Peek(seenEntrySize)
	if err != nil {
		if errors.Is(err, io.EOF) && len(b) == 0 {
			return e, false, nil
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return e, false, err
	}
	e.decode(b)
	f.r.Discard(seenEntrySize)
	return e, true, nil
}

// seenMemRun is a run still in memory, read in the order sortEntries
// gave it.
type seenMemRun struct {
	es    []spillEntry
	order []uint64
	mask  uint64
}

func (m *seenMemRun) next() (spillEntry, bool, error) {
	if len(m.order) == 0 {
		return spillEntry{}, false, nil
	}
	e := m.es[m.order[0]&m.mask]
	m.order = m.order[1:]
	return e, true, nil
}

// mergeSeenRuns calls yield with the entries of every source in cmpEntry
// order (a k-way merge over a binary heap of the sources' heads).
func mergeSeenRuns(srcs []seenSource, yield func(spillEntry)) error {
	type head struct {
		e   spillEntry
		src seenSource
	}
	h := make([]head, 0, len(srcs))
	less := func(i, j int) bool {
		// Keys are random in hi: the first comparison nearly always
		// decides, without cmpEntry's copies of two 64-byte entries.
		if a, b := h[i].e.key.hi, h[j].e.key.hi; a != b {
			return a < b
		}
		return cmpEntry(h[i].e, h[j].e) < 0
	}
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			m := l
			if r := l + 1; r < len(h) && less(r, l) {
				m = r
			}
			if !less(m, i) {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for _, s := range srcs {
		e, ok, err := s.next()
		if err != nil {
			return err
		}
		if ok {
			h = append(h, head{e, s})
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(i)
	}
	for len(h) > 0 {
		yield(h[0].e)
		e, ok, err := h[0].src.next()
		if err != nil {
			return err
		}
		if ok {
			h[0].e = e
		} else {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		down(0)
	}
	return nil
}
