package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
	"github.com/credreg/credreg/transform"
)

// A comparison with a spilled previous snapshot whose local files fail
// (here the spill folder, $TMPDIR, is gone by the time the new snapshot's
// users come) publishes the snapshot without its changes: the manifest
// says why and leaves the previous slice unlinked, so a backfill derives
// them; no change row reaches the sink. With the folder there, the same
// slice has its changes.
func TestHistorySpillFailureSkipsChanges(t *testing.T) {
	e := newEnv(t, graphsim.Options{Seed: 5, Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 200}}})
	ctx := context.Background()
	o := e.options(t, schemas.UserRegistrationDetails)
	if _, err := RunTenant(ctx, o); err != nil {
		t.Fatal(err)
	}
	key := o.Key
	key.Date = key.Date.AddDate(0, 0, 1)
	var records []string
	for i := range 100 { // none of them in the previous snapshot: every one a change
		records = append(records, fmt.Sprintf(`{"id":"00000000-0000-4000-8000-%012x","userPrincipalName":"u%d@contoso.example.com","userDisplayName":"U","methodsRegistered":["email"],"isMfaRegistered":true}`, i, i))
	}
	page, err := odata.Split([]byte(`{"value":[` + strings.Join(records, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []bool{false, true} {
		t.Run(fmt.Sprintf("folder gone %v", gone), func(t *testing.T) {
			spill := filepath.Join(t.TempDir(), "spill")
			if err := os.Mkdir(spill, 0o700); err != nil {
				t.Fatal(err)
			}
			t.Setenv("TMPDIR", spill)
			sh, err := openHistoryIn(ctx, ParquetSink{Warehouse: e.wh}, key, schemas.UserRegistrationDetails, "r2", 10,
				slog.New(slog.DiscardHandler), 1)
			if err != nil {
				t.Fatal(err)
			}
			defer sh.release()
			if sh.previous == nil || !sh.previous.Spilled() {
				t.Fatalf("the previous snapshot did not spill (changes %+v)", sh.changes)
			}
			if gone {
				if err := os.RemoveAll(spill); err != nil {
					t.Fatal(err)
				}
			}
			tr := transform.New(transform.Options{Key: key, Endpoint: schemas.UserRegistrationDetails, RunID: "r2", History: sh.hist})
			defer tr.Release()
			n := map[string]int{}
			write := func(b transform.Batch) error {
				n[b.Table.Name] += int(b.Record.NumRows())
				b.Record.Release()
				return nil
			}
			if err := writeBatches(tr.AddPage(1, time.Now(), page.Records), write); err != nil {
				t.Fatal(err)
			}
			if err := writeBatches(tr.Finish(), write); err != nil {
				t.Fatal(err)
			}
			if err := sh.finish(ctx, write); err != nil {
				t.Fatalf("finish: %v", err)
			}
			c, rows := sh.changes, n[schemas.RegistrationChangesTable.Name]
			if n[schemas.RegistrationDailySummaryTable.Name] != 1 {
				t.Errorf("%d summary rows, want 1", n[schemas.RegistrationDailySummaryTable.Name])
			}
			if !gone {
				if c.Skipped != "" || rows == 0 || c.Rows != int64(rows) || c.PreviousRunID == "" {
					t.Errorf("changes %+v, %d rows sent; want the changes", c, rows)
				}
				return
			}
			if !strings.Contains(c.Skipped, "spill") || !strings.Contains(c.Skipped, spill) || rows != 0 || c.Rows != 0 {
				t.Errorf("changes %+v, %d rows sent; want skipped, naming %s, and no rows", c, rows, spill)
			}
			if c.PreviousRunID != "" || c.PreviousRawDigest != "" || c.PreviousSnapshotDate == "" {
				t.Errorf("changes %+v: want the previous snapshot's date, unlinked", c)
			}
		})
	}
}
