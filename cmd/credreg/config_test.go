package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credreg/credreg/graphsim"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "credreg.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigTenants(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("file-secret\n"), 0o600)
	env := map[string]string{"CONTOSO_SECRET": "env-secret", "AZURE_CLIENT_SECRET": "must-not-leak-in"}
	getenv := func(k string) string { return env[k] }
	path := writeConfig(t, `
endpoint: credentialUserRegistrationDetails
`+twoTenants(secretFile))
	c, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := c.tenantSources(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Name != "contoso" || ts[0].Credential.ClientSecret != "env-secret" ||
		ts[1].Credential.ClientSecret != "file-secret" || ts[1].Credential.ClientID != "c2" {
		t.Fatalf("tenants %+v", ts)
	}
	if v := ts[1].Credential.Getenv("AZURE_CLIENT_SECRET"); v != "" {
		t.Errorf("a config tenant falls back to AZURE_CLIENT_SECRET: %q", v)
	}
	o := defaultRunOptions()
	o.Config = path
	if _, err := o.plan(getenv); err != nil {
		t.Fatal(err)
	}
	if o.Endpoint != "credentialUserRegistrationDetails" {
		t.Errorf("endpoint from the config not used: %q", o.Endpoint)
	}
}

// Every mistake in a config is one line, a usage error, and never shows a
// secret.
func TestConfigErrors(t *testing.T) {
	env := map[string]string{"SET": "s3cr3t-value"}
	getenv := func(k string) string { return env[k] }
	tenant := func(extra string) string {
		return "tenants:\n  - id: 11111111-1111-4111-8111-111111111111\n    name: contoso\n    client_id: c1\n" + extra
	}
	cases := []struct {
		name, body, want string
	}{
		{"empty", "", "is empty"},
		{"no-tenants", "endpoint: userRegistrationDetails\n", "no tenants"},
		{"inline-secret", tenant("    client_secret: s3cr3t-value\n"), "holds a secret in the file"},
		{"typo", tenant("    client_secret_envv: SET\n"), "line 5: an unknown setting (did you mean client_secret_env?)"},
		{"secret-as-key", tenant("    s3cr3t-value: x\n"), "line 5: an unknown setting"},
		{"wrong-type", "tenants: s3cr3t-value\n", "line 1: a value of the wrong kind"},
		{"backtick", "tenants: ab`s3cr3t\n", "line 1: a value of the wrong kind"},
		{"duplicate-key", "endpoint: a\nendpoint: s3cr3t\n", "a setting given twice"},
		{"syntax", "tenants: [s3cr3t\n", "not valid YAML"},
		{"no-credential", tenant(""), "exactly one of"},
		{"two-credentials", tenant("    client_secret_env: SET\n    client_certificate_path: /c.pem\n"), "exactly one of"},
		{"unset-variable", tenant("    client_secret_env: NOT_SET\n"), "$NOT_SET, which is not set"},
		{"missing-file", tenant("    client_secret_file: /nonexistent/secret\n"), "no such file"},
		{"domain-as-id", "tenants:\n  - id: s3cr3t.onmicrosoft.com\n    name: contoso\n    client_id: c1\n    client_secret_env: SET\n",
			"contoso: the tenant id is not a GUID; use the Tenant ID that the Microsoft Entra admin center shows under Identity → Overview"},
		{"same-id-in-two-cases", "tenants:\n  - id: aaaaaaaa-1111-4111-8111-111111111111\n    client_id: c1\n    client_secret_env: SET\n" +
			"  - id: AAAAAAAA-1111-4111-8111-111111111111\n    client_id: c2\n    client_secret_env: SET\n", "listed twice"},
		{"no-id", "tenants:\n  - client_id: c1\n    client_secret_env: SET\n", "has no id"},
		{"no-client-id", "tenants:\n  - id: 11111111-1111-4111-8111-111111111111\n    client_secret_env: SET\n", "has no client_id"},
		{"duplicate", tenant("    client_secret_env: SET\n") + "  - id: 11111111-1111-4111-8111-111111111111\n    client_id: c2\n    client_secret_env: SET\n", "listed twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := defaultRunOptions()
			o.Config = writeConfig(t, c.body)
			_, err := o.plan(getenv)
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want a usage error", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not say %q", msg, c.want)
			}
			if strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "\n") {
				t.Errorf("error leaks the secret or spans lines: %q", msg)
			}
		})
	}
}

