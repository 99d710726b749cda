package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/credreg/credreg/graphsim"
)

// A tenant id reaches the warehouse in lowercase whichever way it came in,
// so "8F0C…" and "8f0c…" are one partition.
func TestTenantIDsInLowercase(t *testing.T) {
	upper := strings.ToUpper(tenantA)
	env := map[string]string{"AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s", "SECRET": "s"}
	getenv := func(k string) string { return env[k] }
	cases := []struct {
		name string
		set  func(t *testing.T, o *runOptions)
	}{
		{"--tenant", func(t *testing.T, o *runOptions) {
			o.Tenants = []string{" " + upper + " "}
			o.changed = func(f string) bool { return f == "tenant" }
		}},
		{"AZURE_TENANT_ID", func(t *testing.T, o *runOptions) {
			o.Tenants = []string{upper}
			o.changed = func(string) bool { return false }
		}},
		{"config id", func(t *testing.T, o *runOptions) {
			o.Config = writeConfig(t, fmt.Sprintf("tenants:\n  - id: %s\n    client_id: c\n    client_secret_env: SECRET\n", upper))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := defaultRunOptions()
			c.set(t, &o)
			p, err := o.plan(getenv)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.tenants) != 1 || p.tenants[0].ID != tenantA {
				t.Fatalf("tenants %+v, want the one id %s", p.tenants, tenantA)
			}
		})
	}
}

func TestTenantIDRefusesNonGUIDs(t *testing.T) {
	for _, id := range []string{"", "contoso.onmicrosoft.com", "8f0c1d2e3a4b4c5d8e6f7a8b9c0d1e2f", tenantA + "x",
		"{" + tenantA + "}", "8f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2g", "../../../etc"} {
		_, err := tenantID("--tenant", id)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "Microsoft Entra admin center") {
			t.Errorf("tenantID(%q) = %v, want a usage error pointing at the admin center", id, err)
		}
	}
}

// The demo's tenants are keyed like real ones: lowercase GUIDs.
func TestDemoTenantIDsAreLowercaseGUIDs(t *testing.T) {
	for _, i := range []int{0, 1, 9, 10, 255, 499} {
		id := graphsim.TenantID(i)
		if got, err := tenantID("demo", id); err != nil || got != id {
			t.Errorf("graphsim.TenantID(%d) = %q: not a lowercase GUID (%v)", i, id, err)
		}
	}
}
