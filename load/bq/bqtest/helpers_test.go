package bqtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/goccy/bigquery-emulator/server"
	"github.com/goccy/bigquery-emulator/types"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/load/bq"
	"github.com/credreg/credreg/schemas"
)

const (
	project = "credreg-test"
	dataset = "credreg"
)

// request is one request the client sent, as the recording proxy saw it.
type request struct {
	Method, Path, Query, ContentType string
	Body                             []byte
}

// emulator is an in-process BigQuery emulator behind a proxy that records
// every request and can refuse them all (an outage, or a process gone).
type emulator struct {
	URL string

	mu   sync.Mutex
	reqs []request
	down bool
	// refuse, when set, refuses the requests it is true for, as down
	// refuses every one.
	refuse func(request) bool
}

func newEmulator(t *testing.T) *emulator {
	t.Helper()
	srv, err := server.New(server.TempStorage)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetLogLevel(server.LogLevelFatal); err != nil {
		t.Fatal(err)
	}
	if err := srv.Load(server.StructSource(types.NewProject(project))); err != nil {
		t.Fatal(err)
	}
	ts := srv.TestServer()
	target, _ := url.Parse(ts.URL)
	e := &emulator{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		e.mu.Lock()
		req := request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			ContentType: r.Header.Get("Content-Type"), Body: body}
		e.reqs = append(e.reqs, req)
		down := e.down || e.refuse != nil && e.refuse(req)
		e.mu.Unlock()
		if down {
			// 403 is not retried by the client: the request fails at once.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":{"code":403,"message":"simulated outage","errors":[{"reason":"accessDenied","message":"simulated outage"}]}}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	e.URL = front.URL
	t.Cleanup(func() {
		front.Close()
		ts.Close()
		_ = srv.Close()
	})
	return e
}

func (e *emulator) setDown(down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.down = down
}

// requests returns the requests recorded since the mark'th.
func (e *emulator) requests(mark int) []request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]request(nil), e.reqs[mark:]...)
}

func (e *emulator) mark() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.reqs)
}

// config points a sink at the emulator.
func (e *emulator) config() bq.Config {
	return bq.Config{Project: project, Dataset: dataset, Endpoint: e.URL, CommitBackoff: time.Millisecond}
}

