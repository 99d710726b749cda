package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/credreg/credreg/internal/azurite"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// A warehouse and a raw zone on Azure Blob Storage (Azurite), each in a
// container of its own, through the CLI as a user runs it: nightly demo
// runs publish there, backfill rebuilds from the raw zone read back from
// azblob://, and prune deletes the old days of both.
func TestAzureBlobWarehouse(t *testing.T) {
	srv := azurite.Start(t)
	env := azurite.Env()
	wh := srv.NewContainer(t, "credreg/warehouse")
	raw := srv.NewContainer(t, "")
	days := []string{"2026-11-18", "2026-11-19"}
	for _, d := range days {
		code, out, errs := runCmd(t, credregCmd(context.Background(), env, "run", "--demo", "--demo-users", "60", "--date", d,
			"--warehouse", wh, "--raw", raw, "--progress", "none", "--shards", "off"))
		if code != 0 {
			t.Fatalf("run --date %s: exit %d\n%s%s", d, code, out, errs)
		}
	}
	ctx := context.Background()
	w, err := load.OpenWarehouse(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	keys, err := w.Slices(ctx, schemas.UserRegistrationDetailsTable)
	if err != nil || len(keys) != len(days) {
		t.Fatalf("slices on azblob: %v, %v; want one per day", keys, err)
	}
	users, err := w.ReadSlice(ctx, schemas.UserRegistrationDetailsTable, keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if users.NumRows() != 60 {
		t.Errorf("the slice read back from azblob has %d users, want 60", users.NumRows())
	}
	users.Release()

	code, out, errs := backfill(t, os.Args[0], env, "--from", days[0], "--to", days[1], "--warehouse", wh, "--raw", raw,
		"--force", "--progress", "none")
	if code != 0 || !strings.HasSuffix(out, totals(2, 0, 0, 0)) {
		t.Fatalf("backfill from the azblob raw zone: exit %d\n%s%s", code, out, errs)
	}
	for _, key := range keys {
		b, err := w.ReadManifest(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		var m pipeline.Manifest
		if err := json.Unmarshal(b, &m); err != nil || m.ReplayedFrom == nil {
			t.Errorf("manifest of %s after the backfill names no raw run it was replayed from (%v):\n%s", sliceName(key), err, b)
		}
	}

	code, out, errs = runCmd(t, credregCmd(ctx, env, "prune", "--warehouse", wh, "--raw", raw, "--raw-before", days[1],
		"--tables-before", days[1], "--progress", "none"))
	if code != 0 {
		t.Fatalf("prune: exit %d\n%s%s", code, out, errs)
	}
	left, err := w.Slices(ctx, schemas.UserRegistrationDetailsTable)
	if err != nil || len(left) != 1 || left[0] != keys[1] {
		t.Errorf("after prune the slices are %v, %v; want only %s", left, err, sliceName(keys[1]))
	}
	if _, err := w.ReadManifest(ctx, keys[0]); err == nil {
		t.Errorf("prune left the manifest of %s", sliceName(keys[0]))
	}
	code, out, errs = backfill(t, os.Args[0], env, "--from", days[0], "--to", days[1], "--warehouse", wh, "--raw", raw,
		"--force", "--progress", "none")
	if code != 0 || !strings.HasSuffix(out, totals(1, 0, 1, 0)) {
		t.Errorf("backfill after prune: exit %d, want the pruned day without raw data\n%s%s", code, out, errs)
	}
}

// A wrong storage key is refused before any work (the warehouse is not
// writable: exit status 2), and neither the key given nor the emulator's
// appears in what credreg prints, as text or JSON.
func TestAzureBlobWrongKey(t *testing.T) {
	srv := azurite.Start(t)
	wh := srv.NewContainer(t, "warehouse")
	wrong := base64.StdEncoding.EncodeToString([]byte("a key that is not devstoreaccount1's, at all"))
	env := []string{"AZURE_STORAGE_ACCOUNT=" + azurite.Account, "AZURE_STORAGE_KEY=" + wrong}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"run", "--demo", "--warehouse", wh, "--progress", "none"},
		{"prune", "--warehouse", wh, "--tables-before", "2026-11-01", "--progress", "none"},
		{"run", "--demo", "--warehouse", wh, "--progress", "none", "--log-format", "json"},
	} {
		code, out, errs := runCmd(t, credregCmd(ctx, env, args...))
		t.Logf("%v: exit %d\n%s%s", args, code, out, errs)
		if code != exitUsage {
			t.Fatalf("%v with a wrong key: exit %d, want %d\n%s%s", args, code, exitUsage, out, errs)
		}
		for _, secret := range []string{wrong, azurite.Key} {
			if strings.Contains(out+errs, secret) {
				t.Errorf("%v printed a storage key:\n%s%s", args, out, errs)
			}
		}
	}
}
