package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// The test binary doubles as the credreg binary, so the CLI is tested as
// separate processes without a build step.
func TestMain(m *testing.M) {
	if os.Getenv("CREDREG_TEST_AS_MAIN") == "1" {
		// As main does, signals and all, with the kill test's hook.
		os.Exit(runStoppable(os.Args[1:], deps{afterStep: killAt(os.Getenv("CREDREG_TEST_KILL_AT"))}))
	}
	os.Exit(m.Run())
}

// killAt returns a hook that kills the process with SIGKILL — no deferred
// function, no cleanup — when a run reaches the named point; nil for "".
func killAt(point string) func(string) {
	if point == "" {
		return nil
	}
	return func(p string) {
		if p == point {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way; run nothing more
		}
	}
}

func credregCmd(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(cleanEnv(), "CREDREG_TEST_AS_MAIN=1")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// cleanEnv drops the AZURE_* and CREDREG_* variables of the developer's shell.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AZURE_") && !strings.HasPrefix(kv, "CREDREG_") && !strings.HasPrefix(kv, "SSL_CERT_") {
			out = append(out, kv)
		}
	}
	return out
}

func TestExitCodes(t *testing.T) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	cases := []struct {
		ctx  context.Context
		err  error
		want int
	}{
		{ctx, nil, exitOK},
		{ctx, usagef("bad"), exitUsage},
		{ctx, fmt.Errorf("x: %w", extract.ErrNotPremium), exitAccess},
		{ctx, fmt.Errorf("x: %w", extract.ErrForbidden), exitAccess},
		{ctx, fmt.Errorf("x: %w", extract.ErrCredential), exitAccess},
		{ctx, fmt.Errorf("x: %w", extract.ErrTransient), exitFailure},
		{ctx, &extract.ForeignHostError{Host: "a", Want: "b"}, exitContract},
		{ctx, fmt.Errorf("t: %w", &pipeline.BudgetError{RecordsIn: 10, Rejected: 5}), exitContract},
		{ctx, fmt.Errorf("t: %w: Graph counts 10 users, we landed 9", pipeline.ErrAggregateDrift), exitContract},
		{ctx, fmt.Errorf("t: %w", &extract.PageError{Err: errors.New("no value"), Persistent: true}), exitContract},
		{ctx, fmt.Errorf("%w after 10 attempts: %w", extract.ErrRetriesExceed, &extract.PageError{Err: errors.New("no value")}), exitFailure},
		{ctx, fmt.Errorf("t: %w", extract.ErrUnauthorized), exitAccess},
		{ctx, &pipeline.PartialError{Total: 2, Failed: []pipeline.TenantResult{{Err: extract.ErrTransient}}}, exitPartial},
		{ctx, &pipeline.PartialError{Total: 2, Failed: []pipeline.TenantResult{{Err: extract.ErrForbidden}, {Err: extract.ErrNotPremium}}}, exitAccess},
		{ctx, &pipeline.PartialError{Total: 2, Failed: []pipeline.TenantResult{{Err: extract.ErrForbidden}, {Err: extract.ErrTransient}}}, exitFailure},
		{cancelled, fmt.Errorf("run: %w", context.Canceled), exitInterrupted},
		{ctx, errors.New("disk full"), exitFailure},
		{ctx, fmt.Errorf("t: %w", &extract.GraphError{Status: 400, Code: "BadRequest", Class: extract.Permanent}), exitRefused},
		{ctx, fmt.Errorf("t: %w", &extract.GraphError{Status: 404, Code: "Request_ResourceNotFound", Class: extract.Permanent}), exitRefused},
		{ctx, &pipeline.PartialError{Total: 2, Failed: []pipeline.TenantResult{{Err: extract.ErrNotFound}, {Err: extract.ErrNotFound}}}, exitRefused},
		{ctx, &pipeline.PartialError{Total: 3, Failed: []pipeline.TenantResult{{Err: extract.ErrBadRequest}}}, exitPartial},
		{ctx, fmt.Errorf("opening warehouse: %w", &load.LeaseHeldError{Holder: load.LeaseHolder{RunID: "r"}}), exitLeaseHeld},
		{ctx, &pipeline.PartialError{Total: 2, Failed: []pipeline.TenantResult{{Err: &load.LeaseHeldError{}}, {Err: &load.LeaseHeldError{}}}}, exitLeaseHeld},
	}
	for _, c := range cases {
		if got := exitCode(c.ctx, c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// tenantA is a tenant id for tests that need one that is not graphsim's.
const tenantA = "8f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f"

// Bad input ends with one clear line and the usage status, before any request.
func TestRunRejectsBadInput(t *testing.T) {
	t.Parallel() // most of its time is Graph's throttle: it sleeps
	cases := []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"run", "--demo", "--date", "2026-13-01"}, nil, "want YYYY-MM-DD"},
		{[]string{"run", "--demo", "--date", "2999-01-01"}, nil, "in the future"},
		{[]string{"run", "--demo", "--endpoint", "users"}, nil, "unknown endpoint"},
		{[]string{"run"}, nil, "no tenant"},
		{[]string{"run", "--tenant", tenantA}, nil, "AZURE_CLIENT_ID"},
		{[]string{"run", "--tenant", tenantA}, []string{"AZURE_CLIENT_ID=c"}, "AZURE_CLIENT_SECRET"},
		{[]string{"run", "--tenant", "contoso.onmicrosoft.com"}, nil, `--tenant "contoso.onmicrosoft.com": the tenant id is not a GUID`},
		{[]string{"run"}, []string{"AZURE_TENANT_ID=contoso"}, `AZURE_TENANT_ID "contoso": the tenant id is not a GUID; use the Tenant ID that the Microsoft Entra admin center shows under Identity → Overview`},
		{[]string{"run", "--demo", "--log-format", "xml"}, nil, "--log-format"},
		{[]string{"run", "--nope"}, nil, "unknown flag"},
		{[]string{"run", "extra"}, nil, "takes no arguments"},
		{[]string{"schema", "nosuchtable"}, nil, "unknown table"},
		{[]string{"schema", "a", "b"}, nil, "at most one table"},
		{[]string{"bogus"}, nil, "unknown command"},
		{[]string{"run", "--demo", "--sink", "bigtable"}, nil, "--sink \"bigtable\": want parquet or parquet,bigquery"},
		{[]string{"run", "--demo", "--sink", "bigquery"}, nil, "say --sink parquet,bigquery"},
		{[]string{"run", "--demo", "--bq-dataset", "x"}, nil, "--bq-dataset goes with --sink parquet,bigquery"},
		{[]string{"run", "--demo", "--sink", "parquet,bigquery", "--bq-endpoint", "ftp://x"}, nil, "want http://host:port"},
		{[]string{"run", "--demo", "--shards", "3"}, nil, "1, 2, 4, 8 or 16"},
		{[]string{"run", "--demo", "--tenant-rate", "5"}, nil, "want requests/window"},
		{[]string{"run", "--demo", "--app-rate", "x/10s"}, nil, "want requests/window"},
		{[]string{"run", "--demo", "--max-reject-ratio", "1.5"}, nil, "between 0 and 1"},
		{[]string{"run", "--demo", "--retry-budget", "0"}, nil, "--retry-budget 0"},
		{[]string{"run", "--demo", "--warehouse", "/dev/null/wh"}, nil, "not a directory"},
		{[]string{"run", "--tenant", tenantA, "--tenant", strings.ToUpper(tenantA)}, []string{"AZURE_CLIENT_ID=c", "AZURE_CLIENT_SECRET=s"}, "listed twice"},
		{[]string{"run", "--config", "/nonexistent/credreg.yaml"}, nil, "--config"},
		{[]string{"run", "--demo", "--config", "x.yaml"}, nil, "do not go together"},
		{[]string{"run", "--demo", "--tenant", tenantA}, nil, "--tenant and --demo do not go together"},
		{[]string{"run", "--demo-users", "10"}, nil, "--demo-users goes with --demo"},
		{[]string{"run", "--demo", "--lock-wait", "-1s"}, nil, "--lock-wait -1s: want a duration"},
		{[]string{"run", "--demo", "--page-size", "1000"}, nil, "--page-size 1000: want 1 to 999"},
		{[]string{"migrate", "--lock-wait", "-1m"}, nil, "--lock-wait -1m0s: want a duration"},
		{[]string{"migrate", "extra"}, nil, "takes no arguments"},
		{[]string{"migrate", "--warehouse", "file:///nonexistent?bogus=s3cr3t"}, nil, "--warehouse"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			cmd := credregCmd(context.Background(), c.env, c.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
				t.Fatalf("exit %v, want %d; stderr:\n%s", err, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Errorf("stderr does not say %q:\n%s", c.want, stderr.String())
			}
			if strings.Contains(stderr.String(), "s3cr3t") {
				t.Errorf("stderr shows a secret of the command line:\n%s", stderr.String())
			}
		})
	}
}

