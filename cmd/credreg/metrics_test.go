package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/pipeline"
)

// promFile parses a metrics file as Prometheus's text parser does.
func promFile(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return promText(t, f)
}

func promText(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// promValue is the value of the one series of name whose labels include
// want; ok is false when there is none.
func promValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, m := range fams[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && have[k] == v
		}
		if !match {
			continue
		}
		if m.Gauge != nil {
			return m.GetGauge().GetValue(), true
		}
		return m.GetCounter().GetValue(), true
	}
	return 0, false
}

// A run writes its metrics file with the numbers of its manifest; a run
// that then breaches the data contract (exit 4) still writes one, with
// its own numbers under its status, and the previous success's time.
func TestRunMetricsFile(t *testing.T) {
	url, ca := startSimulator(t, "--users", "400", "--bad-records-after", "10", "--no-throttle")
	dir := t.TempDir()
	wh, prom := filepath.Join(dir, "wh"), filepath.Join(dir, "textfile", "credreg.prom")
	if err := os.Mkdir(filepath.Dir(prom), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--warehouse", wh, "--progress", "none", "--shards", "off", "--tenant-rate", "100/1s", "--metrics-file", prom}
	code, stdout, stderr := runCmd(t, credregCmd(context.Background(), simEnv(url, ca), append(args, "--max-reject-ratio", "0.05")...))
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	tenant := graphsim.DefaultTenantID
	m := readManifestFile(t, filepath.Join(wh, "_manifests", "snapshot_date="+today, "tenant_id="+tenant+".json"))
	fams := promFile(t, prom)
	pub := map[string]string{"tenant_id": tenant, "status": pipeline.StatusPublished}
	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"credreg_users", pub, float64(m.Counts.Users)},
		{"credreg_method_rows", pub, float64(m.Counts.Methods)},
		{"credreg_rejected_records", pub, float64(m.Counts.Rejected)},
		{"credreg_records_in", pub, float64(m.Counts.RecordsIn)},
		{"credreg_reject_budget_ratio", pub, 0.05},
		{"credreg_requests_total", pub, float64(m.Requests.Requests)},
		{"credreg_throttled_requests_total", pub, float64(m.Requests.Throttled)},
		{"credreg_throttle_wait_seconds_total", pub, m.Timings.ThrottleWaitSeconds},
		{"credreg_run_duration_seconds", pub, m.Timings.TotalSeconds},
		{"credreg_retries_total", map[string]string{"tenant_id": tenant, "status": pipeline.StatusPublished, "class": "transient"}, float64(m.Requests.Retries["transient"])},
		{"credreg_last_success_timestamp_seconds", map[string]string{"tenant_id": tenant}, float64(m.FinishedAt.UnixMilli()) / 1000},
		{"credreg_days_since_last_slice", map[string]string{"tenant_id": tenant}, 0},
	}
	for _, w := range want {
		if got, ok := promValue(fams, w.name, w.labels); !ok || got != w.value {
			t.Errorf("%s%v = %g (found: %t), want %g", w.name, w.labels, got, ok, w.value)
		}
	}
	if m.Counts.Users == 0 || m.Counts.Rejected == 0 || m.Requests.Requests == 0 {
		t.Errorf("the run proves little: %+v %+v", m.Counts, m.Requests)
	}

	// The default budget: breached, nothing published, exit 4.
	code, stdout, stderr = runCmd(t, credregCmd(context.Background(), simEnv(url, ca), args...))
	if code != exitContract {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitContract, stdout, stderr)
	}
	fams = promFile(t, prom)
	if got, _ := promValue(fams, "credreg_last_success_timestamp_seconds", map[string]string{"tenant_id": tenant}); got != float64(m.FinishedAt.UnixMilli())/1000 {
		t.Errorf("after a failed run, the last success is %g, want the previous run's %s", got, m.FinishedAt)
	}
	breached := map[string]string{"tenant_id": tenant, "status": pipeline.StatusContractBreached}
	rejected, ok1 := promValue(fams, "credreg_rejected_records", breached)
	records, ok2 := promValue(fams, "credreg_records_in", breached)
	budget, ok3 := promValue(fams, "credreg_reject_budget_ratio", breached)
	if !ok1 || !ok2 || !ok3 || rejected != float64(m.Counts.Rejected) || !(rejected/records > budget) {
		t.Errorf("breached run: %g of %g rejected, budget %g (found %t %t %t)", rejected, records, budget, ok1, ok2, ok3)
	}
	if _, ok := promValue(fams, "credreg_users", pub); ok {
		t.Error("the failed run's file still holds the published run's series")
	}
	if entries, _ := os.ReadDir(filepath.Dir(prom)); len(entries) != 1 {
		t.Errorf("the textfile folder holds %d entries, want the metrics file alone", len(entries))
	}
}

