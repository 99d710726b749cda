package pipeline

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/schemas"
)

// A night whose duplicate detection cannot spill (no room, no folder)
// cannot tell a user read twice from two users: it publishes nothing and
// the last good snapshot stays.
func TestRunWhoseSpillFailsKeepsPreviousSnapshot(t *testing.T) {
	e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 1200}}})
	o := e.options(t, schemas.UserRegistrationDetails)
	first, err := RunTenant(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "gone"))
	o.SeenInMemory = 16
	if _, err := RunTenant(context.Background(), o); err == nil || !strings.Contains(err.Error(), "not publishing") {
		t.Fatalf("run with a spill that cannot start: %v, want a refusal to publish", err)
	}
	m := checkSnapshotMatches(t, e, o.Key, o.Endpoint)
	if m.RunID != first.RunID {
		t.Errorf("published run %s, want the first run %s kept", m.RunID, first.RunID)
	}
}
