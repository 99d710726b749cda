package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	Damage         []string
	DamageAfter    int
	Churn          graphsim.Churn
	RevokeEvery    time.Duration
	AggregateLag   int
	// AppAggregates403 answers the aggregates 403, as Graph documents them.
	AppAggregates403 bool
	WithholdPages    []string
	Faults           graphsim.Faults
	logOptions
}

// damageKinds() maps --damage values to graphsim's damage kinds.
func damageKinds() map[string]graphsim.DefectKind {
	return map[string]graphsim.DefectKind{
		"unclosed-string": graphsim.DamageUnclosedString,
		"missing-bracket": graphsim.DamageMissingBracket,
	}
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
	f.StringArrayVar(&o.Damage, "damage", nil, "damage the page holding user --damage-after like real truncation or a serializer bug: unclosed-string or missing-bracket (repeatable); the same bytes on every fetch")
	f.IntVar(&o.DamageAfter, "damage-after", 0, "user index the --damage records follow")
	f.Float64Var(&o.Churn.Rate, "churn-rate", 0, "share of users whose methods change once while a tenant is read (their MFA/SSPR flags flip); 0: a frozen snapshot")
	f.Float64Var(&o.Churn.Created, "churn-created", 0, "share of users created while a tenant is read")
	f.Float64Var(&o.Churn.Deleted, "churn-deleted", 0, "share of users deleted while a tenant is read")
	f.IntVar(&o.Churn.Requests, "churn-requests", 40, "spread the changes over this many report requests of each tenant's day")
	f.DurationVar(&o.RevokeEvery, "revoke-tokens-every", 0, "revoke every access token issued so far at this interval, as an admin or a CAE event would (0: never)")
	f.BoolVar(&o.AppAggregates403, "aggregates-delegated-only", false, "answer usersRegisteredByFeature/ByMethod with 403, as Microsoft documents them for delegated permissions only (an app's token may be refused)")
	f.IntVar(&o.AggregateLag, "aggregate-lag", 0, "Graph's aggregates (usersRegisteredByFeature/ByMethod) count the users as they were this many report requests earlier, as a periodically recomputed aggregate lags; only matters with --churn-*")
	f.StringArrayVar(&o.WithholdPages, "withhold-page", nil, "silently leave the user records of one page of a v1.0 listing out, next link intact: FILTER@PAGE (all of page PAGE of the listing with that exact $filter; empty FILTER for the unfiltered listing) or FILTER@PAGE:N (its first N records); repeatable")
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
next links, empty pages, Graph's documented throttling and optional faults,
and the v1.0 report's per-id lookup (.../userRegistrationDetails/{id}).
Its users are generated from (seed, tenant, day) and evolve day by day; with
--churn-* they also change while a tenant is being read, so shards on a
boolean can miss a user or list one twice. --damage serves pages broken the
way real truncation breaks them; --revoke-tokens-every revokes tokens before
they expire. It also serves Graph's own aggregates of the v1.0 report
(usersRegisteredByFeature, usersRegisteredByMethod), lagging by
--aggregate-lag requests; --withhold-page drops records of a page silently,
the loss only a check against those aggregates can see.`,
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
	for _, p := range []float64{o.Churn.Rate, o.Churn.Created, o.Churn.Deleted} {
		if p < 0 || p > 1 {
			return usagef("churn shares are between 0 and 1, got %g", p)
		}
	}
	if o.Churn.Rate+o.Churn.Deleted > 1 {
		return usagef("--churn-rate plus --churn-deleted is more than 1: a user either changes or is deleted")
	}
	if o.Churn.Requests < 1 {
		return usagef("--churn-requests %d: want at least 1", o.Churn.Requests)
	}
	if o.RevokeEvery < 0 {
		return usagef("--revoke-tokens-every must not be negative")
	}
	var defects []graphsim.Defect
	if o.BadRecords >= 0 {
		defects = graphsim.AllDefects(o.BadRecords)
		if last := defects[len(defects)-1].After; last >= o.Users {
			return usagef("--bad-records-after %d: the tenants have %d users; the bad records follow users %d to %d",
				o.BadRecords, o.Users, o.BadRecords, last)
		}
	}
	for _, name := range o.Damage {
		kind, ok := damageKinds()[name]
		if !ok {
			return usagef("--damage %q: want unclosed-string or missing-bracket", name)
		}
		if o.DamageAfter < 0 || o.DamageAfter >= o.Users {
			return usagef("--damage-after %d: the tenants have %d users", o.DamageAfter, o.Users)
		}
		defects = append(defects, graphsim.Defect{After: o.DamageAfter, Kind: kind})
	}
	if o.AggregateLag < 0 {
		return usagef("--aggregate-lag %d: want 0 or more report requests", o.AggregateLag)
	}
	var withhold []graphsim.Withhold
	for _, v := range o.WithholdPages {
		w, err := parseWithholdPage(v)
		if err != nil {
			return err
		}
		withhold = append(withhold, w)
	}
	tenants := make([]graphsim.Tenant, len(o.Tenants))
	for i, id := range o.Tenants {
		tenants[i] = graphsim.Tenant{ID: id, Users: o.Users, UsersOn: anchor, Defects: defects, Withhold: withhold}
	}
	secret := envOr("CREDREG_SIM_CLIENT_SECRET", graphsim.DefaultClientSecret)
	log := newUI(logOptions{LogFormat: o.LogFormat, LogLevel: o.LogLevel, Progress: "none"}, stderr).logger
	sim, err := graphsim.New(graphsim.Options{
		Addr: o.Addr, Seed: o.Seed, Tenants: tenants, ClientID: o.ClientID, ClientSecret: secret,
		Now: now, TokenLifetime: o.TokenLifetime, Limits: graphsim.Limits{Disabled: o.NoThrottle},
		EmptyPageEvery: o.EmptyPageEvery, Latency: o.Latency, Faults: o.Faults, Churn: o.Churn, Logger: log,
		AggregateLag: o.AggregateLag, AggregatesDelegatedOnly: o.AppAggregates403,
	})
	if err != nil {
		return err
	}
	defer sim.Close()
	ca, err := filepath.Abs(o.CAOut)
	if err != nil {
		return usagef("--ca-out: %v", err)
	}
	// A CA certificate is public, and the client that trusts it may run as
	// another user: readable by all despite credreg's umask.
	if err := os.WriteFile(ca, sim.CACertPEM(), 0o644); err != nil {
		return fmt.Errorf("--ca-out: %w", err)
	}
	if err := os.Chmod(ca, 0o644); err != nil {
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
	if o.RevokeEvery > 0 {
		go revokeEvery(ctx, sim, o.RevokeEvery)
	}
	<-ctx.Done()
	st := sim.Stats()
	log.Info("graphsim stopped", "requests", st.Requests, "throttled", st.Throttled, "token_requests", st.TokenRequests,
		"aggregates", st.Aggregates, "withheld", st.Withheld)
	return nil
}

// parseWithholdPage reads a --withhold-page value, FILTER@PAGE or
// FILTER@PAGE:N. The last @ splits, as a filter may hold one (a UPN).
func parseWithholdPage(v string) (graphsim.Withhold, error) {
	bad := func() (graphsim.Withhold, error) {
		return graphsim.Withhold{}, usagef("--withhold-page %q: want FILTER@PAGE or FILTER@PAGE:N, PAGE 1 or more, N 1 or more "+
			"(e.g. 'isMfaRegistered eq true@2', or '@3:10' for the unfiltered listing)", v)
	}
	i := strings.LastIndex(v, "@")
	if i < 0 {
		return bad()
	}
	w := graphsim.Withhold{Filter: v[:i]}
	page, records, hasN := strings.Cut(v[i+1:], ":")
	var err error
	if w.Page, err = strconv.Atoi(page); err != nil || w.Page < 1 {
		return bad()
	}
	if hasN {
		if w.Records, err = strconv.Atoi(records); err != nil || w.Records < 1 {
			return bad()
		}
	}
	return w, nil
}

// revokeEvery revokes the simulator's tokens every interval until ctx ends.
func revokeEvery(ctx context.Context, sim *graphsim.Server, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sim.RevokeTokens()
		}
	}
}
