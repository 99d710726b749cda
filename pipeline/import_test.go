package pipeline

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"gocloud.dev/blob"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// An import whose replay the data contract refuses leaves its raw run
// incomplete: a later backfill does not take it for the day's newest.
func TestImportRefusedLeavesItsRunIncomplete(t *testing.T) {
	ctx := context.Background()
	wh, raw := newImportTarget(t)
	lines := `{"id":"00000000-0000-4000-8000-000000000001","userPrincipalName":"a@contoso.example","methodsRegistered":[]}
{"userPrincipalName":"no-id@contoso.example"}
{"userPrincipalName":"no-id-either@contoso.example"}
`
	key := schemas.Key{Date: testDay, Tenant: "7e2a1c44-5b1f-4c2e-9a3d-0f6b8e9d1c2a"}
	files := []extract.ImportFile{{Name: "saved.jsonl", Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(lines)), nil }}}
	idx, m, err := Import(ctx, ImportOptions{Raw: raw, Key: key, Endpoint: schemas.UserRegistrationDetails, Files: files,
		Replay: ReplayOptions{Sink: ParquetSink{Warehouse: wh}}})
	if !errors.Is(err, ErrBudgetExceeded) || m != nil {
		t.Fatalf("import of 2 bad records in 3: %v, want the budget refusal", err)
	}
	stored, err := extract.ReadRawIndex(ctx, raw, idx.Prefix)
	if err != nil || stored.Complete || idx.Complete || !stored.Imported {
		t.Fatalf("the refused import's raw run: complete=%v (returned %v), imported=%v, %v; want it incomplete",
			stored.Complete, idx.Complete, stored.Imported, err)
	}
	plan, err := PlanBackfill(ctx, BackfillOptions{Raw: raw, Sink: ParquetSink{Warehouse: wh}, From: testDay, To: testDay})
	if err != nil || len(plan) != 1 || plan[0].Action != ActionNoRaw {
		t.Errorf("backfill plan after a refused import: %+v %v, want no raw data", plan, err)
	}
}

// newImportTarget is an empty warehouse and raw zone of the test's own.
func newImportTarget(t *testing.T) (*load.Warehouse, *blob.Bucket) {
	t.Helper()
	dir := t.TempDir()
	wh, err := load.OpenWarehouse(context.Background(), filepath.Join(dir, "warehouse"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wh.Close() })
	raw, err := load.OpenBucket(context.Background(), filepath.Join(dir, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return wh, raw
}
