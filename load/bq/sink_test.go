package bq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/credreg/credreg/schemas"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Dataset != "credreg" || c.StagingExpiration != 6*time.Hour || c.CommitAttempts != 5 || c.CommitBackoff != time.Second || c.Logger == nil {
		t.Errorf("defaults: %+v", c)
	}
	set := Config{Dataset: "d", StagingExpiration: time.Hour, CommitAttempts: 2, CommitBackoff: time.Millisecond}.withDefaults()
	if set.Dataset != "d" || set.StagingExpiration != time.Hour || set.CommitAttempts != 2 || set.CommitBackoff != time.Millisecond {
		t.Errorf("set values overridden: %+v", set)
	}
}

// The options are compared by count and by what the client makes of them:
// an endpoint and whether credentials are skipped.
func TestClientOptions(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		env      string
		wantURL  string // "" for Google's
		noAuth   bool
		err      string
	}{
		{name: "Google", wantURL: ""},
		{name: "emulator from the environment", env: "localhost:9050", wantURL: "http://localhost:9050", noAuth: true},
		{name: "emulator URL in the environment", env: "http://127.0.0.1:9050", wantURL: "http://127.0.0.1:9050", noAuth: true},
		{name: "endpoint over the environment", endpoint: "http://emu:1", env: "localhost:9050", wantURL: "http://emu:1", noAuth: true},
		{name: "https endpoint keeps credentials", endpoint: "https://bigquery.example.com/", wantURL: "https://bigquery.example.com/"},
		{name: "other scheme", endpoint: "ftp://x", err: "want http://host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := Config{Endpoint: tt.endpoint}.clientOptions(func(k string) string {
				if k == EmulatorHostEnv {
					return tt.env
				}
				return ""
			})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var url string
			var noAuth bool
			for _, o := range opts {
				s := fmt.Sprintf("%T %v", o, o)
				switch {
				case strings.Contains(s, "withEndpoint"):
					url = strings.TrimPrefix(s, "option.withEndpoint ")
				case strings.Contains(s, "withoutAuthentication"):
					noAuth = true
				}
			}
			if url != tt.wantURL || noAuth != tt.noAuth {
				t.Errorf("endpoint %q, no auth %v; want %q, %v (options %v)", url, noAuth, tt.wantURL, tt.noAuth, opts)
			}
		})
	}
	extra := option.WithUserAgent("x")
	opts, _ := Config{Endpoint: "http://e", ClientOptions: []option.ClientOption{extra}}.clientOptions(func(string) string { return "" })
	if len(opts) != 3 || opts[2] != extra {
		t.Errorf("ClientOptions not added last: %v", opts)
	}
}

