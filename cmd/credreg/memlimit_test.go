package main

import (
	"errors"
	"math"
	"runtime/debug"
	"testing"
)

func TestMemoryLimitFlag(t *testing.T) {
	for _, tc := range []struct {
		flag string
		want int64 // 0: a usage error
	}{
		{"", defaultMemoryLimit},
		{"off", math.MaxInt64},
		{"512MiB", 512 << 20},
		{"2GiB", 2 << 30},
		{"1 TiB", 1 << 40},
		{"64KiB", 64 << 10},
		{"300000000", 300000000},
		{"300000000B", 300000000},
		{"100MB", 0},
		{"-1MiB", 0},
		{"0", 0},
		{"lots", 0},
		{"99999999TiB", 0},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			got, err := memoryOptions{MemoryLimit: tc.flag}.memoryLimit()
			var ue usageError
			switch {
			case tc.want == 0 && !errors.As(err, &ue):
				t.Fatalf("got %d, %v; want a usage error", got, err)
			case tc.want != 0 && (err != nil || got != tc.want):
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

// The flag sets the runtime's limit, and restore puts the old one back;
// GOMEMLIMIT in the environment wins.
func TestMemoryLimitApply(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	restore, err := memoryOptions{MemoryLimit: "3GiB"}.apply(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != 3<<30 {
		t.Errorf("limit %d after apply, want 3GiB", got)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit %d after restore, want %d", got, before)
	}
	env := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	}
	restore, err = memoryOptions{MemoryLimit: "3GiB"}.apply(env)
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit %d with GOMEMLIMIT set, want it untouched (%d)", got, before)
	}
	if _, err := (memoryOptions{MemoryLimit: "lots"}).apply(env); err == nil {
		t.Error("a bad --memory-limit passes when GOMEMLIMIT is set")
	}
}

func TestRaisedLimit(t *testing.T) {
	for _, tc := range []struct {
		limit, live, want int64
	}{
		{200 << 20, 100 << 20, 200 << 20},
		{200 << 20, 170 << 20, 200 << 20},
		{200 << 20, 171 << 20, 342 << 20},
		{200 << 20, 300 << 20, 600 << 20},
		{1 << 30, 0, 1 << 30},
	} {
		if got := raisedLimit(tc.limit, tc.live); got != tc.want {
			t.Errorf("raisedLimit(%d MiB, live %d MiB) = %d MiB, want %d MiB", tc.limit>>20, tc.live>>20, got>>20, tc.want>>20)
		}
	}
}
