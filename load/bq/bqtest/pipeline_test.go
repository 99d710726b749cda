package bqtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/load/bq"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/pipeline/sinktest"
	"github.com/credreg/credreg/schemas"
)

// keyParams select one slice in a query.
func keyParams(key schemas.Key) []bigquery.QueryParameter {
	return []bigquery.QueryParameter{
		{Name: "d", Value: civil.DateOf(key.Date)},
		{Name: "t", Value: key.Tenant},
	}
}

// rowsOf reads a slice of a table back from BigQuery as sinktest renders
// rows: its key columns and run_id, joined by "|".
func rowsOf(t *testing.T, e *emulator, table *schemas.Table, key schemas.Key) []string {
	t.Helper()
	cols := append(sinktest.RowKey(table.Name), "run_id")
	sql := "SELECT "
	for i, c := range cols {
		if i > 0 {
			sql += ", "
		}
		sql += c
	}
	sql += fmt.Sprintf(" FROM `%s.%s` WHERE snapshot_date = @d AND tenant_id = @t", dataset, table.Name)
	var out []string
	for _, row := range e.query(t, sql, keyParams(key)...) {
		s := ""
		for i, v := range row {
			if i > 0 {
				s += "|"
			}
			s += fmt.Sprint(v)
		}
		out = append(out, s)
	}
	return out
}

