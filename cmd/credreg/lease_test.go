package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// A slice whose lease another writer holds: the run fails at once with
// exit status 7, naming the holder and --lock-wait; with --lock-wait it
// waits for the lease and publishes.
func TestRunLeaseHeldExitStatus(t *testing.T) {
	url, ca := startSimulator(t, "--users", "100", "--date", sliceDate, "--no-throttle")
	wh := filepath.Join(t.TempDir(), "wh")
	ctx := context.Background()
	lease := holdSlice(t, wh)
	args := []string{"run", "--date", sliceDate, "--warehouse", wh, "--progress", "none", "--tenant-rate", "10000/1s"}
	out, err := credregCmd(ctx, simEnv(url, ca), args...).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitLeaseHeld {
		t.Fatalf("exit %v, want %d:\n%s", err, exitLeaseHeld, out)
	}
	for _, want := range []string{`"held-by-the-test"`, "--lock-wait"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A scheduler reading JSON gets the status, the holder and the hint in
	// one record.
	cmd := credregCmd(ctx, simEnv(url, ca), append(args, "--log-format", "json")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_ = cmd.Run()
	last := strings.TrimSpace(stderr.String())
	last = last[strings.LastIndex(last, "\n")+1:]
	for _, want := range []string{`"exit_code":7`, `held-by-the-test`, `"hint":"Another process is writing that slice. Pass --lock-wait`} {
		if !strings.Contains(last, want) {
			t.Errorf("the JSON error record lacks %q: %s", want, last)
		}
	}
	if s := readSlice(t, wh); !s.empty() {
		t.Errorf("a refused run wrote %+v", s)
	}

	if out, err := runReleasing(t, credregCmd(ctx, simEnv(url, ca), append(args, "--lock-wait", "1m")...), lease); err != nil {
		t.Fatalf("run with --lock-wait: %v\n%s", err, out)
	}
	if s := readSlice(t, wh); !s.whole() {
		t.Errorf("slice after the waiting run: %+v", s)
	}
}

// runReleasing starts cmd, releases the lease while it waits for it, and
// returns what it said and how it ended.
func runReleasing(t *testing.T, cmd *exec.Cmd, lease *load.Lease) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := lease.Release(); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	return buf.String(), err
}

// Two runs of one slice at the same time: each either publishes or, not
// told to wait, fails with exit status 7 naming the other; told to wait,
// both publish one after the other. The slice is never mixed.
func TestConcurrentRunsOfOneSlice(t *testing.T) {
	t.Parallel() // most of its time is Graph's throttle: it sleeps
	// Each run takes seconds (6 pages of 400 ms, one after the other), far
	// longer than the two processes take to start: they overlap.
	url, ca := startSimulator(t, "--users", "300", "--date", sliceDate, "--no-throttle", "--latency", "400ms")
	for _, wait := range []string{"0s", "2m"} {
		t.Run("lock-wait="+wait, func(t *testing.T) {
			wh := filepath.Join(t.TempDir(), "wh")
			args := []string{"run", "--date", sliceDate, "--force", "--warehouse", wh, "--progress", "none",
				"--tenant-rate", "10000/1s", "--app-rate", "10000/1s", "--lock-wait", wait, "--shards", "off", "--page-size", "50"}
			codes := make([]int, 2)
			outs := make([]string, 2)
			var wg sync.WaitGroup
			for i := range 2 {
				if i == 1 && wait == "0s" {
					// The second starts once the first holds the slice.
					waitForHolder(t, wh)
				}
				wg.Go(func() {
					out, err := credregCmd(context.Background(), simEnv(url, ca), args...).CombinedOutput()
					outs[i] = string(out)
					var ee *exec.ExitError
					switch {
					case err == nil:
					case errors.As(err, &ee):
						codes[i] = ee.ExitCode()
					default:
						codes[i] = -1
					}
				})
			}
			wg.Wait()
			published := 0
			for i, c := range codes {
				switch {
				case c == exitOK:
					published++
				case c == exitLeaseHeld && wait == "0s":
					// Right after the other run took the lease, its record
					// may not name it yet: the message says so.
					if !strings.Contains(outs[i], "is being written by") || !strings.Contains(outs[i], "--lock-wait") {
						t.Errorf("the refused run does not name the holder and --lock-wait:\n%s", outs[i])
					}
				default:
					t.Errorf("run %d: exit %d:\n%s", i, c, outs[i])
				}
			}
			if want := map[string]int{"0s": 1, "2m": 2}[wait]; published != want {
				t.Errorf("%d runs published, exits %v", published, codes)
			}
			if s := readSlice(t, wh); !s.whole() {
				t.Errorf("the slice is mixed: %+v", s)
			}
			t.Logf("exits %v", codes)
		})
	}
}

// waitForHolder waits until a run holds a lease in warehouse wh: its lock
// file names it.
func waitForHolder(t *testing.T, wh string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		locks, _ := filepath.Glob(filepath.Join(wh, "_leases", "*.lock"))
		for _, l := range locks {
			if b, err := os.ReadFile(l); err == nil && strings.Contains(string(b), "run_id") {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no run took the slice's lease within 30 s")
}

// holdSlice takes the lease of the demo tenant's slice of sliceDate in the
// warehouse at wh, as another writer would, as run "held-by-the-test".
func holdSlice(t *testing.T, wh string) *load.Lease {
	t.Helper()
	ctx := context.Background()
	w, err := load.OpenWarehouse(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	day, _ := time.Parse(time.DateOnly, sliceDate)
	lease, err := w.Lease(ctx, schemas.Key{Date: day, Tenant: graphsim.DefaultTenantID}, load.LeaseOptions{RunID: "held-by-the-test"})
	if err != nil {
		t.Fatal(err)
	}
	return lease
}
