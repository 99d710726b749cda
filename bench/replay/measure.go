package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// A child's peak RSS (rusage Maxrss) counts the memory of the process it
// was forked from: Go starts children with vfork semantics, so a child of
// the bench, which holds graphsim's users, would report the bench's RSS
// when its own is smaller. So each side is started by a small launcher,
// this binary run again with -measure, whose own RSS is a few MiB: the
// side's Maxrss is then its own.

// timed runs argv through the launcher and returns the wall time and peak
// RSS the launcher measured; the side's output is shown only when it fails.
func timed(self string, argv ...string) (result, error) {
	var out, errOut strings.Builder
	cmd := exec.Command(self, append([]string{"-measure", "--"}, argv...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%s: %w\n%s", argv[0], err, errOut.String())
	}
	var r result
	var kib int64
	if _, err := fmt.Sscan(out.String(), &r.wall, &kib, &r.cpu); err != nil {
		return result{}, fmt.Errorf("launcher said %q: %w", out.String(), err)
	}
	r.rssMiB = float64(kib) / 1024
	return r, nil
}

// measureChild is the launcher: it runs argv, its output to stderr, and
// prints "<wall seconds> <peak RSS KiB> <CPU seconds, user and system>".
func measureChild(argv []string) error {
	if len(argv) == 0 {
		return errors.New("-measure: no command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return err
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return errors.New("no rusage on this system")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Printf("%.3f %d %.3f\n", wall.Seconds(), ru.Maxrss, cpu.Seconds()) // Linux: Maxrss in KiB
	return nil
}
