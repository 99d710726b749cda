package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// configCheck runs `credreg config check` as a user would and returns its
// exit status, stdout and stderr.
func configCheck(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	return runCmd(t, credregCmd(context.Background(), env, append([]string{"config", "check"}, args...)...))
}

// settingLine matches the text table's row of a setting.
func settingLine(name, value, source string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` +` + regexp.QuoteMeta(value) + ` +` +
		regexp.QuoteMeta(source) + `$`)
}

// A good config with two tenants passes; the output says where each
// setting came from and names each secret's reference, never the secret;
// the warehouse is touched by the probe only.
func TestConfigCheckGood(t *testing.T) {
	dir := t.TempDir()
	const envSecret, fileSecret = "env-secret-7f3a9c", "file-secret-b41d2e"
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(fileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wh := filepath.Join(dir, "wh")
	if err := os.MkdirAll(filepath.Join(wh, "user_registration_details", "tenant_id=x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wh, "user_registration_details", "tenant_id=x", "part.parquet"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, `
endpoint: credentialUserRegistrationDetails
warehouse: `+wh+`
shards: "8"
`+twoTenants(secretFile))
	env := []string{"CONTOSO_SECRET=" + envSecret, "CREDREG_GRAPH_URL=https://graph.example.test"}
	before := treeHashes(t, wh)

	code, out, errOut := configCheck(t, env, "--config", cfg, "--shards", "2")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	file := "file (" + cfg + ")"
	for _, want := range []*regexp.Regexp{
		settingLine("shards", "2", "flag"), // the flag overrides the file's 8
		settingLine("endpoint", "credentialUserRegistrationDetails", file),
		settingLine("warehouse", wh, file),
		settingLine("graph-url", "https://graph.example.test", "env (CREDREG_GRAPH_URL)"),
		settingLine("tenant-rate", "5/10s", "default"),
		regexp.MustCompile(`contoso \(11111111-1111-4111-8111-111111111111\) +c1 +client secret +env CONTOSO_SECRET, set +`),
		regexp.MustCompile(`22222222-2222-4222-8222-222222222222 +c2 +client secret +file ` + regexp.QuoteMeta(secretFile) + `, readable`),
		regexp.MustCompile(`warehouse .*: writable`),
	} {
		if !want.MatchString(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{envSecret, fileSecret} {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("the output shows the secret %q:\n%s%s", secret, out, errOut)
		}
	}

	// Apart from the probe's (empty) _staging and _leases folders, the
	// warehouse is as it was.
	after := treeHashes(t, wh)
	for _, probe := range []string{"_staging", "_leases"} {
		p := filepath.Join(wh, probe)
		if after[p] == "dir" && before[p] == "" {
			delete(after, p)
		}
	}
	if len(after) != len(before) {
		t.Errorf("the warehouse changed:\nbefore %v\nafter  %v", before, after)
	}
	for p, h := range before {
		if after[p] != h {
			t.Errorf("%s changed", p)
		}
	}

	// The same as one JSON object, the env secret given as a flag tenant's.
	code, out, errOut = configCheck(t, []string{"AZURE_CLIENT_ID=c9", "AZURE_CLIENT_SECRET=" + envSecret},
		"--tenant", "33333333-3333-4333-8333-333333333333", "--warehouse", filepath.Join(dir, "new"), "--log-format", "json")
	if code != 0 {
		t.Fatalf("json: exit %d\n%s%s", code, out, errOut)
	}
	var rep configReport
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil || dec.More() {
		t.Fatalf("stdout is not one JSON object (%v): %s", err, out)
	}
	if !rep.OK || len(rep.Problems) != 0 || !rep.Warehouse.Writable || len(rep.Tenants) != 1 ||
		rep.Tenants[0].Reference != "env AZURE_CLIENT_SECRET, set (masked)" || rep.Tenants[0].Source != "flag" {
		t.Errorf("json report %+v", rep)
	}
	if strings.Contains(out+errOut, envSecret) {
		t.Errorf("the JSON output shows the secret:\n%s%s", out, errOut)
	}
}

// Every problem is listed, with run's words, and the status is 2.
func TestConfigCheckProblems(t *testing.T) {
	dir := t.TempDir()
	missingFile := filepath.Join(dir, "no-such-secret")
	cfg := writeConfig(t, `
warehouse: `+filepath.Join(dir, "wh")+`
`+twoTenants(missingFile))
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := configCheck(t, nil, "--config", cfg, "--log-format", format)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d\n%s%s", code, exitUsage, out, errOut)
			}
			for _, want := range []string{
				"tenant contoso (11111111-1111-4111-8111-111111111111): client_secret_env names $CONTOSO_SECRET, which is not set",
				"tenant 22222222-2222-4222-8222-222222222222: client_secret_file: open " + missingFile + ": no such file or directory",
			} {
				if !strings.Contains(out, want) || !strings.Contains(errOut, want) {
					t.Errorf("stdout and stderr should both say %q:\n%s\n%s", want, out, errOut)
				}
			}
		})
	}
}

// A bad flag or setting is a usage error with run's message; the checks
// after it still run (the warehouse is probed) unless the config file
// does not load: then no warehouse is known, and none is probed.
func TestConfigCheckBadFlags(t *testing.T) {
	cfg := writeConfig(t, `
tenants:
  - id: 11111111-1111-4111-8111-111111111111
    client_id: c1
    client_secret_env: CONTOSO_SECRET
`)
	env := []string{"CONTOSO_SECRET=s"}
	cases := []struct {
		args   []string
		want   string
		probed bool
	}{
		{[]string{"--nope"}, "unknown flag: --nope", false},
		{[]string{"--config", cfg, "--page-size", "0"}, "--page-size 0: want 1 to 999", true},
		{[]string{"--config", cfg, "--tenant", tenantA}, "--tenant and --config do not go together", true},
		{[]string{"--config", cfg, "--sink", "bigquery"}, "say --sink parquet,bigquery", true},
		{[]string{"--tenant", "contoso.onmicrosoft.com"}, "the tenant id is not a GUID", true},
		{[]string{"--log-format", "xml"}, `--log-format "xml": want text or json`, false},
		{[]string{"extra"}, "takes no arguments", false},
		{[]string{"--config", "none.yaml"}, "--config: open none.yaml: no such file", false},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			dir := t.TempDir() // the working folder, where ./warehouse would go
			cmd := credregCmd(context.Background(), env, append([]string{"config", "check"}, c.args...)...)
			cmd.Dir = dir
			code, out, errOut := runCmd(t, cmd)
			if code != exitUsage || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, want %d with %q\n%s%s", code, exitUsage, c.want, out, errOut)
			}
			_, err := os.Stat(filepath.Join(dir, "warehouse", "_staging"))
			if probed := err == nil; probed != c.probed {
				t.Errorf("warehouse probed: %v, want %v", probed, c.probed)
			}
		})
	}
}
