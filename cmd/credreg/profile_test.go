package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The hidden profile knobs write both profiles and keep the exit status;
// unset, they write nothing.
func TestProfiled(t *testing.T) {
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
	if code := profiled(func(string) string { return "" }, func() int { return 0 }); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("%d files, want the 2 profiles only", len(entries))
	}
}
