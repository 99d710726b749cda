package main

import (
	"math"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
)

// defaultMemoryLimit is run's and backfill's soft memory limit when
// --memory-limit is not given. Without one, Go lets the heap grow to
// twice what is live before collecting, and with the reader, the
// transformer and the Parquet writer allocating side by side, a 1M-user
// replay peaked at 265-276 MiB RSS. Under 200 MiB it peaked at 240-251
// MiB once pages were decoded ahead of the transformer, too close to
// the target of 256 MiB; under 190 MiB it peaks at about 235 MiB
// for no CPU that alternating runs could tell apart (13.6-14.5 s either
// way; bench/replay/NOTES.md). It is soft: a process that needs more gets
// more (see raisedLimit), and --memory-limit off gives the CPU back.
const defaultMemoryLimit = 190 << 20

// memoryOptions is --memory-limit of the commands that transform and
// write a lot: run and backfill.
type memoryOptions struct {
	// MemoryLimit is the flag's text; "" means defaultMemoryLimit.
	MemoryLimit string
}

func (o *memoryOptions) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&o.MemoryLimit, "memory-limit", "", "soft limit on the process's memory, which Go's garbage collector "+
		"works to stay under: bytes, or a number with KiB, MiB, GiB (e.g. 512MiB), or off; the environment's GOMEMLIMIT, "+
		"when set, wins (default 190MiB)")
}

// memoryLimit is the limit o asks for, math.MaxInt64 for off.
func (o memoryOptions) memoryLimit() (int64, error) {
	s := strings.TrimSpace(o.MemoryLimit)
	switch s {
	case "":
		return defaultMemoryLimit, nil
	case "off":
		return math.MaxInt64, nil
	}
	num, shift := s, 0
	for _, u := range []struct {
		suffix string
		shift  int
	}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}, {"B", 0}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64>>shift {
		return 0, usagef("--memory-limit %q: want a size such as 512MiB or 2GiB, or off", o.MemoryLimit)
	}
	return n << shift, nil
}

// apply sets the Go runtime's soft memory limit, unless GOMEMLIMIT is
// set (the runtime took it at start), and watches the live heap to raise
// the limit when the process needs more (raisedLimit). restore stops the
// watch and puts the previous limit back, for the tests that run
// commands in their own process.
func (o memoryOptions) apply(getenv func(string) string) (restore func(), err error) {
	limit, err := o.memoryLimit()
	if err != nil {
		return nil, err
	}
	if getenv("GOMEMLIMIT") != "" {
		return func() {}, nil
	}
	prev := debug.SetMemoryLimit(limit)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if limit != math.MaxInt64 {
		wg.Go(func() { watchLiveHeap(limit, stop) })
	}
	return func() {
		close(stop)
		wg.Wait()
		debug.SetMemoryLimit(prev)
	}, nil
}

// watchLiveHeap raises the memory limit as raisedLimit says, twice a
// second, until stop is closed.
func watchLiveHeap(limit int64, stop <-chan struct{}) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		if next := raisedLimit(limit, int64(sample[0].Value.Uint64())); next != limit {
			limit = next
			debug.SetMemoryLimit(limit)
		}
	}
}

// raisedLimit is the memory limit once the live heap is live bytes. Under
// the limit with room to spare, the limit only makes the collector run
// a little more often; but a live heap near it makes the collector run
// back to back (a 1M-user replay whose live heap was about 200 MiB took
// twice the CPU under a 200 MiB limit). So past 85 % of the limit it
// steps aside, to twice the live heap: Go's own pacing without a limit.
func raisedLimit(limit, live int64) int64 {
	if live > limit/100*85 {
		return max(limit, 2*live)
	}
	return limit
}