// Two tenants from a config against a simulator in another process: one
// signs in, the other's secret is wrong. The good one publishes, the run
// exits 3 and names the failed tenant; no secret reaches the output.
func TestRunPartialExitStatus(t *testing.T) {
	t.Parallel() // most of its time is Graph's throttle: it sleeps
	if testing.Short() {
		t.Skip("starts two processes")
	}
	dir := t.TempDir()
	good, bad := graphsim.DefaultTenantID, "22222222-2222-4222-8222-222222222222"
	ctx := context.Background()
	url, ca := startSimulator(t, "--tenant", good, "--tenant", bad, "--users", "300")
	cfg := writeConfig(t, fmt.Sprintf(`
graph_url: %[1]s
authority_host: %[1]s
tenants:
  - id: %[2]s
    name: good
    client_id: %[4]s
    client_secret_env: GOOD_SECRET
  - id: %[3]s
    name: bad
    client_id: %[4]s
    client_secret_env: BAD_SECRET
`, url, good, bad, graphsim.DefaultClientID))
	cmd := credregCmd(ctx, []string{"SSL_CERT_FILE=" + ca, "GOOD_SECRET=" + graphsim.DefaultClientSecret,
		"BAD_SECRET=wrong-secret-value"}, "run", "--config", cfg, "--warehouse", filepath.Join(dir, "wh"), "--progress", "none")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitPartial {
		t.Fatalf("exit %v, want %d\nstdout:\n%s\nstderr:\n%s", err, exitPartial, stdout.String(), stderr.String())
	}
	out := stdout.String() + stderr.String()
	for _, want := range []string{"1 of 2 tenants failed", "bad (" + bad + ")", "published 1 of 2 tenants"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "wrong-secret-value") || strings.Contains(out, graphsim.DefaultClientSecret) {
		t.Errorf("a secret reached the output:\n%s", out)
	}
	if n := countFiles(t, filepath.Join(dir, "wh", "_manifests"), ".json"); n != 1 {
		t.Errorf("%d manifests, want 1 (the good tenant's)", n)
	}
}

// The data contract from the command line: a simulator serving one bad
// record of every kind among 400 users breaches the default 1 % budget
// (exit 4, nothing published, the rejects kept under _failed); a looser
// budget publishes with the rejects counted by reason.
func TestRunContractBreachExitStatus(t *testing.T) {
	url, ca := startSimulator(t, "--users", "400", "--date", "2026-11-20", "--bad-records-after", "10", "--no-throttle")
	wh := filepath.Join(t.TempDir(), "wh")
	args := []string{"run", "--date", "2026-11-20", "--warehouse", wh, "--progress", "none", "--tenant-rate", "100/1s"}
	out, err := credregCmd(context.Background(), simEnv(url, ca), args...).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitContract {
		t.Fatalf("exit %v, want %d:\n%s", err, exitContract, out)
	}
	for _, want := range []string{"data contract breached", "9 of 409 records rejected", "over the limit of 1% of the records", "nothing was published", "_failed/run_id=", "--max-reject-ratio"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := countFiles(t, filepath.Join(wh, "_manifests"), ".json"); n != 0 {
		t.Errorf("%d manifests published for a breached run", n)
	}
	if n := countFiles(t, filepath.Join(wh, "_failed"), ".json"); n != 1 {
		t.Errorf("%d manifests kept under _failed, want 1", n)
	}
	out, err = credregCmd(context.Background(), simEnv(url, ca), append(args, "--max-reject-ratio", "0.05")...).CombinedOutput()
	if err != nil {
		t.Fatalf("looser budget: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "rejected       9 (bad_timestamp=1, duplicate_id=1, invalid_json=1,") {
		t.Errorf("summary:\n%s", out)
	}
}

// twoTenants is the tenants of a config file: contoso with its secret in
// CONTOSO_SECRET, and a second tenant with its secret in secretFile.
func twoTenants(secretFile string) string {
	return `tenants:
  - id: 11111111-1111-4111-8111-111111111111
    name: contoso
    client_id: c1
    client_secret_env: CONTOSO_SECRET
  - id: 22222222-2222-4222-8222-222222222222
    client_id: c2
    client_secret_file: ` + secretFile + "\n"
}
