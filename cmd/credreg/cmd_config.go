package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
)

// newConfigCmd is `credreg config`.
func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check credreg's configuration", Args: noArgs}
	cmd.AddCommand(newConfigCheckCmd())
	return cmd
}

// newConfigCheckCmd is `credreg config check`: it takes every flag of
// `credreg run` and checks them with run's own code (runOptions.plan,
// loadConfig), so the two cannot drift apart.
func newConfigCheckCmd() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration of credreg run without calling Graph",
		Long: `Check what ` + "`credreg run`" + ` would run with the same flags, environment and config
file, without calling Graph or signing in: print each setting with its value and
where it came from (flag, env (VAR), file (PATH) or default), each tenant with
its client id and how it signs in, and whether the secret, certificate or token
file it names is there. For a run spread over several workers (--worker-count,
or the environment of an Indexed Job or a Cloud Run job), it shows this
worker's index, its share of --app-rate and the tenants it takes. Secrets are never printed: a secret shows as the
variable or file that holds it, and whether it is set or readable.

The warehouse gets the probe run makes before it asks Graph for anything: a
file written in its _staging folder and removed at once. Like run, the check
creates a local warehouse folder (and its _staging and _leases folders) when
missing; nothing else is written. BigQuery is not contacted: its flags are
checked, not its dataset.

Every problem found is listed, not only the first: each unresolved secret
reference, the warehouse, and the first wrong flag or setting (in the words
run would use). Any problem ends with exit status 2; none, with 0.

With --log-format json, stdout is one JSON object: ok, settings, tenants,
warehouse and problems.`,
		Example: `  credreg config check --config credreg.yaml
  credreg config check --config credreg.yaml --warehouse /srv/credreg --log-format json
  AZURE_CLIENT_ID=… AZURE_CLIENT_SECRET=… credreg config check --tenant "$AZURE_TENANT_ID"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfigCheck(cmd.Context(), &o, cmd.Flags(), os.Getenv, cmd.OutOrStdout())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// configReport is what config check found; with --log-format json it is
// printed as it is.
type configReport struct {
	OK        bool             `json:"ok"`
	Settings  []configSetting  `json:"settings"`
	Tenants   []configIdentity `json:"tenants"`
	Warehouse warehouseProbe   `json:"warehouse"`
	Worker    *configWorker    `json:"worker,omitempty"` // a run spread over several workers
	Problems  []string         `json:"problems"`
}

// configSetting is one flag's effective value and where it came from.
type configSetting struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// configIdentity is how one tenant signs in. Reference says where its
// secret is and whether it is there, never the secret.
type configIdentity struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	ClientID  string `json:"client_id"`
	SignIn    string `json:"sign_in"`
	Reference string `json:"reference"`
	Resolved  bool   `json:"resolved"`
	Source    string `json:"source"`
}

// warehouseProbe is what run's writability probe found; Checked is false
// when the config file did not load (the warehouse is not known).
type warehouseProbe struct {
	Location string `json:"location"`
	Checked  bool   `json:"checked"`
	Writable bool   `json:"writable"`
}

// runConfigCheck is `credreg config check`; flags are the command's, for
// their values and sources.
func runConfigCheck(ctx context.Context, o *runOptions, flags *pflag.FlagSet, getenv func(string) string, stdout io.Writer) error {
	var problems []error
	// plan is run's own check of flags, environment and file; it stops at
	// the first problem, so the checks below look again at what can be
	// wrong several times over (the tenants' references, the warehouse).
	plan, err := o.plan(getenv)
	if err != nil {
		if o.logOptions.validate() != nil {
			return err // the output format itself is unknown
		}
		problems = append(problems, err)
	}
	var cfg *configFile
	if o.Config != "" && !o.Demo {
		cfg, _ = loadConfig(o.Config) // its error, if any, is plan's
	}
	rep := configReport{Settings: configSettings(o, flags, cfg, getenv), Tenants: []configIdentity{}, Problems: []string{}}

	switch {
	case o.Demo || (o.Config != "" && cfg == nil):
		// No tenants to show: the demo brings its own; a file that does
		// not load is plan's problem.
	case cfg != nil:
		source := "file (" + o.Config + ")"
		var all []pipeline.TenantSource
		for _, t := range cfg.Tenants {
			id, tp := configTenantIdentity(t, getenv)
			id.Source = source
			rep.Tenants = append(rep.Tenants, id)
			problems = append(problems, tp...)
			one := &configFile{AuthorityHost: cfg.AuthorityHost, Tenants: []configTenant{t}}
			if _, err := one.tenantSources(getenv); err != nil {
				problems = append(problems, err)
			}
			all = append(all, pipeline.TenantSource{ID: t.ID, Name: t.Name})
		}
		if err := pipeline.CheckTenants(all); err != nil {
			problems = append(problems, usageError{err})
		}
	default:
		source := "flag"
		if !flags.Changed("tenant") {
			source = "env (AZURE_TENANT_ID)"
		}
		signIn, ref, ok, tp := envIdentity(getenv)
		problems = append(problems, tp...)
		clientID := getenv("AZURE_CLIENT_ID")
		if clientID == "" {
			clientID, ok = "NOT SET (AZURE_CLIENT_ID)", false
		}
		for _, given := range o.Tenants {
			id := given
			if lower, err := tenantID("", given); err == nil {
				id = lower
			}
			rep.Tenants = append(rep.Tenants, configIdentity{ID: id, ClientID: clientID, SignIn: signIn, Reference: ref,
				Resolved: ok, Source: source})
		}
	}

	// A config file that does not load may name another warehouse than
	// the default: probing the default would write where run never does.
	if o.Config == "" || o.Demo || cfg != nil {
		rep.Warehouse = warehouseProbe{Location: load.Location(o.Warehouse), Checked: true}
		rawLoc, err := probeWarehouse(ctx, o)
		if err != nil {
			problems = append(problems, err)
		} else {
			rep.Warehouse.Writable = true
			setValue(rep.Settings, "raw", rawLoc)
		}
	}
	if plan != nil {
		setValue(rep.Settings, "date", plan.day.Format(time.DateOnly))
		rep.Worker = plan.workerReport(rep.Settings)
	}

	problems = distinct(problems)
	for _, p := range problems {
		rep.Problems = append(rep.Problems, p.Error())
	}
	rep.OK = len(problems) == 0
	if o.LogFormat == "json" {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			return err
		}
	} else if err := rep.writeText(stdout); err != nil {
		return err
	}
	switch len(problems) {
	case 0:
		return nil
	case 1:
		return problems[0]
	}
	return usageError{fmt.Errorf("config check found %d problems:\n%w", len(problems), errors.Join(problems...))}
}

// probeWarehouse opens the warehouse and raw zone as run does and makes
// run's writability probe; its errors are run's.
// It returns the raw zone's location, as a manifest names it.
func probeWarehouse(ctx context.Context, o *runOptions) (string, error) {
	wh, err := load.OpenWarehouse(ctx, o.Warehouse)
	if err != nil {
		return "", openError("--warehouse", o.Warehouse, err)
	}
	defer wh.Close()
	if err := wh.CheckWritable(ctx); err != nil {
		return "", usagef("--warehouse: %v", err)
	}
	raw, rawLoc, err := load.OpenRaw(ctx, o.Warehouse, o.Raw)
	if err != nil {
		if o.Raw != "" {
			return "", openError("--raw", o.Raw, err)
		}
		return "", openError("--warehouse", o.Warehouse, err)
	}
	return rawLoc, raw.Close()
}

// envVarInUsage finds the variable a flag's default comes from, as its
// help says it: "(env NAME)" or "$NAME when set".
var envVarInUsage = regexp.MustCompile(`\(env ([A-Z][A-Z0-9_]*)\)|\$([A-Z][A-Z0-9_]*) when set`)

// locationFlags hold URLs that may carry credentials: shown as
// load.Location shows them.
var locationFlags = map[string]bool{"warehouse": true, "raw": true, "graph-url": true, "bq-endpoint": true}

// configSettings lists every flag with its value (after plan filled it
// from the file) and its source: flag, file, env or default.
func configSettings(o *runOptions, flags *pflag.FlagSet, cfg *configFile, getenv func(string) string) []configSetting {
	// fill asks changed only about the settings the file gives a value
	// for: asked with an always-true changed, it names them and sets
	// nothing, so the sources follow fill's own list.
	fromFile := map[string]bool{}
	if cfg != nil {
		probe := runOptions{changed: func(name string) bool { fromFile[name] = true; return true }}
		probe.fill(cfg)
	}
	var out []configSetting
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" {
			return
		}
		s := configSetting{Name: f.Name, Value: f.Value.String(), Source: "default"}
		switch {
		case f.Changed:
			s.Source = "flag"
		case fromFile[f.Name]:
			s.Source = "file (" + o.Config + ")"
		default:
			if m := envVarInUsage.FindStringSubmatch(f.Usage); m != nil {
				name := m[1] + m[2]
				if v := getenv(name); v != "" {
					s.Source = "env (" + name + ")"
					if s.Value == "" {
						s.Value = v
					}
				}
			}
		}
		if locationFlags[f.Name] && s.Value != "" {
			s.Value = load.Location(s.Value)
		}
		out = append(out, s)
	})
	return out
}

func setValue(settings []configSetting, name, value string) {
	for i := range settings {
		if settings[i].Name == name && settings[i].Value == "" {
			settings[i].Value = value
		}
	}
}

// configTenantIdentity says how a tenant of the config file signs in and
// whether its references resolve. Its problems are those run finds only
// at sign-in (a token file it cannot read); tenantSources finds the rest.
func configTenantIdentity(t configTenant, getenv func(string) string) (configIdentity, []error) {
	id := configIdentity{ID: t.ID, Name: t.Name, ClientID: t.ClientID, Resolved: true}
	var problems []error
	refs := []string{}
	add := func(ref string, ok bool) {
		refs = append(refs, ref)
		id.Resolved = id.Resolved && ok
	}
	switch {
	case t.ClientSecretEnv != "" || t.ClientSecretFile != "":
		id.SignIn = "client secret"
	case t.CertificatePath != "":
		id.SignIn = "certificate"
	case t.FederatedTokenFile != "":
		id.SignIn = "workload identity"
	}
	if t.ClientSecretEnv != "" {
		add(envRef(t.ClientSecretEnv, getenv))
	}
	if t.ClientSecretFile != "" {
		add(fileRef(t.ClientSecretFile, true))
	}
	if t.CertificatePath != "" {
		add(fileRef(t.CertificatePath, false))
	}
	if t.CertificatePassEnv != "" {
		ref, ok := envRef(t.CertificatePassEnv, getenv)
		add("password "+ref, ok)
	}
	if t.CertificatePassFile != "" {
		ref, ok := fileRef(t.CertificatePassFile, true)
		add("password "+ref, ok)
	}
	if t.FederatedTokenFile != "" {
		ref, ok := fileRef(t.FederatedTokenFile, false)
		add(ref, ok)
		if !ok {
			label := pipeline.TenantSource{ID: t.ID, Name: t.Name}.Label()
			problems = append(problems, usagef("tenant %s: federated_token_file %s", label, strings.TrimPrefix(ref, "file ")))
		}
	}
	id.Reference = strings.Join(refs, "; ")
	return id, problems
}

// envIdentity says how tenants without a config file sign in: from the
// AZURE_* variables, in extract.NewCredential's order.
func envIdentity(getenv func(string) string) (signIn, ref string, ok bool, problems []error) {
	switch {
	case getenv("AZURE_CLIENT_SECRET") != "":
		return "client secret", "env AZURE_CLIENT_SECRET, set (masked)", true, nil
	case getenv("AZURE_CLIENT_CERTIFICATE_PATH") != "":
		ref, ok := fileRef(getenv("AZURE_CLIENT_CERTIFICATE_PATH"), false)
		ref = "env AZURE_CLIENT_CERTIFICATE_PATH: " + ref
		if getenv("AZURE_CLIENT_CERTIFICATE_PASSWORD") != "" {
			ref += "; password env AZURE_CLIENT_CERTIFICATE_PASSWORD, set (masked)"
		}
		return "certificate", ref, ok, nil
	case getenv("AZURE_FEDERATED_TOKEN_FILE") != "":
		ref, ok := fileRef(getenv("AZURE_FEDERATED_TOKEN_FILE"), false)
		if !ok {
			problems = append(problems, usagef("AZURE_FEDERATED_TOKEN_FILE: %s", strings.TrimPrefix(ref, "file ")))
		}
		return "workload identity", "env AZURE_FEDERATED_TOKEN_FILE: " + ref, ok, problems
	}
	return "none", "NOT SET (AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE)", false, nil
}

// envRef says whether the variable name is set, never its value.
func envRef(name string, getenv func(string) string) (string, bool) {
	if getenv(name) == "" {
		return "env " + name + ", NOT SET", false
	}
	return "env " + name + ", set", true
}

// fileRef says whether the file at path can be read (and, for a secret,
// is not empty), never what it holds.
func fileRef(path string, secret bool) (string, bool) {
	b, err := os.ReadFile(path)
	clear(b)
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe):
		return "file " + path + ": " + pe.Err.Error(), false
	case err != nil:
		return "file " + path + ": " + err.Error(), false
	case secret && strings.TrimRight(string(b), "\r\n") == "":
		return "file " + path + ": empty", false
	}
	return "file " + path + ", readable", true
}

// distinct drops the problems found twice (plan's first one is found
// again by the per-tenant checks), keeping the first of each.
func distinct(errs []error) []error {
	seen := map[string]bool{}
	var out []error
	for _, e := range errs {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return out
}

// writeText prints the report as tables for a person.
func (r configReport) writeText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tSOURCE")
	for _, s := range r.Settings {
		v := s.Value
		if v == "" {
			v = `""`
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, v, s.Source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Tenants) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "TENANT\tCLIENT ID\tSIGN-IN\tREFERENCE\tSOURCE")
		for _, t := range r.Tenants {
			label := pipeline.TenantSource{ID: t.ID, Name: t.Name}.Label()
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", label, t.ClientID, t.SignIn, t.Reference, t.Source)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	r.Worker.writeText(w)
	switch {
	case r.Warehouse.Writable:
		fmt.Fprintf(w, "\nwarehouse %s: writable (a probe file was written in _staging and removed)\n", r.Warehouse.Location)
	case !r.Warehouse.Checked:
		fmt.Fprintln(w, "\nwarehouse: not checked (the config file did not load)")
	}
	if len(r.Problems) == 0 {
		_, err := fmt.Fprintln(w, "\nOK: credreg run would start with this configuration (Graph was not called).")
		return err
	}
	fmt.Fprintf(w, "\n%d problem(s):\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
	return nil
}