func TestOpenNamesTheDataset(t *testing.T) {
	s, err := Open(context.Background(), Config{Project: "p", Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.String(); got != "bigquery://p/credreg" {
		t.Errorf("String() = %q", got)
	}
}

func TestParseRunRow(t *testing.T) {
	key := schemas.Key{Date: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Tenant: "t1"}
	full := `{"schema_version":"2","status":"published","run_id":"r1","tenant_id":"t1","snapshot_date":"2026-11-27",
		"endpoint":"userRegistrationDetails","build":{"version":"v1.2.0", "go_version":"go1.26"},
		"started_at":"2026-11-27T01:00:00Z","finished_at":"2026-11-27T01:05:00.5Z",
		"counts":{"users":10,"methods":25,"rejected":1},"replayed_from":{"run_id":"raw-7","prefix":"p"}}`
	r, err := parseRunRow(key, "r1", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if r.RunID != "r1" || r.Status != "published" || r.Endpoint != "userRegistrationDetails" || r.SchemaVersion != "2" ||
		r.Users != 10 || r.Methods != 25 || r.Rejected != 1 || r.StartedAt == nil || !r.FinishedAt.Equal(time.Date(2026, 11, 27, 1, 5, 0, 5e8, time.UTC)) ||
		r.Build == nil || *r.Build != `{"version":"v1.2.0","go_version":"go1.26"}` || r.ReplayedFrom == nil || *r.ReplayedFrom != "raw-7" ||
		strings.ContainsAny(r.ManifestJSON, "\n\t") {
		t.Errorf("row %+v", r)
	}
	bare, err := parseRunRow(key, "r1", []byte(`{"run_id":"r1","build":null}`))
	if err != nil || bare.Build != nil || bare.ReplayedFrom != nil || bare.StartedAt != nil {
		t.Errorf("bare manifest: %+v, %v", bare, err)
	}
	for name, m := range map[string]string{
		"no manifest":  "",
		"not JSON":     "{",
		"other run":    `{"run_id":"r2"}`,
		"other tenant": `{"run_id":"r1","tenant_id":"t2"}`,
		"other date":   `{"run_id":"r1","snapshot_date":"2026-11-26"}`,
	} {
		if _, err := parseRunRow(key, "r1", []byte(m)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The load_runs row has a value for every column: a column added to
// load_runs and forgotten here would fail the swap.
func TestRunRowValuesCoverLoadRuns(t *testing.T) {
	key := schemas.Key{Date: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Tenant: "t"}
	if got, want := len(runRow{}.values(key)), len(schemas.LoadRunsTable.Columns); got != want {
		t.Errorf("%d values for %d load_runs columns", got, want)
	}
}

func TestSwapSQL(t *testing.T) {
	s := &Sink{cfg: Config{Project: "p", Dataset: "d"}}
	key := schemas.Key{Date: time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC), Tenant: "t'1"}
	started := time.Date(2026, 11, 27, 1, 2, 3, 456789000, time.UTC)
	row := runRow{RunID: "r1", Status: "published", Users: 3, StartedAt: &started, ManifestJSON: `{"a":"it's"}`}
	sql := s.swapSQL(key, map[string]string{"user_registration_details": "stage_u", "rejected_records": "stage_r"}, row)
	for _, want := range []string{
		"BEGIN TRANSACTION;\n",
		"DELETE FROM `p.d.user_registration_details` WHERE snapshot_date = DATE '2026-11-27' AND tenant_id = 't\\'1';",
		"DELETE FROM `p.d.user_auth_methods` WHERE snapshot_date = DATE '2026-11-27' AND tenant_id = 't\\'1';",
		"DELETE FROM `p.d.rejected_records` WHERE",
		"INSERT INTO `p.d.user_registration_details` (snapshot_date, tenant_id, user_id,",
		"FROM `p.d.stage_u`;",
		"FROM `p.d.stage_r`;",
		"INSERT INTO `p.d.load_runs` (snapshot_date, tenant_id, run_id,",
		"VALUES (DATE '2026-11-27', 't\\'1', 'r1', 'published', '', TIMESTAMP '2026-11-27 01:02:03.456789+00', NULL, 3, 0, 0, '', NULL, NULL, CURRENT_TIMESTAMP(), '{\"a\":\"it\\'s\"}');",
		"COMMIT TRANSACTION;\n",
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("swap lacks %q:\n%s", want, sql)
		}
	}
	if strings.Contains(sql, "INSERT INTO `p.d.user_auth_methods`") {
		t.Errorf("a table without a file is inserted into:\n%s", sql)
	}
	if strings.Index(sql, "DELETE FROM `p.d.user_registration_details`") > strings.Index(sql, "INSERT INTO `p.d.user_registration_details`") {
		t.Errorf("insert before delete:\n%s", sql)
	}
}

func TestStringLiteral(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `'plain'`},
		{"it's", `'it\'s'`},
		{`a\b`, `'a\\b'`},
		{"line\nnext\ttab", `'line\u000anext\u0009tab'`},
		{"é€", `'\u00e9\u20ac'`},
		{"😀", `'\U0001f600'`},
		{"\x00\x7f", `'\u0000\u007f'`},
		{`{"k":"v"}`, `'{"k":"v"}'`},
	}
	for _, tt := range tests {
		if got := stringLiteral(tt.in); got != tt.want {
			t.Errorf("stringLiteral(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestConcurrentTransaction(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("x: %w", ErrConcurrentTransaction), true},
		{&bigquery.Error{Reason: "invalidQuery", Message: "Transaction is aborted due to concurrent update against table p:d.user_auth_methods."}, true},
		{fmt.Errorf("swap: %w", &googleapi.Error{Code: 400, Message: "Could not serialize access to table p:d.t due to concurrent update"}), true},
		{bigquery.MultiError{&bigquery.Error{Message: "Transaction is aborted due to concurrent update against table t"}}, true},
		{&bigquery.Error{Reason: "invalidQuery", Message: "Syntax error"}, false},
		{errors.New("due to concurrent update"), false}, // not from BigQuery
		{context.Canceled, false},
	}
	for _, tt := range tests {
		if got := concurrentTransaction(tt.err); got != tt.want {
			t.Errorf("concurrentTransaction(%v) = %v", tt.err, got)
		}
	}
}
