package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credreg/credreg/graphsim"
)

// TestSimulateFlagChecks: the churn, damage and revocation flags refuse
// values graphsim cannot serve, naming the flag.
func TestSimulateFlagChecks(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--churn-rate", "1.5"}, "churn shares"},
		{[]string{"--churn-deleted", "-0.1"}, "churn shares"},
		{[]string{"--churn-rate", "0.6", "--churn-deleted", "0.5"}, "--churn-rate plus --churn-deleted"},
		{[]string{"--churn-requests", "0"}, "--churn-requests"},
		{[]string{"--damage", "torn"}, "--damage \"torn\""},
		{[]string{"--damage", "unclosed-string", "--damage-after", "5000"}, "--damage-after 5000"},
		{[]string{"--revoke-tokens-every", "-1s"}, "--revoke-tokens-every"},
		{[]string{"--aggregate-lag", "-1"}, "--aggregate-lag -1"},
		{[]string{"--withhold-page", "isMfaRegistered eq true"}, "--withhold-page"},
		{[]string{"--withhold-page", "@0"}, "--withhold-page \"@0\""},
		{[]string{"--withhold-page", "@2:0"}, "--withhold-page \"@2:0\""},
		{[]string{"--withhold-page", "isAdmin eq true@two"}, "FILTER@PAGE"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			cmd := newSimulateCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(append([]string{"--addr", "127.0.0.1:0", "--ca-out", filepath.Join(t.TempDir(), "ca.pem")}, c.args...))
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // a valid command would serve until this context ends
			err := cmd.ExecuteContext(ctx)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
		})
	}
}

// TestSimulateServesChurnAndDamage: the new flags reach graphsim; with a
// context already ended the command starts, prints where it serves and
// stops.
func TestSimulateServesChurnAndDamage(t *testing.T) {
	cmd := newSimulateCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--addr", "127.0.0.1:0", "--ca-out", filepath.Join(t.TempDir(), "ca.pem"), "--users", "50",
		"--churn-rate", "0.05", "--churn-created", "0.01", "--churn-deleted", "0.01", "--churn-requests", "10",
		"--damage", "unclosed-string", "--damage", "missing-bracket", "--damage-after", "3", "--revoke-tokens-every", "1h",
		"--aggregate-lag", "3", "--withhold-page", "isMfaRegistered eq true@2", "--withhold-page", "@3:10"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("simulate: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "graphsim serving 1 tenant(s) of 50 users") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestParseWithholdPage: FILTER@PAGE and FILTER@PAGE:N become the
// graphsim knob; the last @ splits, so a filter may hold one.
func TestParseWithholdPage(t *testing.T) {
	for _, c := range []struct {
		in   string
		want graphsim.Withhold
		ok   bool
	}{
		{"isMfaRegistered eq true@2", graphsim.Withhold{Filter: "isMfaRegistered eq true", Page: 2}, true},
		{"@3:10", graphsim.Withhold{Page: 3, Records: 10}, true},
		{"userPrincipalName eq 'a@b.example'@5:1", graphsim.Withhold{Filter: "userPrincipalName eq 'a@b.example'", Page: 5, Records: 1}, true},
		{"isAdmin eq true", graphsim.Withhold{}, false},
		{"@", graphsim.Withhold{}, false},
		{"@-1", graphsim.Withhold{}, false},
		{"@1:", graphsim.Withhold{}, false},
		{"@1:-2", graphsim.Withhold{}, false},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := parseWithholdPage(c.in)
			if (err == nil) != c.ok || got != c.want {
				t.Fatalf("parseWithholdPage(%q) = %+v, %v; want %+v, ok %v", c.in, got, err, c.want, c.ok)
			}
			var ue usageError
			if err != nil && !errors.As(err, &ue) {
				t.Errorf("error %v is not a usage error", err)
			}
		})
	}
}
