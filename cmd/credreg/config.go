package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/pipeline"
)

// configFile is credreg.yaml: the tenants of a run and, optionally, run
// settings that flags given on the command line override. Secrets are
// never in it, only where to find them.
//
//	endpoint: userRegistrationDetails
//	warehouse: gs://bucket?prefix=credreg/
//	sink: parquet,bigquery                   # optional; with bigquery: {project: p, dataset: credreg, location: EU}
//	tenants:
//	  - id: 8f0c…                        # the Entra tenant id (a GUID; any case, kept in lowercase)
//	    name: contoso                    # a label for logs and the summary
//	    client_id: 2b6e…
//	    client_secret_env: CONTOSO_SECRET      # one of: a variable holding the secret,
//	    client_secret_file: /run/secrets/cs    #   a file holding it,
//	    client_certificate_path: /etc/c.pem    #   a certificate (+ _password_env / _password_file),
//	    federated_token_file: /var/run/token   #   a workload identity token file
type configFile struct {
	Endpoint      string         `yaml:"endpoint"`
	Warehouse     string         `yaml:"warehouse"`
	Raw           string         `yaml:"raw"`
	GraphURL      string         `yaml:"graph_url"`
	AuthorityHost string         `yaml:"authority_host"`
	Shards        string         `yaml:"shards"`
	Sink          string         `yaml:"sink"`
	BigQuery      configBigQuery `yaml:"bigquery"`
	Tenants       []configTenant `yaml:"tenants"`
}

// configBigQuery is where --sink parquet,bigquery loads.
type configBigQuery struct {
	Project  string `yaml:"project"`
	Dataset  string `yaml:"dataset"`
	Location string `yaml:"location"`
}

type configTenant struct {
	ID                    string `yaml:"id"`
	Name                  string `yaml:"name"`
	ClientID              string `yaml:"client_id"`
	ClientSecretEnv       string `yaml:"client_secret_env"`
	ClientSecretFile      string `yaml:"client_secret_file"`
	CertificatePath       string `yaml:"client_certificate_path"`
	CertificatePassEnv    string `yaml:"client_certificate_password_env"`
	CertificatePassFile   string `yaml:"client_certificate_password_file"`
	FederatedTokenFile    string `yaml:"federated_token_file"`
	AuthorityHost         string `yaml:"authority_host"`
	SecretInline          any    `yaml:"client_secret"`
	CertificatePassInline any    `yaml:"client_certificate_password"`
}

// signIns counts the ways a tenant names to sign in; exactly one is valid.
func (t configTenant) signIns() int {
	n := 0
	for _, s := range []string{t.ClientSecretEnv, t.ClientSecretFile, t.CertificatePath, t.FederatedTokenFile} {
		if s != "" {
			n++
		}
	}
	return n
}

// settings are the keys a config may hold, for "did you mean".
var settings = []string{"endpoint", "warehouse", "raw", "graph_url", "authority_host", "shards", "sink", "bigquery",
	"project", "dataset", "location", "tenants",
	"id", "name", "client_id", "client_secret_env", "client_secret_file", "client_certificate_path",
	"client_certificate_password_env", "client_certificate_password_file", "federated_token_file"}

var (
	yamlLine         = regexp.MustCompile(`line (\d+)`)
	yamlUnknownField = regexp.MustCompile(`field (.*) not found in type`)
)

// yamlError makes one line of a yaml error that repeats nothing from the
// file but line numbers and the names of real settings: a secret pasted in
// the wrong place must not end up in a scheduler's log.
func yamlError(err error) string {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		where := "the file"
		if l := yamlLine.FindStringSubmatch(m); l != nil {
			where = "line " + l[1]
		}
		var what string
		switch {
		case yamlUnknownField.MatchString(m):
			what = "an unknown setting"
			if near := nearestSetting(yamlUnknownField.FindStringSubmatch(m)[1]); near != "" {
				what += " (did you mean " + near + "?)"
			}
		case strings.Contains(m, "cannot unmarshal"):
			what = "a value of the wrong kind (a tenant list, a tenant's settings, or text where expected)"
		case strings.Contains(m, "already defined"), strings.Contains(m, "already set"):
			what = "a setting given twice"
		default:
			what = "not valid YAML"
		}
		out = append(out, where+": "+what)
	}
	return strings.Join(out, "; ")
}

