package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// profiled runs f and, when the hidden environment knobs ask for it, writes
// a CPU profile (CREDREG_CPUPROFILE=file) of the whole process and a heap
// profile (CREDREG_MEMPROFILE=file) at its end, for `go tool pprof`. They
// are environment variables, not flags, because they are for people
// measuring credreg (bench/replay), not for users; a profile that cannot
// be written is said on stderr and does not change the exit status.
//
// Without CREDREG_MEMPROFILE, heap profiling is off: Go samples one
// allocation per 512 KiB by default, unwinding its stack, which was
// 0.11-0.13 CPU s of a 1M-user replay (about 1 %) for a profile nothing
// reads.
func profiled(getenv func(string) string, f func() int) int {
	if getenv("CREDREG_MEMPROFILE") == "" {
		runtime.MemProfileRate = 0
	}
	if path := getenv("CREDREG_CPUPROFILE"); path != "" {
		file, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(file)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "credreg: CREDREG_CPUPROFILE: %v\n", err)
		} else {
			defer func() {
				pprof.StopCPUProfile()
				file.Close()
			}()
		}
	}
	code := f()
	if path := getenv("CREDREG_MEMPROFILE"); path != "" {
		runtime.GC() // the profile shows what was live at the last GC
		file, err := os.Create(path)
		if err == nil {
			err = pprof.Lookup("allocs").WriteTo(file, 0)
			if cerr := file.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "credreg: CREDREG_MEMPROFILE: %v\n", err)
		}
	}
	return code
}
