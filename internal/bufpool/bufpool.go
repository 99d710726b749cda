package bufpool

import (
	"math/bits"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Options tunes an Allocator; the zero value means the defaults.
type Options struct {
	// MinSize is the smallest buffer the pool recycles; zero means
	// DefaultMinSize. Smaller buffers are cheap for Go's own allocator
	// (they come from per-P caches, not from fresh pages).
	MinSize int
	// MaxSize is the largest buffer the pool recycles; zero means
	// DefaultMaxSize. A buffer past it is rare, and holding one would
	// cost more memory than it saves time.
	MaxSize int
	// MaxHeld bounds the bytes of freed buffers the pool keeps for
	// reuse; zero means DefaultMaxHeld.
	MaxHeld int
	// Poison, when not zero, fills every buffer given back with it at
	// once: a test's way to make a buffer read after its Free show, as
	// the next user's data would only show by chance.
	Poison byte
}

const (
	// DefaultMinSize: below 64 KiB Go's allocator serves from its caches.
	DefaultMinSize = 64 << 10
	// DefaultMaxSize: arrow's builders and the Parquet writer's pages of a
	// batch of the default size stay well under it.
	DefaultMaxSize = 64 << 20
	// DefaultMaxHeld is a few batches' worth of buffers: enough that the
	// steady state of a replay allocates nothing new, small next to the
	// process's memory limit.
	DefaultMaxHeld = 24 << 20
)

// alignment is arrow's: buffers start on a 64-byte boundary.
const alignment = 64

// classesPerDoubling splits each power of two into four size classes, so
// rounding a request up to its class wastes at most a quarter of it: arrow
// grows by doubling, but the Parquet writer's buffers have any size.
const classesPerDoubling = 4

// Allocator recycles freed buffers by size class. Use New; it is safe for
// concurrent use.
type Allocator struct {
	o Options

	mu   sync.Mutex
	free map[int][][]byte // class size -> freed buffers (full class length), last freed on top
	out  map[*byte][]byte // first byte of a buffer handed out -> its full class buffer
	held int
	st   Stats
}

// Stats counts what an Allocator did, for tests and measurements.
type Stats struct {
	Allocs   int64 // pooled-size requests (Allocate, or Reallocate to a new buffer)
	Reused   int64 // of Allocs, served from a freed buffer
	Frees    int64 // pooled buffers given back
	Dropped  int64 // of Frees, left to the garbage collector because MaxHeld was reached
	Ignored  int64 // Frees of a buffer that was not out (double frees, foreign slices)
	Held     int   // bytes of freed buffers held now
	Out      int   // pooled buffers handed out and not yet freed
	PeakHeld int   // most bytes held at once
}

var _ memory.Allocator = (*Allocator)(nil)

// New returns an empty pool.
func New(o Options) *Allocator {
	if o.MinSize <= 0 {
		o.MinSize = DefaultMinSize
	}
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.MaxHeld <= 0 {
		o.MaxHeld = DefaultMaxHeld
	}
	return &Allocator{o: o, free: make(map[int][][]byte), out: make(map[*byte][]byte)}
}

// Stats reports the counts so far.
func (a *Allocator) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.st
	s.Held, s.Out = a.held, len(a.out)
	return s
}

// classOf rounds size up to its class: the next of four steps between
// consecutive powers of two, a multiple of 64.
func classOf(size int) int {
	if size <= alignment {
		return alignment
	}
	shift := bits.Len(uint(size-1)) - 1 // 2^shift < size <= 2^(shift+1)
	step := 1 << shift / classesPerDoubling
	if step < alignment {
		step = alignment
	}
	return (size + step - 1) / step * step
}

func (a *Allocator) pooled(size int) bool { return size >= a.o.MinSize && size <= a.o.MaxSize }

// Allocate returns size zeroed bytes, 64-byte aligned.
func (a *Allocator) Allocate(size int) []byte {
	if !a.pooled(size) {
		return goAllocate(size)
	}
	return a.take(size, 0)
}

// take hands out a pooled buffer of size bytes, zeroed from keep on: the
// caller writes the first keep bytes itself.
func (a *Allocator) take(size, keep int) []byte {
	class := classOf(size)
	a.mu.Lock()
	a.st.Allocs++
	var buf []byte
	if list := a.free[class]; len(list) > 0 {
		buf = list[len(list)-1]
		list[len(list)-1] = nil
		a.free[class] = list[:len(list)-1]
		a.held -= class
		a.st.Reused++
	}
	recycled := buf != nil
	if !recycled {
		a.mu.Unlock() // Go's allocator needs no lock of ours
		buf = goAllocate(class)
		a.mu.Lock()
	}
	a.out[unsafe.SliceData(buf)] = buf
	a.mu.Unlock()
	if recycled {
		clear(buf[keep:size])
	}
	return buf[:size:size]
}

// Reallocate returns a buffer of size bytes holding b's bytes; the bytes
// past len(b) are zero.
func (a *Allocator) Reallocate(size int, b []byte) []byte {
	if len(b) == 0 {
		return a.Allocate(size)
	}
	a.mu.Lock()
	full, ok := a.out[unsafe.SliceData(b)]
	a.mu.Unlock()
	if ok && size <= len(full) && len(b) <= len(full) {
		// Grows or shrinks within its class: no copy.
		if size > len(b) {
			clear(full[len(b):size])
		}
		return full[:size:size]
	}
	if !ok && cap(b) >= size {
		// A Go slice with room, as GoAllocator does; its spare bytes
		// were zeroed by make and never handed out.
		return b[:size]
	}
	var nb []byte
	if a.pooled(size) {
		nb = a.take(size, min(len(b), size)) // the copy fills the rest
	} else {
		nb = goAllocate(size)
	}
	copy(nb, b)
	a.Free(b)
	return nb
}

// Free gives b back. Only a buffer the pool handed out and that is still
// out is kept; anything else is ignored.
func (a *Allocator) Free(b []byte) {
	if len(b) == 0 {
		return
	}
	p := unsafe.SliceData(b)
	a.mu.Lock()
	full, ok := a.out[p]
	if !ok {
		if a.pooled(len(b)) {
			a.st.Ignored++ // a double free, or a buffer not ours
		}
		a.mu.Unlock()
		return
	}
	delete(a.out, p)
	a.st.Frees++
	class := len(full)
	if a.held+class > a.o.MaxHeld {
		a.st.Dropped++
		a.mu.Unlock()
		return
	}
	a.held += class
	if a.held > a.st.PeakHeld {
		a.st.PeakHeld = a.held
	}
	if a.o.Poison != 0 {
		fill(full, a.o.Poison)
	}
	a.free[class] = append(a.free[class], full)
	a.mu.Unlock()
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

// goAllocate is GoAllocator's: a fresh zeroed slice, 64-byte aligned.
func goAllocate(size int) []byte {
	buf := make([]byte, size+alignment)
	shift := int(-uintptr(unsafe.Pointer(unsafe.SliceData(buf))) & (alignment - 1))
	return buf[shift : size+shift : size+shift]
}