// nearestSetting is the real setting name within two edits of name, or "".
func nearestSetting(name string) string {
	for _, s := range settings {
		if editDistance(name, s) <= 2 {
			return s
		}
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// loadConfig reads and checks a config file. Secret references are
// resolved here, so a missing variable or file fails before any request.
func loadConfig(path string) (*configFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--config: %v", err)
	}
	var c configFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, usagef("--config %s: the file is empty", path)
		}
		return nil, usagef("--config %s: %s", path, yamlError(err))
	}
	if len(c.Tenants) == 0 {
		return nil, usagef("--config %s: no tenants (want a list under tenants:, each with id and client_id)", path)
	}
	for i, t := range c.Tenants {
		label := t.Name
		if label == "" {
			label = fmt.Sprintf("tenants[%d]", i)
		}
		if t.SecretInline != nil || t.CertificatePassInline != nil {
			return nil, usagef("--config %s: %s holds a secret in the file; put it in an environment variable (client_secret_env, client_certificate_password_env) or a file (client_secret_file, client_certificate_password_file) and name that instead", path, label)
		}
		if t.ID == "" {
			return nil, usagef("--config %s: %s has no id (the Entra tenant id)", path, label)
		}
		id, err := tenantID(fmt.Sprintf("--config %s: %s", path, label), t.ID)
		if err != nil {
			return nil, err
		}
		c.Tenants[i].ID = id
		if t.ClientID == "" {
			return nil, usagef("--config %s: %s has no client_id", path, label)
		}
		if n := t.signIns(); n != 1 {
			return nil, usagef("--config %s: %s needs exactly one of client_secret_env, client_secret_file, client_certificate_path, federated_token_file (has %d)", path, label, n)
		}
	}
	return &c, nil
}

// tenantSources resolves the config's secret references into credentials.
// A tenant from the config uses only what the config says: no AZURE_*
// variable fills a gap, so one tenant never signs in with another's secret.
func (c *configFile) tenantSources(getenv func(string) string) ([]pipeline.TenantSource, error) {
	out := make([]pipeline.TenantSource, len(c.Tenants))
	for i, t := range c.Tenants {
		src := pipeline.TenantSource{ID: t.ID, Name: t.Name}
		label := src.Label()
		secret, err := secretRef(label, "client_secret", t.ClientSecretEnv, t.ClientSecretFile, getenv)
		if err != nil {
			return nil, err
		}
		pass, err := secretRef(label, "client_certificate_password", t.CertificatePassEnv, t.CertificatePassFile, getenv)
		if err != nil {
			return nil, err
		}
		authority := t.AuthorityHost
		if authority == "" {
			authority = c.AuthorityHost
		}
		src.Credential = extract.CredentialOptions{
			ClientID: t.ClientID, ClientSecret: secret, CertificatePath: t.CertificatePath, CertificatePass: pass,
			FederatedToken: t.FederatedTokenFile, AuthorityHost: authority,
			Getenv: func(name string) string {
				if name == "AZURE_AUTHORITY_HOST" {
					return getenv(name)
				}
				return ""
			},
		}
		if _, err := extract.NewCredential(t.ID, src.Credential); err != nil {
			return nil, usagef("tenant %s: %v", label, err)
		}
		out[i] = src
	}
	return out, nil
}

// secretRef reads a secret from the variable or file the config names.
// Errors name the reference, never the value.
func secretRef(tenant, what, env, file string, getenv func(string) string) (string, error) {
	switch {
	case env != "" && file != "":
		return "", usagef("tenant %s: give %s_env or %s_file, not both", tenant, what, what)
	case env != "":
		v := getenv(env)
		if v == "" {
			return "", usagef("tenant %s: %s_env names $%s, which is not set", tenant, what, env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", usagef("tenant %s: %s_file: %v", tenant, what, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", usagef("tenant %s: %s_file %s is empty", tenant, what, file)
		}
		return v, nil
	}
	return "", nil
}
