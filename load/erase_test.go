package load

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/schemas"
)

// userIDs reads a table's user_id column back, nulls as "".
func userIDs(t *testing.T, w *Warehouse, table *schemas.Table, key schemas.Key) []string {
	t.Helper()
	tbl, err := w.ReadSlice(context.Background(), table, key)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 0)
	defer tr.Release()
	var out []string
	for tr.Next() {
		c := tr.RecordBatch().Column(tr.Schema().FieldIndices("user_id")[0]).(*array.String)
		for i := range c.Len() {
			out = append(out, c.Value(i))
		}
	}
	return out
}

// EraseUser takes the person's rows out of every table that names them
// — by id or UPN in any case, and a reject whose raw JSON names them —
// keeps every other row in its order, and publishes the slice whole with
// the manifest made from what it removed; a dry run and a slice without
// the person change nothing; a held slice is refused; a Sub is erased too.
func TestEraseUser(t *testing.T) {
	ctx := context.Background()
	for _, b := range []string{"local", "mem"} {
		t.Run(b, func(t *testing.T) {
			loc := "mem://"
			if b == "local" {
				loc = t.TempDir()
			}
			w := openTest(t, loc)
			key := schemas.Key{Date: day("2026-11-20"), Tenant: "tenant-a"}
			d := makeSlice(key, "run-1", 20, 6, 1)
			// user-1-000003 is u1.3@contoso.example; reject 0 (no id) names them.
			d.rejects[0].RawJSON = `{"userPrincipalName":"U1.3@Contoso.Example","n":0}`
			commitDerived(t, w, key, "run-1", d)
			before := objects(t, w)
			users := userIDs(t, w, schemas.UserRegistrationDetailsTable, key)

			m := UserMatch{IDs: []string{"USER-1-000003"}, UPNs: []string{"u1.3@contoso.example"}}
			want := map[string]int64{schemas.UserRegistrationDetailsTable.Name: 1, schemas.UserAuthMethodsTable.Name: 2,
				schemas.RejectedRecordsTable.Name: 1, schemas.RegistrationDailySummaryTable.Name: 0, schemas.RegistrationChangesTable.Name: 2}
			dry, err := w.EraseUser(ctx, key, m, EraseOptions{DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(dry.Removed, want) || dry.Rewritten || !maps.Equal(objects(t, w), before) {
				t.Fatalf("dry run: %+v, want %v removed and nothing written", dry, want)
			}

			// Nobody of the slice: nothing written, even past the lease.
			none, err := w.EraseUser(ctx, key, UserMatch{IDs: []string{"someone-else"}}, EraseOptions{RunID: "erase-1"})
			if err != nil || none.Rewritten || none.RowsRemoved() != 0 || !maps.Equal(objects(t, w), before) {
				t.Fatalf("a person not in the slice: %+v, %v; want nothing written", none, err)
			}

			// Held by another writer: refused, nothing written.
			held, err := w.Begin(ctx, key, "run-2", WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.EraseUser(ctx, key, m, EraseOptions{RunID: "erase-1"})
			held.Abort()
			if !errors.Is(err, ErrLeaseHeld) || strings.Contains(err.Error(), "u1.3") {
				t.Fatalf("a held slice: %v, want ErrLeaseHeld without the person", err)
			}

			var gotRemoved map[string]int64
			res, err := w.EraseUser(ctx, key, m, EraseOptions{RunID: "erase-1",
				Manifest: func(files []FileInfo, removed map[string]int64) ([]byte, error) {
					gotRemoved = removed
					return json.Marshal(map[string]any{"files": files})
				}})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Rewritten || !maps.Equal(res.Removed, want) || !maps.Equal(gotRemoved, want) {
				t.Errorf("erasure %+v, manifest told %v; want %v removed", res, gotRemoved, want)
			}
			wantUsers := append(append([]string(nil), users[:3]...), users[4:]...)
			if got := userIDs(t, w, schemas.UserRegistrationDetailsTable, key); strings.Join(got, " ") != strings.Join(wantUsers, " ") {
				t.Errorf("users left %v, want %v", got, wantUsers)
			}
			for _, table := range []*schemas.Table{schemas.UserAuthMethodsTable, schemas.RejectedRecordsTable, schemas.RegistrationChangesTable} {
				ids := userIDs(t, w, table, key)
				for _, id := range ids {
					if strings.EqualFold(id, "user-1-000003") {
						t.Errorf("%s keeps a row of the person", table.Name)
					}
				}
				if n := len(ids); int64(n) != map[string]int64{"user_auth_methods": 38, "rejected_records": 5, "registration_changes": 3}[table.Name] {
					t.Errorf("%s has %d rows left", table.Name, n)
				}
			}
			// The summary, counts without names, is kept as it was.
			if sum, err := w.ReadSlice(ctx, schemas.RegistrationDailySummaryTable, key); err != nil || sum.NumRows() != 1 {
				t.Errorf("the summary: %v", err)
			} else {
				sum.Release()
			}
			if mf, err := w.ReadManifest(ctx, key); err != nil || !strings.Contains(string(mf), partKey(schemas.UserRegistrationDetailsTable.Name, key)) {
				t.Errorf("the manifest was not written with the files: %s, %v", mf, err)
			}

			// The slices a failed run kept for inspection.
			sub, err := w.Failed("run-9")
			if err != nil {
				t.Fatal(err)
			}
			commitDerived(t, sub, key, "run-9", d)
			runs, err := w.FailedRuns(ctx)
			if err != nil || strings.Join(runs, " ") != "run-9" {
				t.Fatalf("failed runs %v, %v; want [run-9]", runs, err)
			}
			if r, err := sub.EraseUser(ctx, key, m, EraseOptions{RunID: "erase-1"}); err != nil || !maps.Equal(r.Removed, want) {
				t.Errorf("erasure in a failed run's folder: %+v, %v", r, err)
			}
		})
	}
}

// commitDerived commits d with a summary row and five registration_changes
// rows: two of user-1-000003 (one by its UPN alone, in capitals), three
// of others.
func commitDerived(t *testing.T, w *Warehouse, key schemas.Key, runID string, d sliceData) {
	t.Helper()
	mem := memory.DefaultAllocator
	recs := d.records(mem, 7)
	defer release(recs)
	summary := []schemas.SummaryRow{{Key: key, Source: schemas.UserRegistrationDetails, Users: 20, RunID: runID}}
	var changes []schemas.ChangeRow
	for _, c := range []struct{ id, upn string }{{"user-1-000002", "u1.2@contoso.example"}, {"user-1-000003", "u1.3@contoso.example"},
		{"", "U1.3@CONTOSO.EXAMPLE"}, {"user-1-000004", "u1.4@contoso.example"}, {"user-1-000013", "u1.13@contoso.example"}} {
		changes = append(changes, schemas.ChangeRow{Key: key, UserID: c.id, UserPrincipalName: c.upn, Change: schemas.ChangeAppeared, RunID: runID})
	}
	recs = append(recs[:3], batches(mem, schemas.RegistrationDailySummaryTable, summary, 7),
		batches(mem, schemas.RegistrationChangesTable, changes, 7))
	commitRecords(t, w, key, runID, recs, WriterOptions{}, nil)
}

// The erasure log goes to _erasures/<id>.json; an id that would leave the
// folder is refused.
func TestWriteErasureLog(t *testing.T) {
	ctx := context.Background()
	w := openTest(t, t.TempDir())
	if err := w.WriteErasureLog(ctx, "20261201T120000Z-abcdef", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, ok := objects(t, w)["_erasures/20261201T120000Z-abcdef.json"]; !ok {
		t.Errorf("the log is not at %s: %v", ErasureLogKey("20261201T120000Z-abcdef"), objects(t, w))
	}
	for _, bad := range []string{"", "../x", "a/b"} {
		if err := w.WriteErasureLog(ctx, bad, []byte(`{}`)); err == nil {
			t.Errorf("id %q accepted", bad)
		}
	}
}
