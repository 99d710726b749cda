package bufpool_test

import (
	"bytes"
	"sync"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/internal/bufpool"
)

// Every class holds its request, is a multiple of arrow's 64-byte
// alignment, and wastes at most a quarter of it (64 bytes for tiny ones).
func TestClassOf(t *testing.T) {
	for _, size := range []int{1, 63, 64, 65, 100, 4095, 4096, 4097, 65535, 65536, 65537, 80000, 100_000, 1 << 20, 1<<20 + 1, 3_000_000, 64 << 20} {
		c := bufpool.ClassOf(size)
		if c < size || c%64 != 0 || c-size > max(size/4, 64) {
			t.Errorf("ClassOf(%d) = %d", size, c)
		}
		if c2 := bufpool.ClassOf(c); c2 != c {
			t.Errorf("ClassOf(ClassOf(%d) = %d) = %d: a class is not its own class", size, c, c2)
		}
	}
}

func aligned(b []byte) bool { return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%64 == 0 }

func zero(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

func scribble(b []byte) {
	for i := range b {
		b[i] = byte(i) | 1
	}
}

// Whatever the size, and whether it is new or recycled, a buffer is
// zeroed, aligned, exactly as long as asked; pooled sizes are recycled,
// others are not.
func TestAllocateZeroedAlignedRecycled(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		reused bool
	}{
		{"small, Go's", 1000, false},
		{"smallest pooled", 64 << 10, true},
		{"pooled", 300_000, true},
		{"larger than the largest pooled", 2 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := bufpool.New(bufpool.Options{MaxSize: 1 << 20})
			for round := range 3 {
				b := a.Allocate(tc.size)
				if len(b) != tc.size || cap(b) != tc.size || !aligned(b) || !zero(b) {
					t.Fatalf("round %d: len %d cap %d aligned %v zero %v", round, len(b), cap(b), aligned(b), zero(b))
				}
				scribble(b)
				a.Free(b)
			}
			if got, want := a.Stats().Reused, map[bool]int64{true: 2, false: 0}[tc.reused]; got != want {
				t.Errorf("reused %d buffers, want %d", got, want)
			}
		})
	}
}

// A recycled buffer of a smaller request of the same class is zeroed where
// the previous user wrote, also past the new length within the class: a
// later Reallocate in place exposes those bytes.
func TestReallocateKeepsBytesAndZeroesTheRest(t *testing.T) {
	a := bufpool.New(bufpool.Options{})
	prev := a.Allocate(100_000)
	scribble(prev)
	a.Free(prev)

	b := a.Allocate(110_000) // the same class as 100_000
	if a.Stats().Reused != 1 {
		t.Fatal("the freed buffer was not reused")
	}
	copy(b, "hello")
	b = a.Reallocate(114_000, b) // grows within its class
	if string(b[:5]) != "hello" || !zero(b[5:]) || len(b) != 114_000 {
		t.Fatalf("grown in place: %q, rest zero %v", b[:5], zero(b[5:]))
	}
	b = a.Reallocate(1<<20, b) // grows past its class: copied
	if string(b[:5]) != "hello" || !zero(b[5:]) || len(b) != 1<<20 || !aligned(b) {
		t.Fatalf("grown by copy: %q, rest zero %v", b[:5], zero(b[5:]))
	}
	if s := a.Stats(); s.Frees != 2 || s.Out != 1 {
		t.Errorf("after growing by copy: %+v, want the old buffer given back and one out", s)
	}
	b = a.Reallocate(10, b) // shrinks in place: still the pool's
	a.Free(b)
	if s := a.Stats(); s.Out != 0 || s.Ignored != 0 {
		t.Errorf("after freeing a shrunk buffer: %+v", s)
	}
	small := a.Reallocate(5000, a.Allocate(1000)) // Go's, both
	if !zero(small) || len(small) != 5000 {
		t.Error("a small buffer grown is not zeroed")
	}
}

// A buffer freed twice goes back to the pool once: two later requests get
// two different buffers, never one buffer for two users. A slice the pool
// never handed out is not kept either.
func TestDoubleFreeIsIgnored(t *testing.T) {
	a := bufpool.New(bufpool.Options{})
	b := a.Allocate(200_000)
	a.Free(b)
	a.Free(b)
	a.Free(make([]byte, 200_000))
	if got := a.Stats().Ignored; got != 2 {
		t.Errorf("ignored %d frees, want 2", got)
	}
	x, y := a.Allocate(200_000), a.Allocate(200_000)
	if unsafe.SliceData(x) == unsafe.SliceData(y) {
		t.Fatal("one buffer handed to two users")
	}
}

// The pool keeps at most MaxHeld bytes of freed buffers.
func TestMaxHeld(t *testing.T) {
	a := bufpool.New(bufpool.Options{MaxHeld: 1 << 20})
	var bufs [][]byte
	for range 10 {
		bufs = append(bufs, a.Allocate(256<<10))
	}
	for _, b := range bufs {
		a.Free(b)
	}
	s := a.Stats()
	if s.Held > 1<<20 || s.PeakHeld > 1<<20 || s.Dropped != 6 || s.Out != 0 {
		t.Errorf("%+v, want at most 1 MiB held and 6 of 10 buffers dropped", s)
	}
}

// Poison fills a freed buffer, so a reader that kept it sees the poison.
func TestPoison(t *testing.T) {
	a := bufpool.New(bufpool.Options{Poison: 0xAA})
	b := a.Allocate(100_000)
	a.Free(b)
	if bytes.Count(b, []byte{0xAA}) != len(b) {
		t.Error("a freed buffer is not poisoned")
	}
	if c := a.Allocate(100_000); !zero(c) {
		t.Error("a poisoned buffer is handed out again unzeroed")
	}
}

// Goroutines allocating, filling, checking and freeing at once never share
// a buffer: each finds its own pattern intact before freeing. Run with
// -race. A CheckedAllocator around the pool sees every byte given back.
func TestConcurrentUsersNeverShare(t *testing.T) {
	pool := bufpool.New(bufpool.Options{MaxHeld: 4 << 20})
	mem := memory.NewCheckedAllocator(pool)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				size := 64<<10 + (i%7)*50_000
				b := mem.Allocate(size)
				if !zero(b) {
					t.Errorf("goroutine %d: buffer %d not zeroed", g, i)
					return
				}
				v := byte(g + 1)
				memory.Set(b, v)
				if i%3 == 0 {
					b = mem.Reallocate(size*2, b)
					if !zero(b[size:]) {
						t.Errorf("goroutine %d: grown buffer %d not zeroed", g, i)
						return
					}
				}
				if bytes.Count(b[:size], []byte{v}) != size {
					t.Errorf("goroutine %d: buffer %d was written by another user", g, i)
					return
				}
				mem.Free(b)
			}
		})
	}
	wg.Wait()
	mem.AssertSize(t, 0)
	if s := pool.Stats(); s.Out != 0 || s.Ignored != 0 || s.Reused == 0 {
		t.Errorf("%+v", s)
	}
}