// The Parquet warehouse loading BigQuery keeps the sink contract, read
// back from BigQuery: the same suite the Parquet sink runs.
func TestSinkConformanceInBigQuery(t *testing.T) {
	e := newEmulator(t)
	sinktest.Run(t, sinktest.Harness{
		New: func(t *testing.T) pipeline.Sink {
			// One dataset, emptied for each subtest; the suite's run ids
			// come again, as after a dataset is truncated.
			s := ensured(t, e, e.config())
			truncateAll(t, e)
			wh, err := load.OpenWarehouse(context.Background(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { wh.Close() })
			return pipeline.ParquetSink{Warehouse: wh, BigQuery: s}
		},
		Rows: func(t *testing.T, _ pipeline.Sink, table *schemas.Table, key schemas.Key) []string {
			return rowsOf(t, e, table, key)
		},
	})
}

// truncateAll empties every table of the dataset.
func truncateAll(t *testing.T, e *emulator) {
	t.Helper()
	for _, tab := range schemas.BigQueryTables() {
		e.query(t, fmt.Sprintf("DELETE FROM `%s.%s` WHERE TRUE", dataset, tab.Name))
	}
}

// tenantOnGraph is a run of one graphsim tenant for a day, into a
// warehouse loading BigQuery.
type tenantOnGraph struct {
	sim *graphsim.Server
	wh  *load.Warehouse
	raw string
}

func newTenantOnGraph(t *testing.T) *tenantOnGraph {
	t.Helper()
	sim, err := graphsim.New(graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 400}},
		Limits: graphsim.Limits{PerTenant: 1000, PerTenantWindow: time.Second, App: 1000, AppWindow: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	wh, err := load.OpenWarehouse(context.Background(), filepath.Join(dir, "warehouse"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wh.Close() })
	return &tenantOnGraph{sim: sim, wh: wh, raw: filepath.Join(dir, "raw")}
}

func (g *tenantOnGraph) options(t *testing.T, day time.Time, s *bq.Sink) pipeline.Options {
	t.Helper()
	raw, err := load.OpenBucket(context.Background(), g.raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return pipeline.Options{
		Key: schemas.Key{Date: day, Tenant: graphsim.DefaultTenantID}, Endpoint: schemas.UserRegistrationDetails,
		Source: pipeline.Source{GraphURL: g.sim.URL(), HTTPClient: g.sim.Client(),
			Throttle: extract.NewThrottle(extract.Limits{PerTenant: 1000, PerTenantWindow: time.Second, App: 1000, AppWindow: time.Second}),
			Credential: extract.CredentialOptions{ClientID: graphsim.DefaultClientID, ClientSecret: graphsim.DefaultClientSecret,
				AuthorityHost: g.sim.URL(), Getenv: func(string) string { return "" }}},
		Sink:   pipeline.ParquetSink{Warehouse: g.wh, BigQuery: s},
		Raw:    raw,
		Shards: 1,
	}
}

// runIDsIn returns the run ids a BigQuery table holds for the slice.
func runIDsIn(t *testing.T, e *emulator, table string, key schemas.Key) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	sql := fmt.Sprintf("SELECT run_id, COUNT(*) FROM `%s.%s` WHERE snapshot_date = @d AND tenant_id = @t GROUP BY run_id", dataset, table)
	for _, row := range e.query(t, sql, keyParams(key)...) {
		out[row[0].(string)] = row[1].(int64)
	}
	return out
}

// A BigQuery load that fails after the staging loads leaves BigQuery's
// previous slice whole and the new Parquet slice published, says so in the
// manifest and as ErrNotLoaded; a backfill then loads the published files
// without a replay, once.
func TestFailedLoadIsPartialAndBackfillLoadsIt(t *testing.T) {
	e := newEmulator(t)
	g := newTenantOnGraph(t)
	ctx := context.Background()
	good := ensured(t, e, e.config())
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

	first, err := pipeline.RunTenant(ctx, g.options(t, day, good))
	if err != nil {
		t.Fatal(err)
	}
	if first.BigQuery == nil || first.BigQuery.Status != "loaded" || len(first.BigQueryJobs) != len(schemas.Tables) {
		t.Fatalf("first run's manifest: bigquery %+v jobs %v", first.BigQuery, first.BigQueryJobs)
	}
	key := schemas.Key{Date: day, Tenant: graphsim.DefaultTenantID}
	if got := runIDsIn(t, e, schemas.UserRegistrationDetailsTable.Name, key); got[first.RunID] != first.Counts.Users || len(got) != 1 {
		t.Fatalf("BigQuery after the first run: %v, want %d rows of %s", got, first.Counts.Users, first.RunID)
	}

	c := e.config()
	c.BeforeCommit = func(context.Context, int) error { return errors.New("the process died before the swap") }
	failing := e.open(t, c)
	second, err := pipeline.RunTenant(ctx, g.options(t, day, failing))
	if !errors.Is(err, pipeline.ErrNotLoaded) || second == nil {
		t.Fatalf("a run whose BigQuery swap fails: %v (manifest %v), want ErrNotLoaded with the manifest", err, second != nil)
	}
	if second.BigQuery == nil || second.BigQuery.Status != "failed" {
		t.Errorf("the manifest does not say the load failed: %+v", second.BigQuery)
	}
	for _, table := range schemas.Tables {
		got := runIDsIn(t, e, table.Name, key)
		if _, ok := got[second.RunID]; ok || (table == schemas.UserRegistrationDetailsTable && got[first.RunID] != first.Counts.Users) {
			t.Errorf("%s after a failed swap: %v, want the first run's slice whole", table.Name, got)
		}
	}
	published, err := g.wh.ReadManifest(ctx, key)
	if err != nil || !contains(published, second.RunID) || !contains(published, `"status": "failed"`) {
		t.Errorf("the Parquet manifest is not the second run's, saying the load failed: %v\n%s", err, published)
	}

	raw, err := load.OpenBucket(ctx, g.raw)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	bo := pipeline.BackfillOptions{Raw: raw, Sink: pipeline.ParquetSink{Warehouse: g.wh, BigQuery: good}, From: day, To: day}
	res, err := pipeline.Backfill(ctx, bo)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Slices) != 1 || res.Slices[0].Outcome != pipeline.OutcomeLoaded || res.Err() != nil {
		t.Fatalf("backfill of the slice BigQuery lacks: %+v", res.Slices)
	}
	for _, table := range schemas.Tables {
		got := runIDsIn(t, e, table.Name, key)
		if len(got) > 1 || (len(got) == 1 && got[second.RunID] == 0) {
			t.Errorf("%s after the backfill: %v, want only run %s", table.Name, got, second.RunID)
		}
	}
	if got := runIDsIn(t, e, schemas.UserRegistrationDetailsTable.Name, key); got[second.RunID] != second.Counts.Users {
		t.Errorf("users after the backfill: %v, want %d of %s", got, second.Counts.Users, second.RunID)
	}
	res, err = pipeline.Backfill(ctx, bo)
	if err != nil || res.Slices[0].Outcome != pipeline.OutcomeUpToDate {
		t.Errorf("a second backfill: %v %+v, want the slice up to date in both sinks", err, res.Slices)
	}
}

func contains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }
