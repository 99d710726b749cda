// Package sinktest is the contract every pipeline.Sink keeps, as a test
// suite any sink runs: the Parquet warehouse in pipeline's tests, the
// Parquet warehouse loading BigQuery against the emulator in
// load/bq/bqtest. It speaks only pipeline's interfaces and reads a slice
// back through the sink's own reader, so what it checks is what a reader of
// that sink sees.
package sinktest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// Harness plugs a sink into the suite.
type Harness struct {
	// New returns a sink holding nothing, for one subtest.
	New func(t *testing.T) pipeline.Sink
	// Rows returns, for a table of the slice, one string per row as a
	// reader of the sink sees them: Row.Key of each row (see Row) and the
	// row's run_id, joined by "|"; in any order.
	Rows func(t *testing.T, s pipeline.Sink, table *schemas.Table, key schemas.Key) []string
}

// RowKey is the identity of a row the suite writes, per table: user_id for
// users, user_id and auth_method for methods, page_seq and record_index
// for rejects; Rows renders each as these values joined by "|", then
// "|" and the run_id.
func RowKey(table string) []string {
	switch table {
	case schemas.UserRegistrationDetailsTable.Name:
		return []string{"user_id"}
	case schemas.UserAuthMethodsTable.Name:
		return []string{"user_id", "auth_method"}
	case schemas.RejectedRecordsTable.Name:
		return []string{"page_seq", "record_index"}
	}
	return nil
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	t.Run("RoundTrip", func(t *testing.T) { roundTrip(t, h) })
	t.Run("RerunReplaces", func(t *testing.T) { rerunReplaces(t, h) })
	t.Run("AbortKeepsThePrevious", func(t *testing.T) { abortKeeps(t, h) })
	t.Run("FailedManifestPublishesNothing", func(t *testing.T) { failedManifest(t, h) })
	t.Run("ResetStartsAgain", func(t *testing.T) { resetStartsAgain(t, h) })
}

var day = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// slice is the rows of one run of a slice.
type slice struct {
	key     schemas.Key
	runID   string
	users   []schemas.UserRow
	methods []schemas.MethodRow
	rejects []schemas.RejectRow
}

// makeSlice makes users users with two methods each and rejects rejects;
// seed varies the user ids, so two runs of a slice differ.
func makeSlice(key schemas.Key, runID string, users, rejects, seed int) slice {
	s := slice{key: key, runID: runID}
	at := key.Date.Add(3 * time.Hour)
	for i := range users {
		id := fmt.Sprintf("%08d-0000-4000-8000-%012d", seed, i)
		upn := fmt.Sprintf("user%d.%d@contoso.example", seed, i)
		yes := i%2 == 0
		s.users = append(s.users, schemas.UserRow{Key: key, UserID: id, UserPrincipalName: upn, Source: schemas.UserRegistrationDetails,
			IsMfaRegistered: &yes, AuthMethodCount: 2, ExtractedAt: at, RunID: runID, SystemPreferredMethods: []string{"push"}})
		for _, m := range []string{"microsoftAuthenticatorPush", "email"} {
			s.methods = append(s.methods, schemas.MethodRow{Key: key, UserID: id, UserPrincipalName: upn,
				Source: schemas.UserRegistrationDetails, AuthMethod: m, MethodFamily: "x", UsableForMFA: true, IsKnownValue: true, RunID: runID})
		}
	}
	for i := range rejects {
		s.rejects = append(s.rejects, schemas.RejectRow{Key: key, Source: schemas.UserRegistrationDetails, PageSeq: 1,
			RecordIndex: int64(i), ReasonCode: "missing_id", ReasonDetail: "no id", RawJSON: "{}", RunID: runID})
	}
	return s
}

// want is what Rows should return for the slice's table.
func (s slice) want(table *schemas.Table) []string {
	var out []string
	switch table {
	case schemas.UserRegistrationDetailsTable:
		for _, r := range s.users {
			out = append(out, r.UserID+"|"+r.RunID)
		}
	case schemas.UserAuthMethodsTable:
		for _, r := range s.methods {
			out = append(out, r.UserID+"|"+r.AuthMethod+"|"+r.RunID)
		}
	case schemas.RejectedRecordsTable:
		for _, r := range s.rejects {
			out = append(out, fmt.Sprintf("%d|%d|%s", r.PageSeq, r.RecordIndex, r.RunID))
		}
	}
	slices.Sort(out)
	return out
}

// write writes the slice's rows in batches of at most batch rows.
func (s slice) write(t *testing.T, sw pipeline.SliceWriter, batch int) {
	t.Helper()
	ctx := context.Background()
	put := func(table *schemas.Table, n int, add func(i int, b *array.RecordBuilder)) {
		for start := 0; start < n; start += batch {
			b := array.NewRecordBuilder(memory.DefaultAllocator, table.Arrow())
			for i := start; i < min(n, start+batch); i++ {
				add(i, b)
			}
			rec := b.NewRecordBatch()
			b.Release()
			err := sw.Write(ctx, table, rec)
			rec.Release()
			if err != nil {
				t.Fatalf("write %s: %v", table.Name, err)
			}
		}
	}
	put(schemas.UserRegistrationDetailsTable, len(s.users), func(i int, b *array.RecordBuilder) { s.users[i].Append(b) })
	put(schemas.UserAuthMethodsTable, len(s.methods), func(i int, b *array.RecordBuilder) { s.methods[i].Append(b) })
	put(schemas.RejectedRecordsTable, len(s.rejects), func(i int, b *array.RecordBuilder) { s.rejects[i].Append(b) })
}

// manifestOf is a manifest the suite can recognise.
func manifestOf(s slice) func(pipeline.Published) ([]byte, error) {
	return func(p pipeline.Published) ([]byte, error) {
		m := pipeline.Manifest{SchemaVersion: schemas.Version, Status: pipeline.StatusPublished, RunID: s.runID,
			Tenant: s.key.Tenant, SnapshotDate: s.key.DateString(), Endpoint: schemas.UserRegistrationDetails,
			StartedAt: day, FinishedAt: day.Add(time.Minute),
			Counts: pipeline.Counts{Users: int64(len(s.users)), Methods: int64(len(s.methods)), Rejected: int64(len(s.rejects))}}
		m.Files, m.BigQuery = p.Files, p.BigQuery
		return m.JSON()
	}
}

// publish writes and commits the slice.
func publish(t *testing.T, sink pipeline.Sink, s slice, batch int) pipeline.Published {
	t.Helper()
	ctx := context.Background()
	sw, err := sink.Begin(ctx, s.key, s.runID)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	defer sw.Abort()
	s.write(t, sw, batch)
	p, err := sw.CommitWith(ctx, manifestOf(s))
	if err != nil {
		t.Fatalf("CommitWith: %v", err)
	}
	return p
}

// check compares every table of the slice with want.
func check(t *testing.T, h Harness, sink pipeline.Sink, key schemas.Key, want slice, when string) {
	t.Helper()
	for _, table := range schemas.Tables {
		got := h.Rows(t, sink, table, key)
		slices.Sort(got)
		if w := want.want(table); !slices.Equal(got, w) {
			t.Errorf("%s: %s has %d rows, want %d (or they differ)\n got %q\nwant %q", when, table.Name, len(got), len(w),
				got[:min(3, len(got))], w[:min(3, len(w))])
		}
	}
}

func roundTrip(t *testing.T, h Harness) {
	sink := h.New(t)
	for i, c := range []struct {
		tenant                string
		users, rejects, batch int
	}{
		{"0b1e7a7e-5c1d-4c0e-9d7b-2f1a6a1c0de1", 25, 0, 7},
		{"7e2a1c44-5b1f-4c2e-9a3d-0f6b8e9d1c2a", 4, 3, 100},
		{"1d6c8a2b-3e4f-4a5b-8c6d-7e8f9a0b1c2d", 0, 0, 1},
	} {
		s := makeSlice(schemas.Key{Date: day, Tenant: c.tenant}, "run-1", c.users, c.rejects, i)
		p := publish(t, sink, s, c.batch)
		if len(p.Files) != len(schemas.Tables) {
			t.Errorf("%s: published %d files, want one per table", c.tenant, len(p.Files))
		}
		for j, f := range p.Files {
			if want := int64(len(s.want(schemas.Tables[j]))); f.Table != schemas.Tables[j].Name || f.Rows != want {
				t.Errorf("%s: file %+v, want table %s with %d rows", c.tenant, f, schemas.Tables[j].Name, want)
			}
		}
		check(t, h, sink, s.key, s, "after the first publish of "+c.tenant)
	}
}

