package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// runOptions are the flags of `credreg run`.
type runOptions struct {
	Endpoint       string
	Tenants        []string
	Config         string
	GraphURL       string
	Date           string
	Warehouse      string
	Raw            string
	Shards         string
	TenantRate     string
	AppRate        string
	Concurrency    int
	PageSize       int
	MaxAttempts    int
	RetryBudget    int
	MaxRejectRatio float64
	MaxRejects     int64
	Demo           bool
	DemoUsers      int
	DemoTenants    int
	DemoDays       int
	AllowEmpty     bool
	Force          bool
	LockWait       time.Duration
	MaxLookups     int
	MaxDrift       float64
	StrictAggs     bool
	sinkOptions
	logOptions
	privacyOptions
	workerOptions
	metricsFlags
	memoryOptions
	// changed says whether a flag was given on the command line, so the
	// config file fills only the others. nil means none was (tests).
	changed func(name string) bool
	// afterStep is deps.afterStep: nil but in the kill test.
	afterStep func(point string)
	// demoAnchor is the day the demo tenants have --demo-users users;
	// zero: the run's day. --demo-days keeps one anchor for every day, so
	// the days differ as the simulated tenant evolves (runDemoDays).
	demoAnchor time.Time
}

func (o *runOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Endpoint, "endpoint", string(schemas.UserRegistrationDetails),
		"report to read: userRegistrationDetails (v1.0, needs Entra ID P1/P2) or credentialUserRegistrationDetails (beta, deprecated)")
	var tenants []string
	if t := os.Getenv("AZURE_TENANT_ID"); t != "" {
		tenants = []string{t}
	}
	f.StringSliceVar(&o.Tenants, "tenant", tenants, "Entra tenant id; repeat (or separate with commas) for several tenants sharing AZURE_CLIENT_ID (env AZURE_TENANT_ID)")
	f.StringVar(&o.Config, "config", "", "YAML file listing tenants, each with its client id and a secret reference (see README); flags override its settings")
	f.StringVar(&o.GraphURL, "graph-url", envOr("CREDREG_GRAPH_URL", extract.DefaultGraphURL), "Microsoft Graph base URL (env CREDREG_GRAPH_URL)")
	f.StringVar(&o.Date, "date", "", "snapshot date YYYY-MM-DD (default today, UTC)")
	f.StringVar(&o.Warehouse, "warehouse", "./warehouse", "where snapshots go: a local path or a blob URL (file://, gs://, azblob://, mem://)")
	f.StringVar(&o.Raw, "raw", "", "where raw pages go, as received (default <warehouse>/_raw)")
	o.sinkOptions.AddFlags(f)
	o.privacyOptions.AddFlags(f)
	f.StringVar(&o.Shards, "shards", "auto", "split each tenant's listing into $filter shards read side by side: auto (4), off, or 2, 4, 8, 16")
	f.StringVar(&o.TenantRate, "tenant-rate", "5/10s", "requests allowed per tenant, as N/window (Graph's documented limit for reports)")
	f.StringVar(&o.AppRate, "app-rate", "122/10s", "requests allowed across all tenants, as N/window (Graph's documented limit per app); with --worker-count, each worker takes 1/N of it")
	o.workerOptions.AddFlags(f)
	f.IntVar(&o.Concurrency, "concurrency", 0, "tenants read at once (default: enough to keep the app-wide limit busy)")
	f.IntVar(&o.PageSize, "page-size", extract.MaxPageSize, "users per page ($top), 1 to 999: the largest costs the fewest requests")
	f.IntVar(&o.MaxAttempts, "max-attempts", 10, "attempts per page before a tenant fails")
	f.IntVar(&o.RetryBudget, "retry-budget", 1000, "retries allowed per tenant over the whole run")
	f.Float64Var(&o.MaxRejectRatio, "max-reject-ratio", pipeline.DefaultBudget().MaxRejectRatio, "largest share of records that may be rejected; over it the slice is not published (exit status 4)")
	f.Int64Var(&o.MaxRejects, "max-rejects", -1, "largest number of rejected records (negative: no limit by count)")
	f.BoolVar(&o.Demo, "demo", false, "run against an in-process simulated tenant (graphsim); needs no credentials")
	f.IntVar(&o.DemoUsers, "demo-users", 5000, "users in each --demo tenant")
	f.IntVar(&o.DemoTenants, "demo-tenants", 1, "tenants in the --demo run")
	f.IntVar(&o.DemoDays, "demo-days", 1, "with --demo: fill the warehouse with the last N days, oldest first, each a run of its own day (a history for credreg trends)")
	f.BoolVar(&o.AllowEmpty, "allow-empty", false, "publish a snapshot even when Graph returns no users (by default that fails with exit status 4 and keeps the previous snapshot)")
	f.DurationVar(&o.LockWait, "lock-wait", 0, "when another run is writing a slice of this run, wait this long for it (e.g. 10m); 0: fail at once with exit status 7")
	f.IntVar(&o.MaxLookups, "max-lookups", pipeline.DefaultMaxLookups, "users missing from a sharded listing that are looked up by id, at most; the rest are reported unconfirmed (0: none)")
	f.Float64Var(&o.MaxDrift, "max-aggregate-drift", pipeline.DefaultMaxAggregateDrift, "largest difference from Graph's own counts (usersRegisteredByFeature/ByMethod), as a share of its users, that passes without a warning")
	f.BoolVar(&o.StrictAggs, "strict-aggregates", false, "a difference from Graph's own counts over --max-aggregate-drift fails the tenant (exit status 4) instead of warning")
	f.BoolVar(&o.Force, "force", false, "with a past --date whose slice exists: replace it with today's data anyway (Graph only serves today's state)")
	o.metricsFlags.AddFlags(f)
	o.memoryOptions.AddFlags(f)
	o.logOptions.AddFlags(cmd)
	o.changed = func(name string) bool { return f.Changed(name) }
}

