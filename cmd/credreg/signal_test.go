package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The signal tests run the test binary as credreg through main itself
// (TestMain's stand-in has signal handling of its own), before TestMain:
// CREDREG_TEST_SIGNAL=main runs main; =stuck runs it with a run that,
// once its first page is landed, says so on stderr and then hangs in that
// step for a minute, as a slow upload or rename would: only a second
// signal ends it sooner.
func init() {
	switch os.Getenv("CREDREG_TEST_SIGNAL") {
	case "main":
		main()
	case "stuck":
		os.Exit(runStoppable(os.Args[1:], deps{afterStep: func(p string) {
			if p == pagePoint(1) {
				fmt.Fprintln(os.Stderr, stuckLine)
				time.Sleep(time.Minute) // a timer, so the runtime sees no deadlock
			}
		}}))
	}
}

const stuckLine = "test: stuck after page 1"

// The signal tests' tenant: 600 users read 20 a page, a second a page,
// take half a minute; a run stopped at its first page is far from done.
const (
	signalUsers    = "600"
	signalPageSize = "20"
)

func signalArgs(wh, pageSize string, extra ...string) []string {
	return append([]string{"run", "--date", sliceDate, "--force", "--warehouse", wh, "--progress", "none", "--shards", "off",
		"--page-size", pageSize, "--tenant-rate", "10000/1s", "--app-rate", "10000/1s"}, extra...)
}

// signalSetup starts a slow simulator and publishes a first, complete
// slice into a new warehouse, in one page: the snapshot a stopped run
// must leave as it was.
func signalSetup(t *testing.T) (env []string, wh string) {
	t.Helper()
	url, ca := startSimulator(t, "--users", signalUsers, "--date", sliceDate, "--no-throttle", "--empty-page-every", "-1",
		"--latency", "1s")
	env = simEnv(url, ca)
	wh = filepath.Join(t.TempDir(), "wh")
	if out, err := credregCmd(context.Background(), env, signalArgs(wh, "999")...).CombinedOutput(); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	if s := readSlice(t, wh); !s.whole() {
		t.Fatalf("first run left %+v", s)
	}
	return env, wh
}

// stoppable is a credreg process under test whose stderr is read line by
// line.
type stoppable struct {
	cmd    *exec.Cmd
	lines  chan string   // stderr, closed at its end
	exited chan struct{} // closed once the process is waited for
	err    error         // Wait's, once exited is closed
	stderr strings.Builder
}

func startStoppable(t *testing.T, env []string, mode string, args []string) *stoppable {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &stoppable{cmd: credregCmd(ctx, append(env, "CREDREG_TEST_SIGNAL="+mode), args...),
		lines: make(chan string, 1000), exited: make(chan struct{})}
	r, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	// A process a failed test leaves running is killed (SIGKILL).
	t.Cleanup(func() { cancel(); <-p.exited })
	return p
}

// waitLine reads stderr up to a line holding want, keeping what it reads.
func (p *stoppable) waitLine(t *testing.T, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("stderr ended without %q:\n%s", want, p.stderr.String())
			}
			p.stderr.WriteString(l + "\n")
			if strings.Contains(l, want) {
				return l
			}
		case <-deadline:
			t.Fatalf("no %q on stderr within %v:\n%s", want, timeout, p.stderr.String())
		}
	}
}

// wait waits up to timeout for the process to end and returns all its
// stderr.
func (p *stoppable) wait(t *testing.T, timeout time.Duration, what string) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-p.lines:
			if ok {
				p.stderr.WriteString(l + "\n")
				continue
			}
			p.lines = nil
		case <-p.exited:
			return p.stderr.String()
		case <-deadline:
			t.Fatalf("%s: still running %v later:\n%s", what, timeout, p.stderr.String())
		}
	}
}

// A run sent SIGTERM while it reads pages exits 130 within seconds, says
// it is stopping, once, and leaves the previous snapshot byte for byte.
func TestSIGTERMStopsARunGracefully(t *testing.T) {
	t.Parallel()
	env, wh := signalSetup(t)
	before := hashTree(t, wh)
	rawBefore := countFiles(t, wh, ".json.gz")

	p := startStoppable(t, env, "main", signalArgs(wh, signalPageSize))
	deadline := time.Now().Add(60 * time.Second)
	for countFiles(t, wh, ".json.gz") <= rawBefore {
		if time.Now().After(deadline) {
			t.Fatal("the run landed no page within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The pages left take half a minute; a stop takes a second or two.
	stderr := p.wait(t, 10*time.Second, "stopped at its first page")
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit %v, want %d:\n%s", p.err, exitInterrupted, stderr)
	}
	if n := strings.Count(stderr, stopNotice); n != 1 {
		t.Errorf("stderr says %q %d times, want once:\n%s", stopNotice, n, stderr)
	}
	sameTree(t, before, hashTree(t, wh))
}

// A second SIGTERM ends a run at once, even one stuck in a step that the
// first could not cut short; the previous snapshot is still whole. The
// notice is a JSON record when the logs are JSON.
func TestSecondSIGTERMStopsAtOnce(t *testing.T) {
	t.Parallel()
	env, wh := signalSetup(t)
	before := hashTree(t, wh)
	old := readSlice(t, wh)

	p := startStoppable(t, env, "stuck", signalArgs(wh, signalPageSize, "--log-format", "json"))
	p.waitLine(t, stuckLine, 60*time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	notice := p.waitLine(t, stopNotice, 10*time.Second)
	var rec struct{ Msg, Level, Signal string }
	if err := json.Unmarshal([]byte(notice), &rec); err != nil || rec.Msg != stopNotice || rec.Signal != syscall.SIGTERM.String() {
		t.Errorf("the notice is not a JSON record of the signal: %v\n%s", err, notice)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The stuck step lasts a minute.
	stderr := p.wait(t, 5*time.Second, "sent a second SIGTERM")
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) {
		t.Fatalf("exit %v, want killed by SIGTERM:\n%s", p.err, stderr)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("exit %v, want killed by SIGTERM:\n%s", p.err, stderr)
	}
	if s := readSlice(t, wh); s != old || !s.whole() {
		t.Errorf("the slice was %+v, is %+v", old, s)
	}
	sameTree(t, before, hashTree(t, wh))
}

// sameTree reports each file of hashTree's that is gone, new or changed.
func sameTree(t *testing.T, before, after map[string]string) {
	t.Helper()
	for f, h := range before {
		if after[f] != h {
			t.Errorf("%s changed or gone", f)
		}
	}
	for f := range after {
		if _, ok := before[f]; !ok {
			t.Errorf("%s is new", f)
		}
	}
}

func TestJSONLogs(t *testing.T) {
	cases := []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"run", "--log-format", "json"}, true},
		{[]string{"run", "--log-format=json"}, true},
		{[]string{"run", "--log-format", "text"}, false},
		{[]string{"run", "--log-format"}, false},
		{[]string{"run", "--", "--log-format=json"}, false},
	}
	for _, c := range cases {
		if got := jsonLogs(c.args); got != c.want {
			t.Errorf("jsonLogs(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}
