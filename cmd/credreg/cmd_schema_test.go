package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/credreg/credreg/schemas"
)

func TestRunSchema(t *testing.T) {
	allTables := []string{"registration_changes", "registration_daily_summary", "rejected_records",
		"user_auth_methods", "user_registration_details"}
	tests := []struct {
		name   string
		format string
		args   []string
		tables []string // table names in a JSON document; nil for text
		first  string   // the JSON form of the first field of the first table, or a line of text
	}{
		{name: "text", format: "text", first: "  snapshot_date                      date32"},
		{name: "arrow", format: "arrow", tables: allTables,
			first: `{"name":"snapshot_date","nullable":false,"type":{"name":"date","unit":"DAY"},"children":[]}`},
		{name: "arrow one table", format: "arrow", args: []string{"user_auth_methods"}, tables: []string{"user_auth_methods"},
			first: `{"name":"snapshot_date","nullable":false,"type":{"name":"date","unit":"DAY"},"children":[]}`},
		{name: "bigquery", format: "bigquery", tables: append([]string{"load_runs"}, allTables...),
			first: `{"name":"snapshot_date","type":"DATE","mode":"REQUIRED","description":"Day of the snapshot (UTC)."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := runSchema(&out, tt.format, tt.args); err != nil {
				t.Fatal(err)
			}
			if tt.tables == nil {
				if !strings.Contains(out.String(), "schema version "+schemas.Version+"\n") || !strings.Contains(out.String(), tt.first) {
					t.Errorf("text output lacks the version or %q:\n%s", tt.first, out.String())
				}
				return
			}
			var doc struct {
				SchemaVersion string `json:"schema_version"`
				Tables        map[string]struct {
					Fields       []json.RawMessage `json:"fields"`
					Metadata     []json.RawMessage `json:"metadata"`
					Partitioning string            `json:"partitioning"`
				} `json:"tables"`
			}
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
				t.Fatalf("%v in\n%s", err, out.String())
			}
			if doc.SchemaVersion != schemas.Version {
				t.Errorf("schema_version %q, want %q", doc.SchemaVersion, schemas.Version)
			}
			var names []string
			for name := range doc.Tables {
				names = append(names, name)
			}
			slices.Sort(names)
			if !slices.Equal(names, tt.tables) {
				t.Fatalf("tables %v, want %v", names, tt.tables)
			}
			for _, name := range names {
				i := slices.IndexFunc(schemas.BigQueryTables(), func(t *schemas.Table) bool { return t.Name == name })
				tab := schemas.BigQueryTables()[i]
				got := doc.Tables[name]
				if len(got.Fields) != len(tab.Columns) {
					t.Errorf("%s: %d fields for %d columns", name, len(got.Fields), len(tab.Columns))
				}
				var first bytes.Buffer
				if err := json.Compact(&first, got.Fields[0]); err != nil || first.String() != tt.first {
					t.Errorf("%s: first field %s, want %s", name, first.String(), tt.first)
				}
				if tt.format == "arrow" && len(got.Metadata) != 2 {
					t.Errorf("%s: metadata %s, want the table name and schema version", name, got.Metadata)
				}
				if tt.format == "bigquery" && got.Partitioning != schemas.ColSnapshotDate {
					t.Errorf("%s: partitioning %q", name, got.Partitioning)
				}
			}
		})
	}
}

func TestRunSchemaUsageErrors(t *testing.T) {
	tests := []struct {
		format string
		args   []string
		want   string
	}{
		{"xml", nil, `--format "xml": want one of text, arrow, bigquery`},
		{"Arrow", nil, `want one of text, arrow, bigquery`},
		{"", nil, `want one of text, arrow, bigquery`},
		{"arrow", []string{"users"}, `unknown table "users" (tables: user_registration_details, user_auth_methods, rejected_records, registration_daily_summary, registration_changes)`},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.format+" "+strings.Join(tt.args, " ")), func(t *testing.T) {
			var out bytes.Buffer
			err := runSchema(&out, tt.format, tt.args)
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v (%T), want a usage error saying %q", err, err, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("printed %q before failing", out.String())
			}
		})
	}
}

// The binary exits with the usage status and says which formats exist.
func TestSchemaCommandUnknownFormat(t *testing.T) {
	cmd := credregCmd(context.Background(), nil, "schema", "--format", "parquet")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
		t.Fatalf("exit %v, want %d; stderr:\n%s", err, exitUsage, stderr.String())
	}
	if want := `--format "parquet": want one of text, arrow, bigquery`; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing", stdout.String())
	}
}
