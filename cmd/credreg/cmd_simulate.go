package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/credreg/credreg/graphsim"
)

// simulateOptions are the flags of `credreg simulate`.
type simulateOptions struct {
	Addr           string
	CAOut          string
	Tenants        []string
	Users          int
	Seed           int64
	Date           string
	ClientID       string
	TokenLifetime  time.Duration
	NoThrottle     bool
	EmptyPageEvery int
	Latency        time.Duration
	BadRecords     int
	Faults         graphsim.Faults
	logOptions
}

func (o *simulateOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", "127.0.0.1:8443", "listen address (loopback by default)")
	f.StringVar(&o.CAOut, "ca-out", filepath.Join(os.TempDir(), "credreg-graphsim-ca.pem"), "write the simulator's CA certificate (PEM) here, for SSL_CERT_FILE")
	f.StringArrayVar(&o.Tenants, "tenant", []string{graphsim.DefaultTenantID}, "tenant id to simulate (repeatable)")
	f.IntVar(&o.Users, "users", 5000, "users per tenant on --date (or the day it starts); the population grows 0.03 % a day after it")
	f.Int64Var(&o.Seed, "seed", 1, "seed of the generated data and faults")
	f.StringVar(&o.Date, "date", "", "serve the tenants as on this day, YYYY-MM-DD (default: the real date)")
	f.StringVar(&o.ClientID, "client-id", graphsim.DefaultClientID, "client id the token endpoint accepts; the secret is CREDREG_SIM_CLIENT_SECRET or the demo secret")
	f.DurationVar(&o.TokenLifetime, "token-lifetime", time.Hour, "lifetime of issued access tokens")
	f.BoolVar(&o.NoThrottle, "no-throttle", false, "do not enforce Graph's request limits (5/10 s per tenant, 122/10 s per app)")
	f.IntVar(&o.EmptyPageEvery, "empty-page-every", 4, "serve every Nth page empty (negative: never)")
	f.DurationVar(&o.Latency, "latency", 0, "time each page takes to build, ±20 % (real Graph: 1-5 s)")
	f.IntVar(&o.BadRecords, "bad-records-after", -1, "serve one bad record of every kind (see the data contract) after this user index; negative: none")
	f.Float64Var(&o.Faults.Throttle, "fault-429", 0, "probability of an extra 429 per report request")
	f.Float64Var(&o.Faults.Unavailable, "fault-503", 0, "probability of a 503")
	f.Float64Var(&o.Faults.Reset, "fault-reset", 0, "probability of a connection reset mid-body")
	f.Float64Var(&o.Faults.Truncate, "fault-truncate", 0, "probability of a truncated body")
	f.Float64Var(&o.Faults.Unauthorized, "fault-401", 0, "probability of a spurious 401")
	o.logOptions.AddFlags(cmd)
}

func newSimulateCmd() *cobra.Command {
	var o simulateOptions
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Serve a simulated Entra tenant over HTTPS (token endpoint and both reports)",
		Long: `Serve graphsim: a simulated Entra ID tenant speaking Microsoft Graph's protocol over
TLS, with a CA it generates. It answers the OpenID configuration and token
endpoints azidentity uses, and both registration reports with $top, $filter,
next links, empty pages, Graph's documented throttling and optional faults.
Its users are generated from (seed, tenant, day) and evolve day by day.`,
		Example: `  credreg simulate --ca-out ca.pem &
  SSL_CERT_FILE=ca.pem AZURE_AUTHORITY_HOST=https://127.0.0.1:8443 \
    AZURE_CLIENT_ID=` + graphsim.DefaultClientID + ` AZURE_CLIENT_SECRET=` + graphsim.DefaultClientSecret + ` \
    credreg run --graph-url https://127.0.0.1:8443 --tenant ` + graphsim.DefaultTenantID,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSimulate(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

func runSimulate(ctx context.Context, o simulateOptions, stdout, stderr io.Writer) error {
	if err := o.logOptions.validate(); err != nil {
		return err
	}
	if o.Users < 0 {
		return usagef("--users must not be negative")
	}
	for _, p := range []float64{o.Faults.Throttle, o.Faults.Unavailable, o.Faults.Reset, o.Faults.Truncate, o.Faults.Unauthorized} {
		if p < 0 || p > 1 {
			return usagef("fault probabilities are between 0 and 1, got %g", p)
		}
	}
	now := time.Now
	anchor := time.Now().UTC()
	if o.Date != "" {
		day, err := time.Parse(time.DateOnly, o.Date)
		if err != nil {
			return usagef("--date %q: want YYYY-MM-DD", o.Date)
		}
		now = clockOn(day)
		anchor = day
	}
	if o.Latency < 0 {
		return usagef("--latency must not be negative")
	}
	var defects []graphsim.Defect
	if o.BadRecords >= 0 {
		defects = graphsim.AllDefects(o.BadRecords)
		if last := defects[len(defects)-1].After; last >= o.Users {
			return usagef("--bad-records-after %d: the tenants have %d users; the bad records follow users %d to %d",
				o.BadRecords, o.Users, o.BadRecords, last)
		}
	}
	tenants := make([]graphsim.Tenant, len(o.Tenants))
	for i, id := range o.Tenants {
		tenants[i] = graphsim.Tenant{ID: id, Users: o.Users, UsersOn: anchor, Defects: defects}
	}
	secret := envOr("CREDREG_SIM_CLIENT_SECRET", graphsim.DefaultClientSecret)
	log := newUI(logOptions{LogFormat: o.LogFormat, LogLevel: o.LogLevel, Progress: "none"}, stderr).logger
	sim, err := graphsim.New(graphsim.Options{
		Addr: o.Addr, Seed: o.Seed, Tenants: tenants, ClientID: o.ClientID, ClientSecret: secret,
		Now: now, TokenLifetime: o.TokenLifetime, Limits: graphsim.Limits{Disabled: o.NoThrottle},
		EmptyPageEvery: o.EmptyPageEvery, Latency: o.Latency, Faults: o.Faults, Logger: log,
	})
	if err != nil {
		return err
	}
	defer sim.Close()
	ca, err := filepath.Abs(o.CAOut)
	if err != nil {
		return usagef("--ca-out: %v", err)
	}
	if err := os.WriteFile(ca, sim.CACertPEM(), 0o644); err != nil {
		return fmt.Errorf("--ca-out: %w", err)
	}
	shownSecret := "<the value of CREDREG_SIM_CLIENT_SECRET>"
	if secret == graphsim.DefaultClientSecret {
		shownSecret = graphsim.DefaultClientSecret // the public demo secret
	}
	fmt.Fprintf(stdout, `graphsim serving %d tenant(s) of %d users at %s
Point credreg (or any Graph client) at it:
  export SSL_CERT_FILE=%s
  export CREDREG_GRAPH_URL=%s
  export AZURE_AUTHORITY_HOST=%s
  export AZURE_TENANT_ID=%s
  export AZURE_CLIENT_ID=%s
  export AZURE_CLIENT_SECRET=%s
Stop with Ctrl-C.
`, len(tenants), o.Users, sim.URL(), ca, sim.URL(), sim.URL(), tenants[0].ID, o.ClientID, shownSecret)
	<-ctx.Done()
	st := sim.Stats()
	log.Info("graphsim stopped", "requests", st.Requests, "throttled", st.Throttled, "token_requests", st.TokenRequests)
	return nil
}