func TestRunDemo(t *testing.T) {
	t.Parallel() // most of its time is Graph's throttle: it sleeps
	dir := t.TempDir()
	var out, errb bytes.Buffer
	o := defaultRunOptions()
	o.Warehouse, o.Demo, o.DemoUsers, o.Date, o.Progress = filepath.Join(dir, "wh"), true, 700, "2026-11-20", "log"
	if err := runRun(context.Background(), o, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{"users          700", "rejected       0", "snapshot 2026-11-20", "part-00000.parquet",
		"graph counts   Graph counts 700 users, we landed 700", "reconciled     no previous snapshot"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if n := countFiles(t, o.Warehouse, ".parquet"); n != len(schemas.Tables) {
		t.Errorf("%d parquet files, want one per table (%d)", n, len(schemas.Tables))
	}
	if n := countFiles(t, filepath.Join(o.Warehouse, "_raw"), ".json.gz"); n == 0 {
		t.Error("no raw pages landed")
	}
	// JSON logs for schedulers: every stderr line is JSON, the summary included.
	out.Reset()
	errb.Reset()
	o.LogFormat = "json"
	if err := runRun(context.Background(), o, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("json mode wrote to stdout: %s", out.String())
	}
	sc := bufio.NewScanner(&errb)
	summary := false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			t.Errorf("not JSON: %s", line)
		}
		summary = summary || strings.Contains(line, `"msg":"run summary"`)
	}
	if !summary {
		t.Error("no JSON run summary")
	}
}

