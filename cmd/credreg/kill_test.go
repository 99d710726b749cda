package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/credreg/credreg/load"
)

// The kill test's tenant: 300 users read 20 a page, unsharded, make 15
// pages.
const (
	killDate     = sliceDate
	killUsers    = "300"
	killPageSize = "20"
)

// killPoints are where a run is killed: after pages of the listing, after
// batches written into the staged Parquet files, after every publish step
// load reports, and once the tenant is done.
func killPoints() []string {
	var out []string
	for _, n := range []int64{1, 2, 3, 5, 8, 11, 14} {
		out = append(out, pagePoint(n))
	}
	// The batches of the tables go into the staged files once the
	// listing is read: a kill between them stops a Parquet file halfway.
	out = append(out, batchPoint(1), batchPoint(2))
	out = append(out, load.PublishSteps()...)
	return append(out, pointTenantDone)
}

// A `credreg run` killed with SIGKILL at any point — while extracting,
// while writing Parquet, before, between and after the renames of a
// publish, before and after the manifest — leaves only complete files a
// reader can find, each of the old slice or the new one; the next run of
// the slice first rolls the unfinished publish forward or back, so that
// all tables and the manifest are of one run, and then publishes.
// Each point is tried over a slice that has a snapshot and over one that
// has none.
func TestKilledRunAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("runs about a hundred processes")
	}
	url, ca := startSimulator(t, "--users", killUsers, "--date", killDate, "--no-throttle", "--empty-page-every", "-1")
	if n := len(killPoints()) * 2; n < 30 {
		t.Fatalf("%d kill points; the issue asks for at least 30", n)
	}
	env := simEnv(url, ca)
	killAtEveryPoint(t, env, func(*testing.T) []string { return env }, killPoints(), killArgs)
}

// A sharded run of a tenant that changes while it is read writes its
// slice twice (users moved between shards): killed in its second pass too,
// it leaves the slice old or new, never mixed.
func TestKilledShardedRunOfAChangingTenant(t *testing.T) {
	if testing.Short() {
		t.Skip("runs dozens of processes")
	}
	url, ca := startSimulator(t, "--users", killUsers, "--date", killDate, "--no-throttle", "--empty-page-every", "-1")
	// A tenant changes during the first read of its day: each killed run
	// gets a simulator of its own, whose day it reads first.
	churning := func(t *testing.T) []string {
		url, ca := startSimulator(t, "--users", killUsers, "--date", killDate, "--no-throttle", "--empty-page-every", "-1",
			"--churn-rate", "0.2", "--churn-requests", "12")
		return simEnv(url, ca)
	}
	args := func(wh string) []string {
		return []string{"run", "--date", killDate, "--force", "--warehouse", wh, "--progress", "none", "--shards", "4",
			"--page-size", killPageSize, "--tenant-rate", "10000/1s", "--app-rate", "10000/1s"}
	}
	points := []string{pagePoint(3), pointReset, load.StepIntentWritten, load.StepPublishedMethods, load.StepPublishedManifest}
	killAtEveryPoint(t, simEnv(url, ca), churning, points, args)
}

// killAtEveryPoint kills a run made of args at each point, over a slice
// that has a snapshot (taken through env) and over one that has none, and
// checks what a reader finds after the kill, after the recovery, and after
// a full run; each point's runs use the simulator envFor gives.
func killAtEveryPoint(t *testing.T, baseEnv []string, envFor func(*testing.T) []string, points []string, killArgs func(string) []string) {
	t.Helper()
	base := filepath.Join(t.TempDir(), "base")
	if out, err := credregCmd(context.Background(), baseEnv, killArgs(base)...).CombinedOutput(); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	old := readSlice(t, base)
	if !old.whole() {
		t.Fatalf("first run left %+v", old)
	}
	for _, previous := range []bool{true, false} {
		for _, point := range points {
			name := fmt.Sprintf("%s/previous=%v", point, previous)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				env := envFor(t)
				wh := filepath.Join(t.TempDir(), "wh")
				before := sliceState{}
				if previous {
					if err := os.CopyFS(wh, os.DirFS(base)); err != nil {
						t.Fatal(err)
					}
					before = old
				}
				killedRun(t, env, killArgs(wh), point)
				killed := checkReaderFiles(t, wh, before.manifest)
				after := readSlice(t, wh)
				if after.manifest != "" && after.manifest != before.manifest && !after.whole() {
					t.Errorf("the new manifest is out beside older tables: %+v", after)
				}

				// The next run takes the slice's lease and settles the
				// unfinished publish before it reads a page; killed
				// there, it shows the slice as recovery left it.
				killedRun(t, env, killArgs(wh), pagePoint(1))
				settled := readSlice(t, wh)
				switch {
				case !settled.whole() && !settled.empty():
					t.Fatalf("after recovery the slice is mixed: %+v", settled)
				case rolledForward(point) && (settled.empty() || settled.manifest == before.manifest ||
					(killed != "" && settled.manifest != killed)):
					t.Errorf("killed at %q, after its intent: want the killed run rolled forward, have %+v (the killed run's files: %q)",
						point, settled, killed)
				case !rolledForward(point) && settled != after:
					t.Errorf("killed at %q: recovery changed the slice from %+v to %+v", point, after, settled)
				}
				checkReaderFiles(t, wh, before.manifest)

				// And the run after that publishes a slice of its own.
				out, err := credregCmd(context.Background(), env, killArgs(wh)...).CombinedOutput()
				if err != nil {
					t.Fatalf("run after the kill: %v\n%s", err, out)
				}
				final := readSlice(t, wh)
				if !final.whole() || final.manifest == before.manifest || final.manifest == killed {
					t.Errorf("after a complete run the slice is %+v", final)
				}
				if n := countFiles(t, wh, "intent.json"); n != 0 {
					t.Errorf("%d publish intents left", n)
				}
			})
		}
	}
}

func killArgs(wh string) []string {
	return []string{"run", "--date", killDate, "--force", "--warehouse", wh, "--progress", "none", "--shards", "off",
		"--page-size", killPageSize, "--tenant-rate", "10000/1s", "--app-rate", "10000/1s"}
}

// rolledForward says whether a run killed at point had made its publish
// intent durable, so the next writer must finish its publish.
func rolledForward(point string) bool {
	steps := load.PublishSteps()
	i := slices.Index(steps, point)
	return i > slices.Index(steps, load.StepStaged) && point != load.StepIntentRemoved
}

// killedRun runs credreg and expects it to kill itself at point.
func killedRun(t *testing.T, env []string, args []string, point string) {
	t.Helper()
	cmd := credregCmd(context.Background(), append(env, "CREDREG_TEST_KILL_AT="+point), args...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("the run was not killed at %q (never reached?): %v\n%s", point, err, out)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the run ended with %v, not killed at %q:\n%s", err, point, out)
	}
}
