package main

import (
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gocloud.dev/blob"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// runOptions are the flags of `credreg run`.
type runOptions struct {
	Endpoint   string
	Tenant     string
	GraphURL   string
	Date       string
	Warehouse  string
	Raw        string
	Demo       bool
	DemoUsers  int
	AllowEmpty bool
	logOptions
}

func (o *runOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Endpoint, "endpoint", string(schemas.UserRegistrationDetails),
		"report to read: userRegistrationDetails (v1.0, needs Entra ID P1/P2) or credentialUserRegistrationDetails (beta, deprecated)")
	f.StringVar(&o.Tenant, "tenant", os.Getenv("AZURE_TENANT_ID"), "Entra tenant id (env AZURE_TENANT_ID)")
	f.StringVar(&o.GraphURL, "graph-url", envOr("CREDREG_GRAPH_URL", extract.DefaultGraphURL), "Microsoft Graph base URL (env CREDREG_GRAPH_URL)")
	f.StringVar(&o.Date, "date", "", "snapshot date YYYY-MM-DD (default today, UTC)")
	f.StringVar(&o.Warehouse, "warehouse", "./warehouse", "where snapshots go: a local path or a blob URL (file://, gs://, mem://)")
	f.StringVar(&o.Raw, "raw", "", "where raw pages go, as received (default <warehouse>/_raw)")
	f.BoolVar(&o.Demo, "demo", false, "run against an in-process simulated tenant (graphsim); needs no credentials")
	f.IntVar(&o.DemoUsers, "demo-users", 5000, "users in the --demo tenant")
	f.BoolVar(&o.AllowEmpty, "allow-empty", false, "publish a snapshot even when Graph returns no users (by default that fails with exit status 4 and keeps the previous snapshot)")
	o.logOptions.AddFlags(cmd)
}

func newRunCmd() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Take one snapshot of one tenant's registration report",
		Long: `Take one snapshot: page through the report with $top=999, land every page in the
raw zone, explode each user's methods into rows, and publish the day's slice of
user_registration_details, user_auth_methods and rejected_records atomically,
then its manifest. Running the same date again replaces that slice.

Credentials come the azidentity way: AZURE_TENANT_ID, AZURE_CLIENT_ID and one of
AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE;
AZURE_AUTHORITY_HOST for another authority. Extra CAs: SSL_CERT_FILE.`,
		Example: `  credreg run --demo
  credreg run --tenant "$AZURE_TENANT_ID" --warehouse 'gs://my-bucket?prefix=credreg/'
  credreg run --endpoint credentialUserRegistrationDetails --date 2026-11-27`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// runRun is `credreg run`; tests call it directly.
func runRun(ctx context.Context, o runOptions, stdout, stderr io.Writer) error {
	endpoint, err := schemas.ParseEndpoint(o.Endpoint)
	if err != nil {
		return usageError{err}
	}
	day, err := parseDate(o.Date, time.Now())
	if err != nil {
		return err
	}
	if err := o.logOptions.validate(); err != nil {
		return err
	}
	ui := newUI(o.logOptions, stderr)
	defer ui.close()
	log := ui.logger

	src := pipeline.Source{GraphURL: o.GraphURL, Throttle: extract.NewThrottle(extract.Limits{})}
	tenant := o.Tenant
	if o.Demo {
		sim, err := startDemo(day, o.DemoUsers)
		if err != nil {
			return err
		}
		defer sim.Close()
		tenant = graphsim.DefaultTenantID
		src.GraphURL = sim.URL()
		src.HTTPClient = sim.Client()
		src.Credential = extract.CredentialOptions{ClientID: graphsim.DefaultClientID,
			ClientSecret: graphsim.DefaultClientSecret, AuthorityHost: sim.URL(), HTTPClient: sim.Client(),
			Getenv: func(string) string { return "" }}
		log.Info("demo: simulated tenant started", "url", sim.URL(), "tenant", tenant, "users", o.DemoUsers)
	} else {
		if tenant == "" {
			return usagef("no tenant: pass --tenant or set AZURE_TENANT_ID (or try --demo)")
		}
		if _, err := extract.NewCredential(tenant, extract.CredentialOptions{}); err != nil {
			return usageError{err}
		}
		if today := time.Now().UTC().Format(time.DateOnly); day.Format(time.DateOnly) != today {
			log.Warn("Graph serves the report as it is now; this snapshot is labelled with another date",
				"date", day.Format(time.DateOnly), "today", today)
		}
	}

	wh, err := load.OpenWarehouse(ctx, o.Warehouse)
	if err != nil {
		return usagef("--warehouse: %v", err)
	}
	defer wh.Close()
	raw, rawLoc, err := openRaw(ctx, o.Warehouse, o.Raw)
	if err != nil {
		return err
	}
	defer raw.Close()

	key := schemas.Key{Date: day, Tenant: tenant}
	bar := ui.tenantBar(tenant)
	m, err := pipeline.RunTenant(ctx, pipeline.Options{
		Key: key, Endpoint: endpoint, Source: src,
		Sink: pipeline.ParquetSink{Warehouse: wh}, Raw: raw, RawURL: rawLoc,
		Logger: log, Progress: bar.update, Tool: "credreg " + version, AllowEmpty: o.AllowEmpty,
	})
	bar.finish(err)
	ui.close()
	if err != nil {
		return err
	}
	return writeSummary(stdout, log, o.logOptions, m, wh.String())
}

func startDemo(day time.Time, users int) (*graphsim.Server, error) {
	if users <= 0 {
		return nil, usagef("--demo-users must be positive, got %d", users)
	}
	return graphsim.New(graphsim.Options{
		Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: users, UsersOn: day}},
		Now:     clockOn(day),
	})
}

// clockOn is a clock that runs in real time from noon (UTC) of day: the
// simulator serves that day's data and tokens still expire.
func clockOn(day time.Time) func() time.Time {
	shift := day.Add(12 * time.Hour).Sub(time.Now())
	return func() time.Time { return time.Now().Add(shift) }
}

// openRaw opens the raw zone: --raw, or the _raw folder of the warehouse.
func openRaw(ctx context.Context, warehouse, raw string) (*blob.Bucket, string, error) {
	if raw != "" {
		b, err := load.OpenBucket(ctx, raw)
		if err != nil {
			return nil, "", usagef("--raw: %v", err)
		}
		loc := raw
		if u, err := url.Parse(raw); err == nil && u.RawQuery != "" {
			u.RawQuery = ""
			loc = u.String()
		}
		return b, loc, nil
	}
	b, err := load.OpenBucket(ctx, warehouse)
	if err != nil {
		return nil, "", usagef("--warehouse: %v", err)
	}
	return blob.PrefixedBucket(b, "_raw/"), rawLocation(warehouse), nil
}

// rawLocation names the default raw zone, <warehouse>/_raw, for the
// manifest: inside the prefix of a bucket URL, with no query parameter
// other than the prefix (a URL may carry options that are nobody's business).
func rawLocation(warehouse string) string {
	u, err := url.Parse(warehouse)
	if err != nil || !strings.Contains(warehouse, "://") {
		return filepath.Join(warehouse, "_raw")
	}
	prefix := u.Query().Get("prefix")
	u.RawQuery = ""
	if prefix != "" {
		u.RawQuery = url.Values{"prefix": {strings.TrimSuffix(prefix, "/") + "/_raw/"}}.Encode()
		return u.String()
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/_raw"
	return u.String()
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