func (e *emulator) open(t *testing.T, c bq.Config) *bq.Sink {
	t.Helper()
	s, err := bq.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// client is a plain client of the emulator, for what the tests look at.
func (e *emulator) client(t *testing.T) *bigquery.Client {
	t.Helper()
	c, err := bigquery.NewClient(context.Background(), project, option.WithEndpoint(e.URL), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (e *emulator) tableNames(t *testing.T) []string {
	t.Helper()
	var names []string
	it := e.client(t).Dataset(dataset).Tables(context.Background())
	for {
		tab, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tab.TableID)
	}
}

// query runs sql and returns its rows.
func (e *emulator) query(t *testing.T, sql string, params ...bigquery.QueryParameter) [][]bigquery.Value {
	t.Helper()
	q := e.client(t).Query(sql)
	q.Parameters = params
	it, err := q.Read(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var rows [][]bigquery.Value
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			return rows
		}
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		rows = append(rows, row)
	}
}

// slice is one slice published to a Parquet warehouse by credreg's own
// writer, and what BigQuery is to load of it.
type slice struct {
	Key      schemas.Key
	RunID    string
	Files    []bq.File
	Infos    []load.FileInfo
	Manifest []byte
	Counts   map[string]int64 // rows per table, as the Parquet files hold them
}

func day(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }

func ptr[T any](v T) *T { return &v }

// publish writes a slice of users users (each with 1 + i%3 methods) and
// rejects rejected records to the warehouse at dir, as credreg publishes
// one, with a manifest.
func publish(t *testing.T, dir string, key schemas.Key, runID string, users, rejects int) slice {
	t.Helper()
	ctx := context.Background()
	wh, err := load.OpenWarehouse(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	sw, err := wh.Begin(ctx, key, runID, load.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Abort()
	mem := memory.NewGoAllocator()
	extracted := key.Date.Add(3*time.Hour + 14*time.Minute + 15*time.Second + 123456*time.Microsecond)
	ub := array.NewRecordBuilder(mem, schemas.UserRegistrationDetailsTable.Arrow())
	mb := array.NewRecordBuilder(mem, schemas.UserAuthMethodsTable.Arrow())
	rb := array.NewRecordBuilder(mem, schemas.RejectedRecordsTable.Arrow())
	defer ub.Release()
	defer mb.Release()
	defer rb.Release()
	counts := map[string]int64{}
	families := []string{"mobilePhone", "email", "fido2"}
	for i := range users {
		id := fmt.Sprintf("u%04d-%s", i, key.Tenant)
		methods := 1 + i%3
		u := schemas.UserRow{Key: key, UserID: id, UserPrincipalName: id + "@example.com", Source: schemas.UserRegistrationDetails,
			AuthMethodCount: int64(methods), ExtractedAt: extracted, RunID: runID}
		if i%2 == 0 {
			u.UserDisplayName, u.UserType, u.IsAdmin = ptr("User "+id), ptr("member"), ptr(i%4 == 0)
			u.IsMfaRegistered, u.SystemPreferredMethods = ptr(true), []string{"push", "sms"}
			u.LastUpdatedAt = ptr(extracted.Add(-48 * time.Hour))
		}
		u.Append(ub)
		counts[schemas.UserRegistrationDetailsTable.Name]++
		for j := range methods {
			m, known := schemas.LookupMethod(families[j])
			r := schemas.MethodRow{Key: key, UserID: id, UserPrincipalName: id + "@example.com", Source: schemas.UserRegistrationDetails,
				AuthMethod: families[j], MethodFamily: m.Family, UsableForMFA: m.UsableForMFA, UsableForSSPR: m.UsableForSSPR,
				IsKnownValue: known, RunID: runID}
			r.Append(mb)
			counts[schemas.UserAuthMethodsTable.Name]++
		}
	}
	for i := range rejects {
		r := schemas.RejectRow{Key: key, Source: schemas.UserRegistrationDetails, PageSeq: 1, RecordIndex: int64(i),
			ReasonCode: "missing_id", ReasonDetail: "no id", RawJSON: `{"x":1}`, RunID: runID}
		r.Append(rb)
		counts[schemas.RejectedRecordsTable.Name]++
	}
	for tab, b := range map[*schemas.Table]*array.RecordBuilder{
		schemas.UserRegistrationDetailsTable: ub, schemas.UserAuthMethodsTable: mb, schemas.RejectedRecordsTable: rb,
	} {
		rec := b.NewRecordBatch()
		err := sw.Write(ctx, tab, rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	var manifest []byte
	infos, err := sw.CommitWith(ctx, func(files []load.FileInfo) ([]byte, error) {
		manifest, err = json.Marshal(map[string]any{
			"schema_version": schemas.Version, "status": "published", "run_id": runID, "tenant_id": key.Tenant,
			"snapshot_date": key.DateString(), "endpoint": schemas.UserRegistrationDetails,
			"build":      map[string]any{"version": "(devel)", "go_version": "go1.26"},
			"started_at": key.Date.Add(time.Hour), "finished_at": key.Date.Add(time.Hour + time.Minute),
			"counts": map[string]int64{"users": counts["user_registration_details"], "methods": counts["user_auth_methods"],
				"rejected": counts["rejected_records"]},
			"files": files,
		})
		return manifest, err
	})
	if err != nil {
		t.Fatal(err)
	}
	s := slice{Key: key, RunID: runID, Infos: infos, Manifest: manifest, Counts: counts}
	for _, fi := range infos {
		path := filepath.Join(dir, filepath.FromSlash(fi.Path))
		s.Files = append(s.Files, bq.File{Table: fi.Table, Rows: fi.Rows, Bytes: fi.Bytes,
			Open: func() (io.ReadCloser, error) { return os.Open(path) }})
	}
	return s
}

// countsBySlice is SELECT snapshot_date, tenant_id, COUNT(*) of a table,
// keyed "date tenant".
func (e *emulator) countsBySlice(t *testing.T, table string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, r := range e.query(t, fmt.Sprintf("SELECT CAST(snapshot_date AS STRING), tenant_id, COUNT(*) FROM `%s.%s.%s` GROUP BY 1, 2",
		project, dataset, table)) {
		out[fmt.Sprint(r[0])+" "+fmt.Sprint(r[1])] = r[2].(int64)
	}
	return out
}

func stagingLeft(names []string) []string {
	var left []string
	for _, n := range names {
		if strings.HasPrefix(n, "credreg_staging_") {
			left = append(left, n)
		}
	}
	return left
}