// With --log-format json even the final error is one JSON record.
func TestJSONErrors(t *testing.T) {
	cmd := credregCmd(context.Background(), []string{"AZURE_CLIENT_ID=c"}, "run", "--tenant", tenantA, "--log-format", "json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_ = cmd.Run()
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "{") || !strings.Contains(lines[0], `"exit_code":2`) {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
}

func countFiles(t *testing.T, dir, suffix string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, suffix) {
			n++
		}
		return nil
	})
	return n
}

// startSimulator runs `credreg simulate` as its own process and returns its
// URL and the CA file.
func startSimulator(t *testing.T, args ...string) (url, ca string) {
	t.Helper()
	ca = filepath.Join(t.TempDir(), "ca.pem")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := credregCmd(ctx, nil, append([]string{"simulate", "--addr", "127.0.0.1:0", "--ca-out", ca}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	re := regexp.MustCompile(`at (https://127\.0\.0\.1:\d+)`)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, stdout)
			return m[1], ca
		}
	}
	t.Fatal("simulate did not print its URL")
	return "", ""
}

func simEnv(url, ca string) []string {
	return []string{"SSL_CERT_FILE=" + ca, "CREDREG_GRAPH_URL=" + url, "AZURE_AUTHORITY_HOST=" + url,
		"AZURE_TENANT_ID=" + graphsim.DefaultTenantID, "AZURE_CLIENT_ID=" + graphsim.DefaultClientID,
		"AZURE_CLIENT_SECRET=" + graphsim.DefaultClientSecret}
}