func rerunReplaces(t *testing.T, h Harness) {
	sink := h.New(t)
	key := schemas.Key{Date: day, Tenant: "0b1e7a7e-5c1d-4c0e-9d7b-2f1a6a1c0de1"}
	other := schemas.Key{Date: day.AddDate(0, 0, 1), Tenant: key.Tenant}
	first, neighbour := makeSlice(key, "run-1", 30, 2, 1), makeSlice(other, "run-1", 5, 0, 9)
	publish(t, sink, first, 10)
	publish(t, sink, neighbour, 10)
	second := makeSlice(key, "run-2", 20, 1, 2)
	publish(t, sink, second, 10)
	check(t, h, sink, key, second, "after a rerun")
	check(t, h, sink, other, neighbour, "the next day, after a rerun of the day before")
}

func abortKeeps(t *testing.T, h Harness) {
	sink := h.New(t)
	key := schemas.Key{Date: day, Tenant: "0b1e7a7e-5c1d-4c0e-9d7b-2f1a6a1c0de1"}
	first := makeSlice(key, "run-1", 12, 1, 1)
	publish(t, sink, first, 5)
	sw, err := sink.Begin(context.Background(), key, "run-2")
	if err != nil {
		t.Fatal(err)
	}
	makeSlice(key, "run-2", 40, 4, 2).write(t, sw, 5)
	sw.Abort()
	check(t, h, sink, key, first, "after an aborted rerun")
	third := makeSlice(key, "run-3", 3, 0, 3)
	publish(t, sink, third, 5) // the aborted writer let the slice go
	check(t, h, sink, key, third, "after a rerun following an abort")
}

func failedManifest(t *testing.T, h Harness) {
	sink := h.New(t)
	key := schemas.Key{Date: day, Tenant: "0b1e7a7e-5c1d-4c0e-9d7b-2f1a6a1c0de1"}
	first := makeSlice(key, "run-1", 8, 0, 1)
	publish(t, sink, first, 5)
	sw, err := sink.Begin(context.Background(), key, "run-2")
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Abort()
	makeSlice(key, "run-2", 9, 0, 2).write(t, sw, 5)
	boom := errors.New("no manifest today")
	_, err = sw.CommitWith(context.Background(), func(pipeline.Published) ([]byte, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Errorf("CommitWith with a failing manifest: %v, want its error", err)
	}
	check(t, h, sink, key, first, "after a commit whose manifest failed")
}

func resetStartsAgain(t *testing.T, h Harness) {
	sink := h.New(t)
	key := schemas.Key{Date: day, Tenant: "0b1e7a7e-5c1d-4c0e-9d7b-2f1a6a1c0de1"}
	sw, err := sink.Begin(context.Background(), key, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Abort()
	makeSlice(key, "run-1", 10, 2, 1).write(t, sw, 4)
	if err := sw.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	again := makeSlice(key, "run-1", 6, 1, 2)
	again.write(t, sw, 4)
	if _, err := sw.CommitWith(context.Background(), manifestOf(again)); err != nil {
		t.Fatal(err)
	}
	check(t, h, sink, key, again, "after a reset")
}

// ArrowRows renders an Arrow table's rows as Harness.Rows wants them: a
// reader for sinks that read back Arrow (the Parquet warehouse).
func ArrowRows(t *testing.T, table *schemas.Table, tab arrow.Table) []string {
	t.Helper()
	cols := append(RowKey(table.Name), "run_id")
	rows := make([]string, tab.NumRows())
	for n, name := range cols {
		idx := tab.Schema().FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("no column %s", name)
		}
		i := 0
		for _, chunk := range tab.Column(idx[0]).Data().Chunks() {
			for j := range chunk.Len() {
				if n > 0 {
					rows[i] += "|"
				}
				rows[i] += chunk.ValueStr(j)
				i++
			}
		}
	}
	return rows
}
