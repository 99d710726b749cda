package pipeline

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/internal/bufpool"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// A replay whose transformer and Parquet writer share a recycling pool
// writes the rows a run with Go's allocator wrote. The pool recycles every
// buffer, however small, and poisons each one as it is given back, so a
// buffer read after its Free (by arrow or by us) changes a value or a
// statistic; the checked allocator around it sees every byte given back
// exactly once, and the pool sees no buffer given back twice.
func TestReplayWithARecyclingPoolWritesTheRunsRows(t *testing.T) {
	for _, endpoint := range schemas.Endpoints {
		t.Run(string(endpoint), func(t *testing.T) {
			e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 1200}}})
			o := e.options(t, endpoint)
			o.BatchRows = 100 // many batches, so buffers come back and go out again
			m, err := RunTenant(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			wh, err := load.OpenWarehouse(context.Background(), filepath.Join(t.TempDir(), "replayed"))
			if err != nil {
				t.Fatal(err)
			}
			defer wh.Close()
			pool := bufpool.New(bufpool.Options{MinSize: 1, Poison: 0xAA})
			mem := memory.NewCheckedAllocator(pool)
			if _, err := ReplayTenant(context.Background(), ReplayOptions{Raw: o.Raw, Prefix: m.Raw.Prefix,
				Sink: ParquetSink{Warehouse: wh}, BatchRows: o.BatchRows, Allocator: mem}); err != nil {
				t.Fatal(err)
			}
			mem.AssertSize(t, 0)
			if s := pool.Stats(); s.Reused < 100 || s.Ignored != 0 || s.Out != 0 {
				t.Errorf("pool %+v: want many buffers reused, none given back twice, none still out", s)
			}
			compared := 0
			for _, table := range schemas.Tables {
				if table == schemas.RegistrationChangesTable {
					continue // the fresh warehouse has no previous snapshot to compare with
				}
				want := rowStrings(t, readSlice(t, e.wh, table, o.Key))
				got := rowStrings(t, readSlice(t, wh, table, o.Key))
				compared += len(want)
				if !slices.Equal(got, want) {
					t.Errorf("%s: the replay has %d rows, the run %d, or they differ", table.Name, len(got), len(want))
				}
			}
			if compared < 1200 {
				t.Errorf("%d rows compared: the comparison proves little", compared)
			}
		})
	}
}
