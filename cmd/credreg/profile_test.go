package main

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// The hidden profile knobs write both profiles and keep the exit status;
// unset, they write nothing, and heap profiling is off.
func TestProfiled(t *testing.T) {
	rate := runtime.MemProfileRate
	t.Cleanup(func() { runtime.MemProfileRate = rate })
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof")
	env := map[string]string{"CREDREG_CPUPROFILE": cpu, "CREDREG_MEMPROFILE": mem}
	if code := profiled(func(k string) string { return env[k] }, func() int { return 3 }); code != 3 {
		t.Fatalf("exit status %d, want 3", code)
	}
	for _, p := range []string{cpu, mem} {
		if info, err := os.Stat(p); err != nil || info.Size() == 0 {
			t.Errorf("%s: %v, want a profile", filepath.Base(p), err)
		}
	}
	if runtime.MemProfileRate != rate {
		t.Errorf("MemProfileRate %d with CREDREG_MEMPROFILE set, want %d", runtime.MemProfileRate, rate)
	}
	if code := profiled(func(string) string { return "" }, func() int { return 0 }); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	if runtime.MemProfileRate != 0 {
		t.Errorf("MemProfileRate %d without CREDREG_MEMPROFILE, want 0 (heap profiling off)", runtime.MemProfileRate)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("%d files, want the 2 profiles only", len(entries))
	}
}
