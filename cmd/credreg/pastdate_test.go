package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// A past --date over a day that has its snapshot is refused unless
// --force; over a day without one it runs, with a warning.
func TestCheckPastDate(t *testing.T) {
	ctx := context.Background()
	wh, err := load.OpenWarehouse(ctx, filepath.Join(t.TempDir(), "wh"))
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	now := day("2026-12-01").Add(15 * time.Hour)
	if err := wh.WriteManifest(ctx, schemas.Key{Date: day("2026-11-20"), Tenant: tenantA}, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	tenants := []pipeline.TenantSource{{ID: "22222222-2222-4222-8222-222222222222"}, {ID: tenantA}}
	cases := []struct {
		name    string
		date    string
		force   bool
		refuse  bool
		warning string
	}{
		{name: "today", date: "2026-12-01"},
		{name: "past day without a slice", date: "2026-11-19", warning: "this snapshot will carry date 2026-11-19 but today's data"},
		{name: "past day with a slice", date: "2026-11-20", refuse: true},
		{name: "past day with a slice, forced", date: "2026-11-20", force: true, warning: "replacing a past day's snapshot"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			err := checkPastDate(ctx, wh, day(c.date), now, tenants, c.force, slog.New(slog.NewTextHandler(&logs, nil)))
			var ue usageError
			switch {
			case c.refuse && !errors.As(err, &ue):
				t.Fatalf("err = %v, want a usage error", err)
			case c.refuse:
				for _, want := range []string{"snapshot_date=2026-11-20/tenant_id=" + tenantA, "--force", wh.String()} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not name %q", err, want)
					}
				}
			case err != nil:
				t.Fatal(err)
			}
			if c.warning != "" && !strings.Contains(logs.String(), c.warning) {
				t.Errorf("no warning %q in the log:\n%s", c.warning, logs.String())
			}
			if c.warning == "" && logs.Len() > 0 {
				t.Errorf("unexpected log:\n%s", logs.String())
			}
		})
	}
}