// defaultRunOptions are the options of `credreg run` with no flag given.
func defaultRunOptions() runOptions {
	var o runOptions
	o.AddFlags(&cobra.Command{})
	o.changed = nil
	return o
}

func newRunCmd(d deps) *cobra.Command {
	o := runOptions{afterStep: d.afterStep}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Take one snapshot of each tenant's registration report",
		Long: `Take one snapshot per tenant: page through the report with $top=999 (split into
$filter shards read side by side), land every page in the raw zone, explode each
user's methods into rows, and publish the day's slice of user_registration_details,
user_auth_methods and rejected_records atomically, then its manifest. Running the
same date again replaces that slice. Tenants run side by side under one throttle
that keeps the whole process within Graph's limits; one failing tenant does not
stop the others (exit status 3).

Many tenants can be spread over several workers, e.g. the tasks of a Kubernetes
Indexed Job or a Cloud Run job, each run with the same config and its own
--worker-index of --worker-count (read from JOB_COMPLETION_INDEX and
CREDREG_WORKER_COUNT, or CLOUD_RUN_TASK_INDEX and CLOUD_RUN_TASK_COUNT, when no
flag gives them). Each worker takes the tenants a stable hash of their id gives
it, and floor(N/workers) of the --app-rate of N requests (at least 1), so that
together they keep within Graph's app-wide limit; the per-tenant rate is the
same (a tenant is on one worker). A worker that no tenant falls to exits 0.

Credentials come the azidentity way: AZURE_TENANT_ID, AZURE_CLIENT_ID and one of
AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE;
AZURE_AUTHORITY_HOST for another authority. Extra CAs: SSL_CERT_FILE. For tenants
with their own app registrations, list them in --config.

One process writes a slice at a time: a run finding another writing one of its
slices fails at once with exit status 7, naming it, or waits up to --lock-wait.
A run killed at any point leaves each slice whole, old or new; the next run of
the slice finishes or undoes the interrupted publish first.

Graph serves the report only as it is now: a past --date labels today's data
with that date, so it is refused for a slice that exists unless --force.

A slice with more rejected records than --max-reject-ratio / --max-rejects allow
is not published; its rejected records and manifest go to
<warehouse>/_failed/run_id=<run>/ for inspection (exit status 4).`,
		Example: `  credreg run --demo
  credreg run --demo --demo-tenants 20 --demo-users 2000
  credreg run --tenant "$AZURE_TENANT_ID" --warehouse 'gs://my-bucket?prefix=credreg/'
  credreg run --config credreg.yaml --shards 8
  credreg run --config credreg.yaml --worker-index 0 --worker-count 3
  credreg run --endpoint credentialUserRegistrationDetails --date 2026-11-27`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			restore, err := o.memoryOptions.apply(os.Getenv)
			if err != nil {
				return err
			}
			defer restore()
			return runDemoDays(cmd.Context(), o, time.Now(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// runPlan is a run's checked settings: everything a flag or the config
// can get wrong is found before the first request.
type runPlan struct {
	endpoint   schemas.Endpoint
	day        time.Time
	shards     int
	limits     extract.Limits
	retry      extract.RetryPolicy
	budget     pipeline.ErrorBudget
	tenants    []pipeline.TenantSource
	fromConfig bool
	// worker is this process's share of a run spread over several
	// workers; limits.App is then its share of appRate, --app-rate.
	worker  worker
	appRate int
}

// plan checks the options and merges the config file into them.
func (o *runOptions) plan(getenv func(string) string) (*runPlan, error) {
	if err := o.logOptions.validate(); err != nil {
		return nil, err
	}
	var cfg *configFile
	if o.Config != "" {
		if o.Demo {
			return nil, usagef("--config and --demo do not go together: the demo brings its own tenants")
		}
		var err error
		if cfg, err = loadConfig(o.Config); err != nil {
			return nil, err
		}
		o.fill(cfg)
	}
	p := &runPlan{fromConfig: cfg != nil}
	var err error
	if p.endpoint, err = schemas.ParseEndpoint(o.Endpoint); err != nil {
		return nil, usageError{err}
	}
	if p.day, err = parseDate(o.Date, time.Now()); err != nil {
		return nil, err
	}
	changed := func(name string) bool { return o.changed != nil && o.changed(name) }
	if _, err := o.sinkOptions.bigQuery(changed); err != nil {
		return nil, err
	}
	if p.shards, err = extract.ParseShards(o.Shards); err != nil {
		return nil, usageError{err}
	}
	p.limits = extract.Limits{}
	if p.limits.PerTenant, p.limits.PerTenantWindow, err = parseRate("--tenant-rate", o.TenantRate); err != nil {
		return nil, err
	}
	if p.limits.App, p.limits.AppWindow, err = parseRate("--app-rate", o.AppRate); err != nil {
		return nil, err
	}
	if p.worker, err = o.workerOptions.resolve(changed, getenv); err != nil {
		return nil, err
	}
	p.appRate, p.limits = p.limits.App, pipeline.ShareAppLimit(p.limits, p.worker.count)
	if o.Concurrency < 0 {
		return nil, usagef("--concurrency %d: want a positive count (0: automatic)", o.Concurrency)
	}
	if o.PageSize < 1 || o.PageSize > extract.MaxPageSize {
		return nil, usagef("--page-size %d: want 1 to %d", o.PageSize, extract.MaxPageSize)
	}
	if err := checkLockWait(o.LockWait); err != nil {
		return nil, err
	}
	if o.MaxAttempts < 1 {
		return nil, usagef("--max-attempts %d: want at least 1", o.MaxAttempts)
	}
	if o.RetryBudget < 1 {
		return nil, usagef("--retry-budget %d: want at least 1", o.RetryBudget)
	}
	if o.MaxLookups < 0 {
		return nil, usagef("--max-lookups %d: want 0 or more", o.MaxLookups)
	}
	if !(o.MaxDrift > 0 && o.MaxDrift < 1) {
		return nil, usagef("--max-aggregate-drift %g: want a share between 0 and 1, e.g. 0.005 for 0.5 %%", o.MaxDrift)
	}
	p.retry = extract.RetryPolicy{MaxAttempts: o.MaxAttempts, Budget: o.RetryBudget}
	p.budget = pipeline.ErrorBudget{MaxRejectRatio: o.MaxRejectRatio, MaxRejects: o.MaxRejects}
	if err := p.budget.Validate(); err != nil {
		return nil, usagef("--max-reject-ratio: %v", err)
	}
	for _, f := range []string{"tenant", "graph-url"} {
		if o.Demo && changed(f) {
			return nil, usagef("--%s and --demo do not go together: the demo serves its own tenants", f)
		}
	}
	for _, f := range []string{"demo-users", "demo-tenants", "demo-days"} {
		if !o.Demo && changed(f) {
			return nil, usagef("--%s goes with --demo", f)
		}
	}
	switch {
	case o.Demo:
		if o.DemoUsers <= 0 {
			return nil, usagef("--demo-users must be positive, got %d", o.DemoUsers)
		}
		if o.DemoTenants <= 0 || o.DemoTenants > 500 {
			return nil, usagef("--demo-tenants %d: want 1 to 500", o.DemoTenants)
		}
	case cfg != nil:
		if changed("tenant") {
			return nil, usagef("--tenant and --config do not go together: list the tenants in %s", o.Config)
		}
		if p.tenants, err = cfg.tenantSources(getenv); err != nil {
			return nil, err
		}
	default:
		if len(o.Tenants) == 0 {
			return nil, usagef("no tenant: pass --tenant or --config, or set AZURE_TENANT_ID (or try --demo)")
		}
		for _, given := range o.Tenants {
			where := fmt.Sprintf("--tenant %q", given)
			if !changed("tenant") && o.changed != nil {
				where = fmt.Sprintf("AZURE_TENANT_ID %q", given)
			}
			id, err := tenantID(where, given)
			if err != nil {
				return nil, err
			}
			t := pipeline.TenantSource{ID: id, Credential: extract.CredentialOptions{Getenv: getenv}}
			if _, err := extract.NewCredential(t.ID, t.Credential); err != nil {
				return nil, usageError{err}
			}
			p.tenants = append(p.tenants, t)
		}
	}
	if !o.Demo {
		if err := pipeline.CheckTenants(p.tenants); err != nil {
			return nil, usageError{err}
		}
	}
	return p, nil
}

// fill takes from the config file the settings no flag gave.
func (o *runOptions) fill(c *configFile) {
	set := func(flag string, dst *string, v string) {
		if v != "" && (o.changed == nil || !o.changed(flag)) {
			*dst = v
		}
	}
	set("endpoint", &o.Endpoint, c.Endpoint)
	set("warehouse", &o.Warehouse, c.Warehouse)
	set("raw", &o.Raw, c.Raw)
	set("graph-url", &o.GraphURL, c.GraphURL)
	set("shards", &o.Shards, c.Shards)
	set("sink", &o.Sink, c.Sink)
	set("bq-project", &o.BQProject, c.BigQuery.Project)
	set("bq-dataset", &o.BQDataset, c.BigQuery.Dataset)
	set("bq-location", &o.BQLocation, c.BigQuery.Location)
}

// runRun is `credreg run`; tests call it directly.
func runRun(ctx context.Context, o runOptions, stdout, stderr io.Writer) error {
	plan, err := o.plan(os.Getenv)
	if err != nil {
		return err
	}
	mx, err := o.metricsFlags.start("run", false)
	if err != nil {
		return err
	}
	mx.forWorker(plan.worker.index, plan.worker.count)
	pseudo, err := o.pseudonymizer(os.Getenv)
	if err != nil {
		return err
	}
	wh, err := openWarehouse(ctx, o.Warehouse, true)
	if err != nil {
		return err
	}
	defer wh.Close()
	raw, rawLoc, err := openRaw(ctx, o.Warehouse, o.Raw)
	if err != nil {
		return err
	}
	defer raw.Close()
	ui := newUI(o.logOptions, stderr)
	defer ui.close()
	log := ui.logger
	defer mx.finish(ctx, wh, log) // whatever the outcome
	parquet, closeSink, err := o.sinkOptions.open(ctx, wh, load.WriterOptions{LockWait: o.LockWait, Logger: log,
		AfterStep: o.afterStep}, log, o.changed, true)
	if err != nil {
		return err
	}
	defer closeSink()

	throttle := extract.NewThrottle(plan.limits)
	src := pipeline.Source{GraphURL: o.GraphURL, Throttle: throttle, Retry: plan.retry, PageSize: o.PageSize}
	if o.Demo {
		anchor := o.demoAnchor
		if anchor.IsZero() {
			anchor = plan.day
		}
		sim, tenants, err := startDemo(plan.day, anchor, o.DemoUsers, o.DemoTenants)
		if err != nil {
			return err
		}
		defer sim.Close()
		src.GraphURL = sim.URL()
		src.HTTPClient = sim.Client()
		plan.tenants = tenants
		log.Info("demo: simulated tenants started", "url", sim.URL(), "tenants", len(tenants), "users_each", o.DemoUsers)
	}
	if !plan.takeShare(log) {
		return nil // another worker takes every tenant: nothing to do
	}
	if !o.Demo {
		if err := checkPastDate(ctx, wh, plan.day, time.Now(), plan.tenants, o.Force, log); err != nil {
			return err
		}
		warnMixedCase(ctx, wh, plan.tenants, log)
	}

	if err := o.checkHistory(ctx, wh, tenantIDs(plan.tenants), pseudo); err != nil {
		return err
	}
	runID := pipeline.NewRunID(time.Now())
	failed, err := wh.Failed(runID)
	if err != nil {
		return err
	}
	defer failed.Close()
	defer failed.Prune() // the folder of a run that kept nothing there

	// The lease of each slice is taken as its tenant starts, before any
	// request; AfterStep is nil but in the kill test.
	sink := o.hooked(parquet)
	bars := newTenantBars(ui)
	res := pipeline.Run(ctx, pipeline.RunOptions{
		Tenant: pipeline.Options{
			Key: schemas.Key{Date: plan.day}, Endpoint: plan.endpoint, Source: src,
			Sink: sink, Failed: pipeline.ParquetSink{Warehouse: failed},
			Raw: raw, RawURL: rawLoc, RunID: runID, Shards: plan.shards, Budget: &plan.budget,
			Logger: log, Progress: o.progress(bars.update), Tool: tool(), AllowEmpty: o.AllowEmpty,
			History: pipeline.ParquetSink{Warehouse: wh}, MaxLookups: maxLookups(o.MaxLookups),
			MaxAggregateDrift: o.MaxDrift, StrictAggregates: o.StrictAggs, Pseudonymize: pseudo,
		},
		Tenants:     plan.tenants,
		Concurrency: o.Concurrency,
		Started:     mx.tenantStarted(bars.start),
		Finished:    mx.tenantFinished(ctx, plan.day, failed, bars.finish),
	})
	ui.close()
	if err := writeRunSummary(stdout, log, o.logOptions, res, wh.String()); err != nil {
		return err
	}
	if len(res.Failed()) > 0 && ctx.Err() == nil {
		if o.LogFormat == "json" {
			log.Info("failed tenants kept for inspection", "where", failed.String(), "run_id", runID)
		} else {
			fmt.Fprintf(stdout, "run %s: what the failed tenants read (rejected records, manifest with the error) is in %s\n",
				runID, failed.String())
		}
	}
	if err := res.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// parseRate reads N/window, e.g. 5/10s.
func parseRate(flag, s string) (int, time.Duration, error) {
	n, w, ok := strings.Cut(s, "/")
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || count < 1 {
		return 0, 0, usagef("%s %q: want requests/window, e.g. 5/10s", flag, s)
	}
	window, err := time.ParseDuration(strings.TrimSpace(w))
	if err != nil || window <= 0 {
		return 0, 0, usagef("%s %q: want requests/window, e.g. 5/10s", flag, s)
	}
	return count, window, nil
}

// startDemo starts graphsim serving day, with n tenants of users each on
// the day anchor, and returns the tenants with the demo app's credentials.
func startDemo(day, anchor time.Time, users, n int) (*graphsim.Server, []pipeline.TenantSource, error) {
	ids := make([]string, n)
	sims := make([]graphsim.Tenant, n)
	for i := range n {
		ids[i] = graphsim.TenantID(i)
		sims[i] = graphsim.Tenant{ID: ids[i], Users: users, UsersOn: anchor}
	}
	sim, err := graphsim.New(graphsim.Options{Tenants: sims, Now: clockOn(day)})
	if err != nil {
		return nil, nil, err
	}
	out := make([]pipeline.TenantSource, n)
	for i, id := range ids {
		out[i] = pipeline.TenantSource{ID: id, Credential: extract.CredentialOptions{ClientID: graphsim.DefaultClientID,
			ClientSecret: graphsim.DefaultClientSecret, AuthorityHost: sim.URL(), HTTPClient: sim.Client(),
			Getenv: func(string) string { return "" }}}
		if n > 1 {
			out[i].Name = fmt.Sprintf("demo-%02d", i+1)
		}
	}
	return sim, out, nil
}

// clockOn is a clock that runs in real time from noon (UTC) of day: the
// simulator serves that day's data and tokens still expire.
func clockOn(day time.Time) func() time.Time {
	shift := day.Add(12 * time.Hour).Sub(time.Now())
	return func() time.Time { return time.Now().Add(shift) }
}

// openError is the usage error for a location that does not open. The
// blob driver's message may quote the URL as given, user info and query
// secrets included: it is shown as load.Location shows it instead.
func openError(flag, location string, err error) error {
	msg := err.Error()
	if location != "" {
		msg = strings.ReplaceAll(msg, location, load.Location(location))
	}
	return usagef("%s: %s", flag, msg)
}

// parseDate reads --date; empty means today (UTC).
func parseDate(s string, now time.Time) (time.Time, error) {
	if s == "" {
		y, m, d := now.UTC().Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, usagef("--date %q: want YYYY-MM-DD", s)
	}
	if t.After(now.UTC()) {
		return time.Time{}, usagef("--date %s is in the future", s)
	}
	return t, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// maxLookups turns --max-lookups (0: none) into pipeline.Options.MaxLookups
// (0: the default, negative: none).
func maxLookups(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