// --pushgateway pushes the same metrics. A real Pushgateway cannot run
// here (no binary, no network): an httptest server stands in, taking the
// push at the Pushgateway's API path and decoding the body as
// Prometheus does. A Pushgateway that refuses the push is a warning, not
// a failed run.
func TestRunPushgateway(t *testing.T) {
	type push struct {
		method, path string
		fams         map[string]*dto.MetricFamily
	}
	pushes := make(chan push, 2)
	var refuse atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
		fams := map[string]*dto.MetricFamily{}
		for {
			var f dto.MetricFamily
			if dec.Decode(&f) != nil {
				break
			}
			fams[f.GetName()] = &f
		}
		pushes <- push{r.Method, r.URL.Path, fams}
		if refuse.Load() {
			http.Error(w, "pushgateway says no", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	wh := filepath.Join(t.TempDir(), "wh")
	args := []string{"run", "--demo", "--demo-users", "200", "--shards", "off", "--date", "2026-11-20", "--warehouse", wh, "--progress", "none",
		"--pushgateway", srv.URL}
	code, stdout, stderr := runCmd(t, credregCmd(context.Background(), nil, args...))
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	p := <-pushes
	if p.method != http.MethodPut || p.path != "/metrics/job/credreg/command/run" {
		t.Errorf("pushed with %s %s", p.method, p.path)
	}
	if v, ok := promValue(p.fams, "credreg_users", map[string]string{"tenant_id": graphsim.TenantID(0), "status": "published"}); !ok || v != 200 {
		t.Errorf("pushed credreg_users = %g (found: %t), want 200", v, ok)
	}

	refuse.Store(true)
	code, stdout, stderr = runCmd(t, credregCmd(context.Background(), nil, append(args, "--force")...))
	<-pushes
	if code != exitOK || !strings.Contains(stderr, "push to the Pushgateway failed") {
		t.Errorf("a refused push: exit %d, want 0 with a warning\n%s%s", code, stdout, stderr)
	}
}

func TestMetricsFlagsRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--demo", "--pushgateway", "pushgateway:9091"}, "want the Pushgateway's http(s) URL"},
		{[]string{"backfill", "--from", "2026-11-20", "--dry-run", "--metrics-file", "x.prom"}, "do not go with --dry-run"},
	} {
		code, stdout, stderr := runCmd(t, credregCmd(context.Background(), nil, c.args...))
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s%s", c.args, code, exitUsage, c.want, stdout, stderr)
		}
	}
}

// A backfill writes its metrics too: each slice's outcome, and the last
// success, which a replay of the newest slice moves.
func TestBackfillMetricsFile(t *testing.T) {
	dir := t.TempDir()
	wh, prom := filepath.Join(dir, "wh"), filepath.Join(dir, "credreg.prom")
	code, stdout, stderr := runCmd(t, credregCmd(context.Background(), nil, "run", "--demo", "--demo-users", "150",
		"--shards", "off", "--date", "2026-11-20", "--warehouse", wh, "--progress", "none"))
	if code != exitOK {
		t.Fatalf("demo run: exit %d\n%s%s", code, stdout, stderr)
	}
	tenant := graphsim.TenantID(0)
	manifest := filepath.Join(wh, "_manifests", "snapshot_date=2026-11-20", "tenant_id="+tenant+".json")
	for _, c := range []struct {
		force   bool
		outcome string
	}{{false, "up_to_date"}, {true, "replayed"}} {
		args := []string{"backfill", "--from", "2026-11-20", "--warehouse", wh, "--progress", "none", "--metrics-file", prom}
		if c.force {
			args = append(args, "--force")
		}
		code, stdout, stderr := runCmd(t, credregCmd(context.Background(), nil, args...))
		if code != exitOK {
			t.Fatalf("backfill: exit %d\n%s%s", code, stdout, stderr)
		}
		fams := promFile(t, prom)
		if v, ok := promValue(fams, "credreg_backfill_slices", map[string]string{"tenant_id": tenant, "outcome": c.outcome}); !ok || v != 1 {
			t.Errorf("backfill (force %t): %s slices = %g (found %t), want 1", c.force, c.outcome, v, ok)
		}
		m := readManifestFile(t, manifest)
		if v, _ := promValue(fams, "credreg_last_success_timestamp_seconds", map[string]string{"tenant_id": tenant}); v != float64(m.FinishedAt.UnixMilli())/1000 {
			t.Errorf("backfill (force %t): last success %g, want the manifest's %s", c.force, v, m.FinishedAt)
		}
	}
}

// A run stopped by SIGTERM still writes its metrics file, within the few
// seconds a stop takes: the tenant as interrupted, and the last success
// of the slice it left in place.
func TestInterruptedRunMetricsFile(t *testing.T) {
	t.Parallel()
	env, wh := signalSetup(t)
	prev := readManifestFile(t, filepath.Join(wh, "_manifests", "snapshot_date="+sliceDate, "tenant_id="+graphsim.DefaultTenantID+".json"))
	rawBefore := countFiles(t, wh, ".json.gz")
	prom := filepath.Join(t.TempDir(), "credreg.prom")
	p := startStoppable(t, env, "main", signalArgs(wh, signalPageSize, "--metrics-file", prom))
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
	stderr := p.wait(t, 10*time.Second, "stopped at its first page")
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit %v, want %d:\n%s", p.err, exitInterrupted, stderr)
	}
	fams := promFile(t, prom)
	tenant := map[string]string{"tenant_id": graphsim.DefaultTenantID}
	if _, ok := promValue(fams, "credreg_run_duration_seconds", map[string]string{"tenant_id": graphsim.DefaultTenantID, "status": "interrupted"}); !ok {
		t.Errorf("no interrupted run in the metrics:\n%v", fams["credreg_run_duration_seconds"])
	}
	if v, _ := promValue(fams, "credreg_last_success_timestamp_seconds", tenant); v != float64(prev.FinishedAt.UnixMilli())/1000 {
		t.Errorf("last success %g, want the slice left in place's %s", v, prev.FinishedAt)
	}
}
