package metrics

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// parseText parses Prometheus text format as Prometheus reads it.
func parseText(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// sample returns the value of the series of name with exactly labels.
func sample(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if !equalLabels(got, labels) {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

// manifest is a manifest as the pipeline writes one, with its own numbers.
func manifest(status, tenant, date string, finished time.Time) *pipeline.Manifest {
	return &pipeline.Manifest{
		Status: status, RunID: finished.UTC().Format("20060102T150405Z") + "-abcdef", Tenant: tenant, SnapshotDate: date,
		StartedAt: finished.Add(-90 * time.Second), FinishedAt: finished,
		Timings: pipeline.Timings{TotalSeconds: 90, ThrottleWaitSeconds: 12.5},
		Budget:  pipeline.ErrorBudget{MaxRejectRatio: 0.01, MaxRejects: -1},
		Counts:  pipeline.Counts{RecordsIn: 1003, Users: 1000, Methods: 2500, Rejected: 3},
		Requests: extract.Stats{Requests: 40, Throttled: 4,
			Retries: map[string]int64{"throttled": 4, "transient": 2, "unauthorized": 0}},
	}
}

func writeManifest(t *testing.T, wh *load.Warehouse, m *pipeline.Manifest) {
	t.Helper()
	b, err := m.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.WriteManifest(context.Background(), schemas.Key{Date: day(m.SnapshotDate), Tenant: m.Tenant}, b); err != nil {
		t.Fatal(err)
	}
}

func openWarehouse(t *testing.T) *load.Warehouse {
	t.Helper()
	wh, err := load.OpenWarehouse(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wh.Close() })
	return wh
}

// filled is a Set with a series of every metric: a published and a failed
// tenant, a backfill, and the warehouse's last successes.
func filled(t *testing.T) (*Set, time.Time) {
	t.Helper()
	now := time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)
	wh := openWarehouse(t)
	writeManifest(t, wh, manifest(pipeline.StatusPublished, "tenant-a", "2026-11-20", now.Add(-50*time.Hour)))
	writeManifest(t, wh, manifest(pipeline.StatusPublished, "tenant-a", "2026-11-21", now.Add(-26*time.Hour)))
	writeManifest(t, wh, manifest(pipeline.StatusPublished, "tenant-b", "2026-11-19", now.Add(-74*time.Hour)))
	s := New()
	s.ObserveRun("TENANT-A", "", manifest(pipeline.StatusPublished, "tenant-a", "2026-11-22", now), 0)
	s.ObserveRun("tenant-b", pipeline.StatusFailed, nil, 7*time.Second)
	s.ObserveBackfillSlice("tenant-a", "replayed", 2*time.Second)
	s.ObserveBackfillSlice("tenant-a", "replayed", 3*time.Second)
	s.ObserveBackfillSlice("tenant-a", "up_to_date", 0)
	if err := s.ObserveWarehouse(context.Background(), wh, nil, now); err != nil {
		t.Fatal(err)
	}
	return s, now
}

func TestSetValues(t *testing.T) {
	s, now := filled(t)
	path := filepath.Join(t.TempDir(), "credreg.prom")
	if err := s.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fams := parseText(t, f)
	pub := map[string]string{LabelTenant: "tenant-a", LabelStatus: pipeline.StatusPublished}
	cases := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{RunDuration, pub, 90},
		{Users, pub, 1000},
		{MethodRows, pub, 2500},
		{RecordsIn, pub, 1003},
		{RejectedRecords, pub, 3},
		{RejectBudgetRatio, pub, 0.01},
		{Requests, pub, 40},
		{ThrottledRequests, pub, 4},
		{ThrottleWait, pub, 12.5},
		{Retries, map[string]string{LabelTenant: "tenant-a", LabelStatus: pipeline.StatusPublished, LabelClass: "transient"}, 2},
		{Retries, map[string]string{LabelTenant: "tenant-a", LabelStatus: pipeline.StatusPublished, LabelClass: "throttled"}, 4},
		{RunDuration, map[string]string{LabelTenant: "tenant-b", LabelStatus: pipeline.StatusFailed}, 7},
		{RunDuration, map[string]string{LabelTenant: "tenant-a", LabelStatus: "replayed"}, 5},
		{BackfillSlices, map[string]string{LabelTenant: "tenant-a", LabelOutcome: "replayed"}, 2},
		{BackfillSlices, map[string]string{LabelTenant: "tenant-a", LabelOutcome: "up_to_date"}, 1},
		// The warehouse's newest slice of each tenant, whatever this run did.
		{LastSuccess, map[string]string{LabelTenant: "tenant-a"}, float64(now.Add(-26 * time.Hour).Unix())},
		{LastSuccess, map[string]string{LabelTenant: "tenant-b"}, float64(now.Add(-74 * time.Hour).Unix())},
		{DaysSinceLastSlice, map[string]string{LabelTenant: "tenant-a"}, 1},
		{DaysSinceLastSlice, map[string]string{LabelTenant: "tenant-b"}, 3},
	}
	for _, c := range cases {
		if got := sample(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %g, want %g", c.name, c.labels, got, c.want)
		}
	}
	if n := len(fams[Users].GetMetric()); n != 1 {
		t.Errorf("%d series of %s; a failed tenant without a manifest has none", n, Users)
	}
	if fams[Requests].GetType() != dto.MetricType_COUNTER || fams[Users].GetType() != dto.MetricType_GAUGE {
		t.Errorf("types: %v, %v", fams[Requests].GetType(), fams[Users].GetType())
	}
	// Only the file: no temporary file is left beside it.
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("the folder holds %d entries, want the file alone", len(entries))
	}
}

