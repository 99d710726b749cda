package load

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/schemas"
)

// mixedManifest is a manifest that names its tenant as the pipeline's
// does: the id, and paths holding tenant_id=<id>.
func mixedManifest(tenant string) func([]FileInfo) ([]byte, error) {
	return func(files []FileInfo) ([]byte, error) {
		s := `{"tenant_id":"` + tenant + `","files":[`
		for i, f := range files {
			if i > 0 {
				s += ","
			}
			s += `{"path":"` + f.Path + `","sha256":"` + f.SHA256 + `","rows":` + "1" + `}`
		}
		return []byte(s + `]}`), nil
	}
}

// commitMixed publishes a slice with its manifest, as the current code
// writes a tenant id with capitals.
func commitMixed(t *testing.T, w *Warehouse, key schemas.Key, runID string, seed int) map[string]string {
	t.Helper()
	ctx := context.Background()
	s, err := w.Begin(ctx, key, runID, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	recs := makeSlice(key, runID, 10, 2, seed).records(memory.DefaultAllocator, 7)
	defer release(recs)
	writeAll(t, ctx, s, recs)
	infos, err := s.CommitWith(ctx, mixedManifest(key.Tenant))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, fi := range infos {
		out[fi.Table] = fi.SHA256
	}
	return out
}

// A warehouse written with an uppercase tenant id moves to the lowercase
// folders, tables byte for byte and the manifest rewritten; a second run
// has nothing to do.
func TestLowercaseTenant(t *testing.T) {
	const upper = "ABCDEF01-2345-6789-ABCD-EF0123456789"
	lowerID := strings.ToLower(upper)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			w, dir := b.open(t)
			ctx := context.Background()
			key := schemas.Key{Date: day("2026-05-01"), Tenant: upper}
			lower := schemas.Key{Date: key.Date, Tenant: lowerID}
			sums := commitMixed(t, w, key, "run-1", 1)
			already := schemas.Key{Date: key.Date, Tenant: "already-lower"}
			commitMixed(t, w, already, "run-2", 2)

			mixed, err := w.MixedCaseTenants(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(mixed) != 1 || mixed[0] != key {
				t.Fatalf("MixedCaseTenants = %v, want only %v", mixed, key)
			}
			if err := w.LowercaseTenant(ctx, key); err != nil {
				t.Fatal(err)
			}
			for _, table := range schemas.Tables {
				got := objects(t, w)
				if got[partKey(table.Name, lower)] != sums[table.Name] {
					t.Errorf("%s did not move byte for byte", table.Name)
				}
				if _, ok := got[partKey(table.Name, key)]; ok {
					t.Errorf("%s is still in the uppercase folder", table.Name)
				}
			}
			m, err := w.ReadManifest(ctx, lower)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(m), upper) || !strings.Contains(string(m), `"tenant_id": "`+lowerID+`"`) || !strings.Contains(string(m), "tenant_id="+lowerID+"/") {
				t.Errorf("manifest not rewritten to the lowercase tenant:\n%s", m)
			}
			if _, err := w.ReadManifest(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Errorf("the uppercase manifest is still there: %v", err)
			}
			if mixed, _ := w.MixedCaseTenants(ctx); len(mixed) != 0 {
				t.Errorf("after the migration MixedCaseTenants = %v", mixed)
			}
			if dir != "" {
				for _, f := range localFiles(t, dir) {
					if strings.Contains(f, upper) {
						t.Errorf("%s is left in the folder", f)
					}
				}
			}
			before := objects(t, w)
			if err := w.LowercaseTenant(ctx, key); err != nil {
				t.Errorf("second run: %v", err)
			}
			if after := objects(t, w); !maps.Equal(before, after) {
				t.Errorf("a second run changed the warehouse")
			}
		})
	}
}

// A lowercase slice that holds other content is never overwritten; a
// migration stopped halfway finishes when run again; the lowercase
// slice's lease keeps a writer and the migration apart.
func TestLowercaseTenantRefusesAndResumes(t *testing.T) {
	const upper = "TENANT-X"
	ctx := context.Background()
	key := schemas.Key{Date: day("2026-05-01"), Tenant: upper}
	lower := schemas.Key{Date: key.Date, Tenant: "tenant-x"}

	t.Run("conflict", func(t *testing.T) {
		dir := t.TempDir()
		w := openTest(t, dir)
		commitMixed(t, w, key, "run-1", 1)
		commitMixed(t, w, lower, "run-2", 2)
		before := objects(t, w)
		err := w.LowercaseTenant(ctx, key)
		if !errors.Is(err, ErrTenantCaseConflict) || !strings.Contains(err.Error(), "2026-05-01/"+upper) {
			t.Errorf("LowercaseTenant = %v, want ErrTenantCaseConflict naming the slice", err)
		}
		if after := objects(t, w); !maps.Equal(before, after) {
			t.Error("a refused migration changed the warehouse")
		}
	})
	t.Run("resume", func(t *testing.T) {
		dir := t.TempDir()
		w := openTest(t, dir)
		sums := commitMixed(t, w, key, "run-1", 1)
		// The first table moved before the migration stopped.
		first := schemas.Tables[0].Name
		if err := renameInto(filepath.Join(dir, filepath.FromSlash(partKey(first, key))), filepath.Join(dir, filepath.FromSlash(partKey(first, lower)))); err != nil {
			t.Fatal(err)
		}
		if err := w.LowercaseTenant(ctx, key); err != nil {
			t.Fatal(err)
		}
		got := objects(t, w)
		for _, table := range schemas.Tables {
			if got[partKey(table.Name, lower)] != sums[table.Name] {
				t.Errorf("%s not in the lowercase slice after the resumed migration", table.Name)
			}
		}
	})
	t.Run("lease", func(t *testing.T) {
		w := openTest(t, t.TempDir())
		commitMixed(t, w, key, "run-1", 1)
		s, err := w.Begin(ctx, lower, "run-writer", WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Abort()
		if err := w.LowercaseTenant(ctx, key); !errors.Is(err, ErrLeaseHeld) {
			t.Errorf("LowercaseTenant while the lowercase slice is written = %v, want ErrLeaseHeld", err)
		}
	})
}