// `credreg simulate` in one process, `credreg run` in another, trusting
// the simulator's CA through SSL_CERT_FILE, for both endpoints.
func TestSimulateThenRunAcrossProcesses(t *testing.T) {
	t.Parallel() // most of its time is Graph's throttle: it sleeps
	url, ca := startSimulator(t, "--users", "400", "--date", "2026-11-20")
	wh := filepath.Join(t.TempDir(), "wh")
	for i, ep := range []string{"userRegistrationDetails", "credentialUserRegistrationDetails"} {
		args := []string{"run", "--endpoint", ep, "--date", "2026-11-20", "--warehouse", wh, "--progress", "none"}
		if i > 0 {
			// The date is past and its slice now exists: replacing it with
			// today's data takes --force.
			out, err := credregCmd(context.Background(), simEnv(url, ca), args...).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitUsage ||
				!strings.Contains(string(out), "snapshot_date=2026-11-20/tenant_id="+graphsim.DefaultTenantID+" already exists") ||
				!strings.Contains(string(out), "--force") {
				t.Fatalf("past date over an existing slice: %v\n%s", err, out)
			}
			args = append(args, "--force")
		}
		out, err := credregCmd(context.Background(), simEnv(url, ca), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", ep, err, out)
		}
		if i == 0 && !strings.Contains(string(out), "this snapshot will carry date 2026-11-20 but today's data") {
			t.Errorf("no warning for a past date:\n%s", out)
		}
		if !strings.Contains(string(out), "users          400") {
			t.Errorf("%s: summary:\n%s", ep, out)
		}
		if strings.Contains(string(out), graphsim.DefaultClientSecret) {
			t.Errorf("the client secret appears in the output")
		}
	}
	// A wrong secret is an access failure with its own exit status.
	env := append(simEnv(url, ca), "AZURE_CLIENT_SECRET=wrong-secret")
	out, err := credregCmd(context.Background(), env, "run", "--warehouse", wh, "--progress", "none").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitAccess {
		t.Fatalf("wrong secret: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "wrong-secret") {
		t.Errorf("the secret appears in the output:\n%s", out)
	}
}

// A run killed with SIGKILL mid-way leaves the previous snapshot as it was
// and no partial Parquet file where a reader would find it.
func TestKilledRunKeepsPreviousSnapshot(t *testing.T) {
	t.Parallel() // most of its time is Graph's throttle: it sleeps
	url, ca := startSimulator(t, "--users", "6000", "--date", "2026-11-20")
	wh := filepath.Join(t.TempDir(), "wh")
	args := []string{"run", "--date", "2026-11-20", "--warehouse", wh, "--progress", "none", "--force"}
	if out, err := credregCmd(context.Background(), simEnv(url, ca), args...).CombinedOutput(); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	before := hashTree(t, wh)

	cmd := credregCmd(context.Background(), simEnv(url, ca), args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once it has landed a page of its own (the first run landed some too).
	rawBefore := countFiles(t, wh, ".json.gz")
	deadline := time.Now().Add(60 * time.Second)
	for countFiles(t, wh, ".json.gz") <= rawBefore && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	after := hashTree(t, wh)
	if len(before) != len(after) {
		t.Fatalf("files changed: before %d, after %d:\n%v\n%v", len(before), len(after), before, after)
	}
	for p, h := range before {
		if after[p] != h {
			t.Errorf("%s changed", p)
		}
	}
}

// hashTree maps every file a reader could find (all but the raw zone, the
// staging area and the leases, whose names start with "_"), and the
// manifests, to its sha256.
func hashTree(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (d.Name() == "_raw" || d.Name() == "_staging" || d.Name() == "_leases") {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			b, _ := os.ReadFile(p)
			out[p] = fmt.Sprintf("%x", sha256.Sum256(b))
		}
		return nil
	})
	return out
}

// A Graph URL with a path Graph does not serve is a 404 that no retry
// fixes: exit status 6, with the hint, at once.
func TestRunRefusedExitStatus(t *testing.T) {
	url, ca := startSimulator(t, "--users", "50", "--no-throttle")
	env := append(simEnv(url, ca), "CREDREG_GRAPH_URL="+url+"/not-graph")
	out, err := credregCmd(context.Background(), env, "run", "--warehouse", filepath.Join(t.TempDir(), "wh"),
		"--progress", "none").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitRefused {
		t.Fatalf("exit %v, want %d:\n%s", err, exitRefused, out)
	}
	for _, want := range []string{"HTTP 404", "Check --graph-url", "retrying will not help"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// A warehouse or raw-zone URL may carry credentials (user info, a query
// parameter): they reach neither the manifest nor the output, whether the
// run publishes or the URL does not open.
func TestLocationCredentialsStayOut(t *testing.T) {
	const secret = "s3cr3t-pw"
	dir := t.TempDir()
	wh := "file://user:" + secret + "@" + filepath.Join(dir, "wh")
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"warehouse with user info", []string{"--warehouse", wh}, exitOK},
		{"raw zone with user info", []string{"--warehouse", filepath.Join(dir, "wh2"), "--raw", "file://u:" + secret + "@" + filepath.Join(dir, "raw")}, exitOK},
		{"warehouse with a secret query", []string{"--warehouse", "file://" + filepath.Join(dir, "wh3") + "?token=" + secret}, exitUsage},
		{"raw zone with a secret query", []string{"--warehouse", filepath.Join(dir, "wh4"), "--raw", "file://u:" + secret + "@" + filepath.Join(dir, "raw") + "?token=" + secret}, exitUsage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"run", "--demo", "--demo-users", "50", "--progress", "none", "--shards", "off"}, c.args...)
			out, err := credregCmd(context.Background(), nil, args...).CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			if code != c.want {
				t.Fatalf("exit %v, want %d:\n%s", err, c.want, out)
			}
			if strings.Contains(string(out), secret) {
				t.Errorf("the secret reached the output:\n%s", out)
			}
		})
	}
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".json") {
			return nil
		}
		b, _ := os.ReadFile(p)
		n++
		if strings.Contains(string(b), secret) {
			t.Errorf("%s holds the secret:\n%s", p, b)
		}
		if strings.Contains(p, "_manifests") && !strings.Contains(string(b), `"location":`) {
			t.Errorf("%s records no raw location", p)
		}
		return nil
	})
	if n < 2 {
		t.Errorf("%d JSON files written, want the two runs' manifests at least", n)
	}
}
