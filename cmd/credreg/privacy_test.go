package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/transform"
)

// The privacy tests' two days and keys (each at least 32 bytes).
const (
	privacyDay1 = "2026-06-01"
	privacyDay2 = "2026-11-21"
	privacyKeyA = "7f3a9c1e5b2d8f4a6c0e1b3d5f7a9c2e"
	privacyKeyB = "another key of thirty-two bytes or more"
)

// privacySim serves one tenant with a bad record of every kind (their
// raw_json holds names too), on whichever day day holds.
func privacySim(t *testing.T, day *atomic.Pointer[time.Time]) (env []string, sim *graphsim.Server) {
	t.Helper()
	d1, _ := time.Parse(time.DateOnly, privacyDay1)
	day.Store(&d1)
	start := time.Now()
	sim, err := graphsim.New(graphsim.Options{
		Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 120, UsersOn: d1, Defects: graphsim.AllDefects(10)}},
		Now:     func() time.Time { return day.Load().Add(12 * time.Hour).Add(time.Since(start)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, sim.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return simEnv(sim.URL(), ca), sim
}

// privacyRun runs `credreg run` for date against the simulator with extra
// args and the key in the environment ("" for none).
func privacyRun(t *testing.T, env []string, key, wh, date string, args ...string) (int, string, string) {
	t.Helper()
	if key != "" {
		env = append(env, pseudonymKeyEnv+"="+key)
	}
	all := append([]string{"run", "--date", date, "--warehouse", wh, "--progress", "none", "--shards", "off",
		"--max-reject-ratio", "0.5"}, args...)
	return runCmd(t, credregCmd(context.Background(), env, all...))
}

// names are the real names of the simulated tenant's users on a day.
func names(sim *graphsim.Server, day string) (upns, displayNames []string) {
	d, _ := time.Parse(time.DateOnly, day)
	for _, u := range sim.Users(graphsim.DefaultTenantID, d) {
		upns = append(upns, strings.ToLower(u.UserPrincipalName))
		displayNames = append(displayNames, u.UserDisplayName)
	}
	return upns, displayNames
}

// rawText is every page of the raw zone under wh, decompressed.
func rawText(t *testing.T, wh string) string {
	t.Helper()
	var all bytes.Buffer
	err := filepath.WalkDir(filepath.Join(wh, "_raw"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".json.gz") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		_, err = io.Copy(&all, zr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return all.String()
}

// manifestOf reads the manifest of the simulated tenant's day.
func manifestOf(t *testing.T, wh, day string) pipeline.Manifest {
	t.Helper()
	return readManifestFile(t, filepath.Join(wh, "_manifests", "snapshot_date="+day, "tenant_id="+graphsim.DefaultTenantID+".json"))
}

var pseudonymValue = regexp.MustCompile(`^hmac:[0-9a-f]{32}$`)

// Two days pseudonymized with one key: no real name in any table, the
// raw zone keeps them, the same user has the same pseudonym on both days
// (in users, methods and changes), the manifests name the key, and a
// backfill with the key rebuilds the same rows. Another key, or none, is
// refused before anything is written, unless --new-pseudonymization-key.
func TestPseudonymizedDaysJoin(t *testing.T) {
	t.Parallel() // most of its time is Graph's throttle: it sleeps
	var day atomic.Pointer[time.Time]
	env, sim := privacySim(t, &day)
	wh := filepath.Join(t.TempDir(), "wh")

	for _, d := range []string{privacyDay1, privacyDay2} {
		next, _ := time.Parse(time.DateOnly, d)
		day.Store(&next)
		if code, out, errs := privacyRun(t, env, privacyKeyA, wh, d, "--pseudonymize"); code != 0 {
			t.Fatalf("run %s: exit %d\n%s%s", d, code, out, errs)
		}
	}
	upns1, names1 := names(sim, privacyDay1)
	upns2, names2 := names(sim, privacyDay2)
	rows := warehouseRows(t, wh)
	withoutRunIDs := warehouseRows(t, wh, "run_id")

	// No real name in any cell of any table, rejects' raw_json included.
	real := append(append(append(upns1, upns2...), names1...), names2...)
	for table, lines := range rows {
		for _, line := range lines {
			lower := strings.ToLower(line)
			for _, name := range real {
				if strings.Contains(lower, strings.ToLower(name)) {
					t.Fatalf("%s holds the real name %q: %s", table, name, line)
				}
			}
		}
	}
	// The raw zone, the system of record, keeps them.
	raw := strings.ToLower(rawText(t, wh))
	for _, name := range []string{upns1[0], upns2[len(upns2)-1]} {
		if !strings.Contains(raw, name) {
			t.Errorf("the raw zone lacks %s", name)
		}
	}

	// Each user has one pseudonym, the same on both days and in every table.
	type cell struct{ day, table, upn string }
	upnOf := map[string]map[cell]bool{} // user_id -> where and what
	rewritten := 0
	for _, table := range []string{"user_registration_details", "user_auth_methods", "registration_changes", "rejected_records"} {
		if len(rows[table]) == 0 {
			t.Errorf("no rows in %s", table)
		}
		for _, line := range rows[table] {
			slice, js, _ := strings.Cut(line, " ")
			var r map[string]any
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				t.Fatal(err)
			}
			if table == "rejected_records" {
				if s, _ := r["raw_json"].(string); strings.Contains(s, `"userPrincipalName":"hmac:`) {
					rewritten++
				}
				continue
			}
			id, _ := r["user_id"].(string)
			upn, _ := r["user_principal_name"].(string)
			if !pseudonymValue.MatchString(upn) {
				t.Fatalf("%s: user_principal_name %q is no pseudonym", table, upn)
			}
			if dn, ok := r["user_display_name"].(string); ok && !pseudonymValue.MatchString(dn) {
				t.Fatalf("%s: user_display_name %q is no pseudonym", table, dn)
			}
			if upnOf[id] == nil {
				upnOf[id] = map[cell]bool{}
			}
			upnOf[id][cell{slice[:len("snapshot_date=YYYY-MM-DD")], table, upn}] = true
		}
	}
	if rewritten == 0 {
		t.Error("no reject's raw_json has its names rewritten")
	}
	both, byValue := 0, map[string]string{}
	for id, cells := range upnOf {
		values, days := map[string]bool{}, map[string]bool{}
		for c := range cells {
			values[c.upn], days[c.day] = true, true
		}
		if len(values) != 1 {
			t.Errorf("user %s has %d pseudonyms: %v", id, len(values), cells)
		}
		for v := range values {
			if other, ok := byValue[v]; ok {
				t.Errorf("users %s and %s share the pseudonym %s", id, other, v)
			}
			byValue[v] = id
		}
		if len(days) == 2 {
			both++
		}
	}
	if both < 100 {
		t.Errorf("%d users join across the two days, want most of 120", both)
	}

	m1, m2 := manifestOf(t, wh, privacyDay1), manifestOf(t, wh, privacyDay2)
	if m1.Pseudonymization == nil || m2.Pseudonymization == nil ||
		!regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(m1.Pseudonymization.KeyFingerprint) ||
		m1.Pseudonymization.KeyFingerprint != m2.Pseudonymization.KeyFingerprint {
		t.Fatalf("manifests' pseudonymization: %+v, %+v", m1.Pseudonymization, m2.Pseudonymization)
	}
	b, _ := os.ReadFile(filepath.Join(wh, "_manifests", "snapshot_date="+privacyDay1, "tenant_id="+graphsim.DefaultTenantID+".json"))
	if bytes.Contains(b, []byte(privacyKeyA)) {
		t.Error("the manifest holds the key")
	}

	// A backfill with the key rebuilds the same rows from the raw zone.
	bfEnv := []string{pseudonymKeyEnv + "=" + privacyKeyA}
	code, out, errs := runCmd(t, credregCmd(context.Background(), bfEnv, "backfill", "--from", privacyDay1, "--to", privacyDay2,
		"--warehouse", wh, "--progress", "none", "--force", "--max-reject-ratio", "0.5", "--pseudonymize"))
	if code != 0 {
		t.Fatalf("backfill: exit %d\n%s%s", code, out, errs)
	}
	sameRows(t, warehouseRows(t, wh, "run_id"), withoutRunIDs)

	// Another key, no key, a backfill without it: refused, nothing written.
	before := treeHashes(t, wh)
	refusals := []struct {
		name string
		code func() (int, string, string)
	}{
		{"another key", func() (int, string, string) {
			return privacyRun(t, env, privacyKeyB, wh, privacyDay2, "--pseudonymize", "--force")
		}},
		{"real names", func() (int, string, string) { return privacyRun(t, env, "", wh, privacyDay2, "--force") }},
		{"backfill without the key", func() (int, string, string) {
			return runCmd(t, credregCmd(context.Background(), nil, "backfill", "--from", privacyDay1,
				"--warehouse", wh, "--progress", "none", "--force"))
		}},
	}
	for _, r := range refusals {
		code, out, errs := r.code()
		if code != exitUsage || !strings.Contains(errs, "would not join") || !strings.Contains(errs, "--new-pseudonymization-key") {
			t.Errorf("%s: exit %d, want %d with the reason\n%s%s", r.name, code, exitUsage, out, errs)
		}
		if strings.Contains(out+errs, privacyKeyB) || strings.Contains(out+errs, privacyKeyA) {
			t.Errorf("%s: the output shows a key", r.name)
		}
	}
	if after := treeHashes(t, wh); !maps.Equal(before, after) {
		t.Error("a refused run changed the warehouse")
	}

	// Said to be intended, the new key is taken.
	if code, out, errs := privacyRun(t, env, privacyKeyB, wh, privacyDay2, "--pseudonymize", "--force",
		"--new-pseudonymization-key"); code != 0 {
		t.Fatalf("run with --new-pseudonymization-key: exit %d\n%s%s", code, out, errs)
	}
	if m := manifestOf(t, wh, privacyDay2); m.Pseudonymization == nil ||
		m.Pseudonymization.KeyFingerprint == m1.Pseudonymization.KeyFingerprint {
		t.Errorf("after a new key the manifest says %+v", m.Pseudonymization)
	}
	// The new key's first day is not compared with the old key's: its
	// change rows would mix two names for each person.
	if m := manifestOf(t, wh, privacyDay2); m.Changes.Skipped == "" || m.Changes.Rows != 0 {
		t.Errorf("the new key's first slice compared with the old key's: changes %+v", m.Changes)
	}
	// A backfill with the new key rebuilds the slices of the old one,
	// up to date as they are otherwise, and then the other, whose changes
	// can now be compared.
	bfEnv = []string{pseudonymKeyEnv + "=" + privacyKeyB}
	code, out, errs = runCmd(t, credregCmd(context.Background(), bfEnv, "backfill", "--from", privacyDay1, "--to", privacyDay2,
		"--warehouse", wh, "--progress", "none", "--max-reject-ratio", "0.5", "--pseudonymize"))
	if code != 0 || !strings.Contains(out, totals(2, 0, 172, 0)) || !strings.Contains(out, "pseudonymized with the key of fingerprint") {
		t.Fatalf("backfill with the new key: exit %d\n%s%s", code, out, errs)
	}
	if m := manifestOf(t, wh, privacyDay2); m.Changes.Skipped != "" || m.Changes.PreviousKeyFingerprint != m.Pseudonymization.KeyFingerprint {
		t.Errorf("after the backfill the second day's changes say %+v", m.Changes)
	}
	if m := manifestOf(t, wh, privacyDay1); m.Pseudonymization == nil ||
		m.Pseudonymization.KeyFingerprint != manifestOf(t, wh, privacyDay2).Pseudonymization.KeyFingerprint {
		t.Errorf("after the backfill the first day's manifest says %+v", m.Pseudonymization)
	}

	// The HTML report reads the tables: no real name in it either.
	report := filepath.Join(t.TempDir(), "report.html")
	code, out, errs = runCmd(t, credregCmd(context.Background(), nil, "trends", "--warehouse", wh,
		"--from", privacyDay1, "--to", privacyDay2, "--html", report))
	if code != 0 {
		t.Fatalf("trends: exit %d\n%s%s", code, out, errs)
	}
	html, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range real {
		if bytes.Contains(bytes.ToLower(html), []byte(strings.ToLower(name))) {
			t.Fatalf("the HTML report holds the real name %q", name)
		}
	}
}

// The key's problems are usage errors that never show the key.
func TestPseudonymizationKeyErrors(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("thirty-one bytes of key, not 32\n"), 0o600)
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte(privacyKeyA+"\n"), 0o600)
	cases := []struct {
		name string
		o    privacyOptions
		env  string
		want string // "" for success
	}{
		{"off", privacyOptions{}, "", ""},
		{"from the environment", privacyOptions{Pseudonymize: true}, privacyKeyA, ""},
		{"from a file, newline trimmed", privacyOptions{Pseudonymize: true, KeyFile: good}, "", ""},
		{"no key", privacyOptions{Pseudonymize: true}, "", "--pseudonymize needs a key"},
		{"short key", privacyOptions{Pseudonymize: true}, "too short", "at least 32 bytes (got 9)"},
		{"short file", privacyOptions{Pseudonymize: true, KeyFile: short}, "", "at least 32 bytes (got 31)"},
		{"no file", privacyOptions{Pseudonymize: true, KeyFile: filepath.Join(dir, "nope")}, "", "no such file"},
		{"a file without --pseudonymize", privacyOptions{KeyFile: good}, "", "goes with --pseudonymize"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := c.o.pseudonymizer(func(string) string { return c.env })
			if c.want == "" {
				if err != nil || (p == nil) != !c.o.Pseudonymize {
					t.Fatalf("got %v, %v", p, err)
				}
				if c.o.KeyFile == good && p.UPN("x@y") != pseudonymizerOf(t, privacyKeyA).UPN("x@y") {
					t.Error("the file's newline is part of the key")
				}
				return
			}
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a usage error saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), "thirty-one") || (c.env != "" && strings.Contains(err.Error(), c.env)) {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
}

// Every file and folder a run writes is closed to others (a umask of
// 027): the warehouse, the raw zone with its real names, leases, staging.
func TestRunWritesNothingWorldReadable(t *testing.T) {
	t.Parallel() // most of its time is Graph's throttle: it sleeps
	wh := filepath.Join(t.TempDir(), "wh")
	code, out, errs := runCmd(t, credregCmd(context.Background(), nil, "run", "--demo", "--demo-users", "50",
		"--warehouse", wh, "--progress", "none"))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	n := 0
	err := filepath.WalkDir(wh, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		if fi.Mode().Perm()&0o007 != 0 {
			t.Errorf("%s is %v: others may access it", p, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("walked %d entries; the run wrote less than expected", n)
	}
}

func pseudonymizerOf(t *testing.T, key string) *transform.Pseudonymizer {
	t.Helper()
	p, err := transform.NewPseudonymizer([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// An import applies the key as a run does: the names in the tables are
// pseudonyms (rejects' raw_json too), the raw zone keeps them, and a
// second import of the day joins only with the same key.
func TestPseudonymizedImport(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "page.json")
	os.WriteFile(page, []byte(`{"value":[`+
		`{"id":"u1","userPrincipalName":"Ada.Brown@contoso.example.com","userDisplayName":"Ada Brown","authMethods":["email"]},`+
		`{"id":"u2","userPrincipalName":"eve.stone@contoso.example.com","userDisplayName":"Eve Stone","authMethods":{"email":true}}]}`), 0o600)
	wh := filepath.Join(dir, "wh")
	imp := func(key string, args ...string) (int, string, string) {
		var env []string
		if key != "" {
			env = []string{pseudonymKeyEnv + "=" + key}
		}
		all := append([]string{"import", "--date", sliceDate, "--tenant", tenantA, "--endpoint", "credentialUserRegistrationDetails",
			"--warehouse", wh, "--max-reject-ratio", "0.6"}, args...)
		return runCmd(t, credregCmd(context.Background(), env, append(all, page)...))
	}
	if code, out, errs := imp(privacyKeyA, "--pseudonymize"); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	rows := warehouseRows(t, wh, "run_id", "extracted_at")
	all := ""
	for _, lines := range rows {
		all += strings.Join(lines, "\n")
	}
	for _, name := range []string{"ada.brown", "Ada Brown", "eve.stone", "Eve Stone"} {
		if strings.Contains(strings.ToLower(all), strings.ToLower(name)) {
			t.Errorf("a table holds %q:\n%s", name, all)
		}
	}
	if len(rows["rejected_records"]) != 1 || !strings.Contains(rows["rejected_records"][0], `\"userPrincipalName\":\"hmac:`) {
		t.Errorf("rejected_records: %v", rows["rejected_records"])
	}
	if raw := rawText(t, wh); !strings.Contains(raw, "Ada.Brown@contoso.example.com") {
		t.Error("the raw zone lacks the real names")
	}
	if m := readManifest(t, wh, tenantA); m.Pseudonymization == nil || m.Pseudonymization.KeyFingerprint == "" {
		t.Errorf("manifest: %+v", m.Pseudonymization)
	}
	if code, _, errs := imp("", "--force"); code != exitUsage || !strings.Contains(errs, "would not join") {
		t.Errorf("an import with real names over pseudonyms: exit %d\n%s", code, errs)
	}
	if code, out, errs := imp(privacyKeyA, "--force", "--pseudonymize"); code != 0 {
		t.Fatalf("an import with the same key: exit %d\n%s%s", code, out, errs)
	}
	sameRows(t, warehouseRows(t, wh, "run_id", "extracted_at"), rows)
}
