package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// A warehouse that an older credreg wrote with a tenant id in capitals is
// not stranded: `credreg run` for that tenant says so and names migrate,
// `credreg migrate` moves the slice to the lowercase folder, and runs
// after it see one tenant.
func TestMigrateMixedCaseWarehouse(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	wh := filepath.Join(dir, "wh")
	upper := strings.ToUpper(graphsim.DefaultTenantID)
	old, _ := time.Parse(time.DateOnly, "2026-11-19")
	writeOldRelease(t, wh, upper, old)
	upperDir := filepath.Join(wh, schemas.UserRegistrationDetailsTable.Name, "snapshot_date=2026-11-19", "tenant_id="+upper)
	if _, err := os.Stat(upperDir); err != nil {
		t.Fatalf("the old release did not write %s: %v", upperDir, err)
	}

	// The tenant as an old config named it, in capitals: the run keys it
	// in lowercase and warns of the old folder.
	url, ca := startSimulator(t, "--users", "80", "--date", "2026-11-20", "--no-throttle")
	env := append(simEnv(url, ca), "AZURE_TENANT_ID="+upper)
	runArgs := []string{"run", "--date", "2026-11-20", "--warehouse", wh, "--progress", "none", "--tenant-rate", "10000/1s"}
	out, err := credregCmd(ctx, env, runArgs...).CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	for _, want := range []string{"1 slices of tenant " + graphsim.DefaultTenantID + " under a tenant_id folder with capital letters",
		"credreg migrate --warehouse " + wh, "snapshot_date=2026-11-19/tenant_id=" + upper} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the run does not say %q:\n%s", want, out)
		}
	}

	out, err = credregCmd(ctx, nil, "migrate", "--warehouse", wh).CombinedOutput()
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "moved 1 slices") {
		t.Errorf("migrate says:\n%s", out)
	}
	if _, err := os.Stat(upperDir); err == nil {
		t.Errorf("%s is still there", upperDir)
	}
	w, err := load.OpenWarehouse(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	keys, err := w.Manifests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Tenant != graphsim.DefaultTenantID || keys[1].Tenant != graphsim.DefaultTenantID {
		t.Errorf("manifests after migrate: %v", keys)
	}
	for _, table := range schemas.Tables {
		slices, err := w.Slices(ctx, table)
		if err != nil {
			t.Fatal(err)
		}
		if len(slices) != 2 || slices[0].Tenant != graphsim.DefaultTenantID {
			t.Errorf("%s slices after migrate: %v", table.Name, slices)
		}
	}

	out, err = credregCmd(ctx, nil, "migrate", "--warehouse", wh).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "is up to date") {
		t.Errorf("migrate again: %v\n%s", err, out)
	}
	out, err = credregCmd(ctx, env, append(runArgs, "--force")...).CombinedOutput()
	if err != nil {
		t.Fatalf("run after migrate: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "capital letters") {
		t.Errorf("the run still warns after migrate:\n%s", out)
	}
}

// writeOldRelease writes a slice the way credreg did before tenant ids
// were normalised: through the pipeline with the id as given.
func writeOldRelease(t *testing.T, wh, tenant string, day time.Time) {
	t.Helper()
	ctx := context.Background()
	sim, err := graphsim.New(graphsim.Options{Tenants: []graphsim.Tenant{{ID: tenant, Users: 60, UsersOn: day}},
		Now: clockOn(day)})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	w, err := load.OpenWarehouse(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	raw, _, err := load.OpenRaw(ctx, wh, "")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	res := pipeline.Run(ctx, pipeline.RunOptions{
		Tenant: pipeline.Options{Key: schemas.Key{Date: day}, Endpoint: schemas.UserRegistrationDetails,
			Source: pipeline.Source{GraphURL: sim.URL(), HTTPClient: sim.Client()},
			Sink:   pipeline.ParquetSink{Warehouse: w}, Raw: raw, RunID: "old-release-run", Shards: 1},
		Tenants: []pipeline.TenantSource{{ID: tenant, Credential: extract.CredentialOptions{ClientID: graphsim.DefaultClientID,
			ClientSecret: graphsim.DefaultClientSecret, AuthorityHost: sim.URL(), HTTPClient: sim.Client(),
			Getenv: func(string) string { return "" }}}},
	})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestRunMigrateOnTidyWarehouse(t *testing.T) {
	var out bytes.Buffer
	err := runMigrate(context.Background(), migrateOptions{Warehouse: filepath.Join(t.TempDir(), "wh"),
		logOptions: logOptions{LogFormat: "text", LogLevel: "info", Progress: "none"}}, &out, &out)
	if err != nil || !strings.Contains(out.String(), "is up to date") {
		t.Errorf("%v\n%s", err, out.String())
	}
}

// migrate moves a slice under its lease: held by a run, it fails with
// exit status 7, or waits with --lock-wait.
func TestMigrateWaitsForTheLease(t *testing.T) {
	ctx := context.Background()
	wh := filepath.Join(t.TempDir(), "wh")
	day, _ := time.Parse(time.DateOnly, "2026-11-19")
	writeOldRelease(t, wh, strings.ToUpper(tenantA), day)
	w, err := load.OpenWarehouse(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	lease, err := w.Lease(ctx, schemas.Key{Date: day, Tenant: tenantA}, load.LeaseOptions{RunID: "a-run-of-the-test"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := credregCmd(ctx, nil, "migrate", "--warehouse", wh).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitLeaseHeld || !strings.Contains(string(b), "a-run-of-the-test") {
		t.Fatalf("migrate of a held slice: %v\n%s", err, b)
	}
	out, err := runReleasing(t, credregCmd(ctx, nil, "migrate", "--warehouse", wh, "--lock-wait", "1m"), lease)
	if err != nil || !strings.Contains(out, "moved 1 slices") {
		t.Fatalf("migrate --lock-wait: %v\n%s", err, out)
	}
}
