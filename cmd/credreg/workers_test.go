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
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/pipeline"
)

// resolve reads the flags, else the environment of a Kubernetes Indexed
// Job or a Cloud Run job; the flags win; mistakes are usage errors.
func TestWorkerResolve(t *testing.T) {
	cases := []struct {
		name    string
		flags   map[string]int // flags given
		env     map[string]string
		want    worker
		wantErr string
	}{
		{name: "nothing: one worker", want: worker{0, 1, "default", "default"}},
		{name: "flags", flags: map[string]int{"worker-index": 2, "worker-count": 3}, want: worker{2, 3, "flag", "flag"}},
		{name: "Indexed Job", env: map[string]string{"JOB_COMPLETION_INDEX": "1", "CREDREG_WORKER_COUNT": "4"},
			want: worker{1, 4, "env (JOB_COMPLETION_INDEX)", "env (CREDREG_WORKER_COUNT)"}},
		{name: "Cloud Run job", env: map[string]string{"CLOUD_RUN_TASK_INDEX": "0", "CLOUD_RUN_TASK_COUNT": "2"},
			want: worker{0, 2, "env (CLOUD_RUN_TASK_INDEX)", "env (CLOUD_RUN_TASK_COUNT)"}},
		{name: "Cloud Run job of one task", env: map[string]string{"CLOUD_RUN_TASK_INDEX": "0", "CLOUD_RUN_TASK_COUNT": "1"},
			want: worker{0, 1, "env (CLOUD_RUN_TASK_INDEX)", "env (CLOUD_RUN_TASK_COUNT)"}},
		{name: "CREDREG_WORKER_* before the platform's", env: map[string]string{"CREDREG_WORKER_INDEX": "2", "JOB_COMPLETION_INDEX": "0",
			"CLOUD_RUN_TASK_INDEX": "1", "CREDREG_WORKER_COUNT": "3", "CLOUD_RUN_TASK_COUNT": "5"},
			want: worker{2, 3, "env (CREDREG_WORKER_INDEX)", "env (CREDREG_WORKER_COUNT)"}},
		{name: "flags win over env", flags: map[string]int{"worker-index": 0, "worker-count": 2},
			env:  map[string]string{"JOB_COMPLETION_INDEX": "3", "CREDREG_WORKER_COUNT": "4"},
			want: worker{0, 2, "flag", "flag"}},
		{name: "index not below count", flags: map[string]int{"worker-index": 3, "worker-count": 3},
			wantErr: "--worker-index 3 is not a worker of 3 (--worker-count): want 0 to 2"},
		{name: "negative index", flags: map[string]int{"worker-index": -1, "worker-count": 3}, wantErr: "--worker-index -1: want a worker index of 0 or more"},
		{name: "no worker", flags: map[string]int{"worker-count": 0}, wantErr: "--worker-count 0: want 1 or more workers"},
		{name: "count without index", flags: map[string]int{"worker-count": 3}, wantErr: "--worker-count 3, but no worker index"},
		{name: "Indexed Job without its count", env: map[string]string{"JOB_COMPLETION_INDEX": "2"},
			wantErr: "JOB_COMPLETION_INDEX 2, but no worker count: pass --worker-count, or set CREDREG_WORKER_COUNT"},
		{name: "index past the env count", env: map[string]string{"CLOUD_RUN_TASK_INDEX": "5", "CLOUD_RUN_TASK_COUNT": "5"},
			wantErr: "CLOUD_RUN_TASK_INDEX 5 is not a worker of 5 (CLOUD_RUN_TASK_COUNT): want 0 to 4"},
		{name: "not a number", env: map[string]string{"CREDREG_WORKER_COUNT": "three"}, wantErr: `CREDREG_WORKER_COUNT "three": want a whole number`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := workerOptions{WorkerIndex: 0, WorkerCount: 1}
			if v, ok := c.flags["worker-index"]; ok {
				o.WorkerIndex = v
			}
			if v, ok := c.flags["worker-count"]; ok {
				o.WorkerCount = v
			}
			changed := func(name string) bool { _, ok := c.flags[name]; return ok }
			got, err := o.resolve(changed, func(k string) string { return c.env[k] })
			if c.wantErr != "" {
				var ue usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want a usage error saying %q", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

// simTenants starts graphsim with n tenants of a few users on day, an
// app-wide limit of app requests per window, and a per-tenant limit too
// high to matter, so that any 429 is the app limit's. It writes a config
// listing the tenants (their secret in SIM_SECRET) and the CA file, and
// returns the server, the config's path, the warehouse it names and the
// environment a credreg process needs.
func simTenants(t *testing.T, n, app int, window time.Duration, day time.Time) (sim *graphsim.Server, cfg, wh string, env []string) {
	t.Helper()
	tenants := make([]graphsim.Tenant, n)
	for i := range tenants {
		tenants[i] = graphsim.Tenant{ID: graphsim.TenantID(i), Users: 20, UsersOn: day}
	}
	sim, err := graphsim.New(graphsim.Options{Tenants: tenants, Now: clockOn(day), EmptyPageEvery: -1,
		Limits: graphsim.Limits{PerTenant: 1000, PerTenantWindow: window, App: app, AppWindow: window}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	wh = filepath.Join(dir, "wh")
	var b strings.Builder
	fmt.Fprintf(&b, "warehouse: %s\ngraph_url: %s\nauthority_host: %s\ntenants:\n", wh, sim.URL(), sim.URL())
	for i, tn := range tenants {
		fmt.Fprintf(&b, "  - id: %s\n    name: t%d\n    client_id: %s\n    client_secret_env: SIM_SECRET\n", tn.ID, i, graphsim.DefaultClientID)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, sim.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return sim, writeConfig(t, b.String()), wh, []string{"SSL_CERT_FILE=" + ca, "SIM_SECRET=" + graphsim.DefaultClientSecret}
}

// workerRun is how one credreg process ended.
type workerRun struct {
	code           int
	stdout, stderr string
	records        []map[string]any // stderr's JSON log records
}

// runWorkers runs credreg run with args as count workers at once, worker
// i with --worker-index i --worker-count count, JSON logs at debug level.
func runWorkers(t *testing.T, env []string, count int, args ...string) []workerRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runs := make([]workerRun, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Go(func() {
			a := append([]string{"run", "--worker-index", fmt.Sprint(i), "--worker-count", fmt.Sprint(count),
				"--log-format", "json", "--log-level", "debug", "--progress", "none"}, args...)
			var stdout, stderr strings.Builder
			cmd := credregCmd(ctx, env, a...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.Exited() {
				runs[i].code, err = ee.ExitCode(), nil
			}
			runs[i].stdout, runs[i].stderr, errs[i] = stdout.String(), stderr.String(), err
		})
	}
	wg.Wait()
	for i, r := range runs {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v\n%s", i, errs[i], r.stderr)
		}
		sc := bufio.NewScanner(strings.NewReader(r.stderr))
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatalf("worker %d: not a JSON log line: %s", i, sc.Text())
			}
			runs[i].records = append(runs[i].records, rec)
		}
	}
	return runs
}

// N workers as separate processes against one graphsim, with one config
// and graphsim's own app limit as --app-rate: every tenant is read and
// published exactly once, by one worker, and graphsim answers no 429 —
// the workers' shares of the rate add up to no more than its limit.
func TestWorkersScaleOut(t *testing.T) {
	t.Parallel() // most of its time is Graph's throttle: it sleeps
	const workers, tenants, app = 3, 6, 8
	// A short window keeps the test short: 2 requests per worker and window.
	const window = 3 * time.Second
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	sim, cfg, wh, env := simTenants(t, tenants, app, window, day)
	start := time.Now()
	runs := runWorkers(t, env, workers, "--config", cfg, "--date", day.Format(time.DateOnly),
		"--app-rate", fmt.Sprintf("%d/%s", app, window), "--shards", "off")
	t.Logf("%d workers took %s", workers, time.Since(start).Round(time.Millisecond))

	byWorker := map[string]int{}  // published tenant -> worker
	runIDs := map[string]string{} // published tenant -> run id
	for i, r := range runs {
		if r.code != 0 {
			t.Fatalf("worker %d: exit %d\n%s", i, r.code, r.stderr)
		}
		var listed []string // the tenants the worker says it takes
		took := false
		for _, rec := range r.records {
			switch msg, _ := rec["msg"].(string); {
			case strings.HasPrefix(msg, fmt.Sprintf("worker %d of %d: taking ", i, workers)):
				took = true
			case msg == "tenants of this worker":
				for _, l := range rec["tenants"].([]any) {
					listed = append(listed, l.(string))
				}
			case msg == "run summary" && rec["tenant"] != nil:
				tenant := rec["tenant"].(string)
				if w, twice := byWorker[tenant]; twice {
					t.Errorf("tenant %s published by worker %d and by worker %d", tenant, w, i)
				}
				byWorker[tenant], runIDs[tenant] = i, rec["run_id"].(string)
				if !slices.ContainsFunc(listed, func(l string) bool { return strings.HasSuffix(l, "("+tenant+")") }) {
					t.Errorf("worker %d published %s, not among the tenants it said it takes: %v", i, tenant, listed)
				}
			}
		}
		if !took || len(listed) == 0 {
			t.Errorf("worker %d did not say which tenants it takes:\n%s", i, r.stderr)
		}
	}
	for i := range tenants {
		id := graphsim.TenantID(i)
		if _, ok := byWorker[id]; !ok {
			t.Errorf("tenant %s published by no worker", id)
			continue
		}
		// The slice's manifest is the run of the worker that says it published it.
		b, err := os.ReadFile(filepath.Join(wh, "_manifests", "snapshot_date="+day.Format(time.DateOnly), "tenant_id="+id+".json"))
		var m pipeline.Manifest
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil || m.RunID != runIDs[id] {
			t.Errorf("tenant %s: manifest of run %q (%v), want worker %d's run %s", id, m.RunID, err, byWorker[id], runIDs[id])
		}
		// One raw run: no other worker read it.
		raws, _ := filepath.Glob(filepath.Join(wh, "_raw", "tenant_id="+id, "snapshot_date=*", "*", "run_id=*"))
		if len(raws) != 1 {
			t.Errorf("tenant %s: %d raw runs, want 1: %v", id, len(raws), raws)
		}
	}
	st := sim.Stats()
	if st.Throttled != 0 {
		t.Errorf("graphsim answered %d requests of %d with 429: the workers together exceeded its app limit of %d per %s",
			st.Throttled, st.Requests, app, window)
	}
	if st.Pages != tenants {
		t.Errorf("graphsim served %d pages, want %d: one per tenant, each read once", st.Pages, tenants)
	}
}

// A worker that no tenant falls to says so and exits 0, touching no
// slice; config check shows each worker's share.
func TestWorkerWithoutTenants(t *testing.T) {
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	sim, cfg, wh, env := simTenants(t, 1, 122, 10*time.Second, day)
	// The one tenant falls to one of the 3 workers.
	var taker int = -1
	for i := range 3 {
		code, out, errOut := configCheck(t, append(env, "JOB_COMPLETION_INDEX="+fmt.Sprint(i), "CREDREG_WORKER_COUNT=3"),
			"--config", cfg)
		if code != 0 {
			t.Fatalf("config check of worker %d: exit %d\n%s%s", i, code, out, errOut)
		}
		for _, want := range []*regexp.Regexp{
			settingLine("worker-index", fmt.Sprint(i), "env (JOB_COMPLETION_INDEX)"),
			settingLine("worker-count", "3", "env (CREDREG_WORKER_COUNT)"),
			settingLine("app-rate", "122/10s (this worker: 40/10s, 1/3)", "default"),
		} {
			if !want.MatchString(out) {
				t.Errorf("config check of worker %d lacks %s:\n%s", i, want, out)
			}
		}
		if strings.Contains(out, fmt.Sprintf("worker %d of 3 (index: env (JOB_COMPLETION_INDEX); count: env (CREDREG_WORKER_COUNT)): app rate 40/10s, tenants 1 of 1: t0 (%s)", i, graphsim.TenantID(0))) {
			if taker >= 0 {
				t.Errorf("workers %d and %d both take the tenant", taker, i)
			}
			taker = i
		} else if !strings.Contains(out, fmt.Sprintf("worker %d of 3 (index: env (JOB_COMPLETION_INDEX); count: env (CREDREG_WORKER_COUNT)): app rate 40/10s, tenants 0 of 1\n", i)) {
			t.Errorf("config check of worker %d does not show its share:\n%s", i, out)
		}
	}
	if taker < 0 {
		t.Fatal("no worker takes the tenant")
	}
	// The same in config check's JSON.
	code, out, errOut := configCheck(t, append(env, "CREDREG_WORKER_COUNT=3"), "--config", cfg, "--worker-index",
		fmt.Sprint(taker), "--log-format", "json")
	var rep configReport
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil {
		t.Fatalf("config check --log-format json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	if w := rep.Worker; w == nil || w.Index != taker || w.Count != 3 || w.IndexSource != "flag" ||
		w.CountSource != "env (CREDREG_WORKER_COUNT)" || w.AppRate != "40/10s" || w.Of != 1 ||
		!slices.Equal(w.Tenants, []string{"t0 (" + graphsim.TenantID(0) + ")"}) {
		t.Errorf("config check's worker: %+v", rep.Worker)
	}
	idle := (taker + 1) % 3
	code, out, errOut = runCmd(t, credregCmd(context.Background(), append(env, "CLOUD_RUN_TASK_INDEX="+fmt.Sprint(idle),
		"CLOUD_RUN_TASK_COUNT=3"), "run", "--config", cfg, "--date", day.Format(time.DateOnly), "--progress", "none"))
	if code != 0 || !strings.Contains(errOut, fmt.Sprintf("worker %d of 3: no tenant falls to this worker", idle)) {
		t.Fatalf("idle worker: exit %d\n%s%s", code, out, errOut)
	}
	if st := sim.Stats(); st.Requests != 0 || st.TokenRequests != 0 {
		t.Errorf("the idle worker called graphsim: %+v", st)
	}
	if m, _ := filepath.Glob(filepath.Join(wh, "_manifests", "*", "*")); len(m) != 0 {
		t.Errorf("the idle worker wrote manifests: %v", m)
	}
}

// Worker flags that do not fit are usage errors (exit 2), before any request.
func TestWorkerFlagsRejected(t *testing.T) {
	cases := []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--worker-index", "3", "--worker-count", "3"}, nil, "--worker-index 3 is not a worker of 3"},
		{[]string{"--worker-count", "2"}, nil, "--worker-count 2, but no worker index"},
		{nil, []string{"JOB_COMPLETION_INDEX=1"}, "JOB_COMPLETION_INDEX 1, but no worker count"},
		{[]string{"--worker-index", "x"}, nil, `invalid argument "x" for "--worker-index"`},
	}
	for _, c := range cases {
		t.Run(strings.Join(append(c.args, c.env...), " "), func(t *testing.T) {
			code, _, errOut := runCmd(t, credregCmd(context.Background(), c.env,
				append([]string{"run", "--demo", "--warehouse", filepath.Join(t.TempDir(), "wh")}, c.args...)...))
			if code != exitUsage || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, want %d saying %q:\n%s", code, exitUsage, c.want, errOut)
			}
		})
	}
}
