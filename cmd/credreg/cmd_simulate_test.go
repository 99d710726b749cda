package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
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
		"--damage", "unclosed-string", "--damage", "missing-bracket", "--damage-after", "3", "--revoke-tokens-every", "1h"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("simulate: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "graphsim serving 1 tenant(s) of 50 users") {
		t.Errorf("output:\n%s", out.String())
	}
}