// The names the code exports are the ones deploy/prometheus/metrics.txt
// lists, which the alert rules' test checks alerts.yaml against: renaming
// a metric fails here until the list, and then the alerts, follow.
func TestNamesMatchTheDeployList(t *testing.T) {
	s, _ := filled(t)
	fams, err := s.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var exported []string
	for _, f := range fams {
		exported = append(exported, f.GetName())
	}
	slices.Sort(exported)
	names := slices.Sorted(slices.Values(Names()))
	if !slices.Equal(exported, names) {
		t.Errorf("the Set exports %v, Names says %v", exported, names)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "prometheus", "metrics.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			listed = append(listed, l)
		}
	}
	slices.Sort(listed)
	if !slices.Equal(exported, listed) {
		t.Errorf("deploy/prometheus/metrics.txt lists %v, the code exports %v", listed, exported)
	}
}

// A real Pushgateway cannot run here (no binary, no network): an httptest
// server stands in, taking the push as the Pushgateway's API does (PUT
// /metrics/job/<job>/<label>/<value>) and parsing its body as text.
func TestPush(t *testing.T) {
	s, _ := filled(t)
	type push struct {
		method, path, auth string
		fams               map[string]*dto.MetricFamily
	}
	got := make(chan push, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		// client_golang pushes the protobuf format unless told otherwise;
		// decode whichever the Content-Type says.
		dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.ResponseFormat(r.Header))
		fams := map[string]*dto.MetricFamily{}
		for {
			var f dto.MetricFamily
			if err := dec.Decode(&f); err != nil {
				break
			}
			fams[f.GetName()] = &f
		}
		user, pass, _ := r.BasicAuth()
		got <- push{r.Method, r.URL.Path, user + ":" + pass, fams}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://ops:s3cret@", 1)
	err := s.Push(context.Background(), u, PushOptions{Grouping: map[string]string{"command": "run"}})
	if err != nil {
		t.Fatal(err)
	}
	p := <-got
	if p.method != http.MethodPut || p.path != "/metrics/job/credreg/command/run" || p.auth != "ops:s3cret" {
		t.Errorf("push %s %s as %q", p.method, p.path, p.auth)
	}
	if v := sample(t, p.fams, Users, map[string]string{LabelTenant: "tenant-a", LabelStatus: pipeline.StatusPublished}); v != 1000 {
		t.Errorf("pushed users = %g", v)
	}
	if len(p.fams) != len(Names()) {
		t.Errorf("pushed %d metrics, want %d", len(p.fams), len(Names()))
	}

	// A Pushgateway that refuses says so, without the password.
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusBadRequest)
	})
	err = s.Push(context.Background(), u, PushOptions{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("refused push: %v", err)
	}
}
