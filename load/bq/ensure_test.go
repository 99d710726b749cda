package bq

import (
	"errors"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"

	"github.com/credreg/credreg/schemas"
)

// existing is the schema BigQuery reports for a table created from t,
// changed by f. Its own literals for types, as BigQuery spells them.
func existing(t *schemas.Table, f func(bigquery.Schema) bigquery.Schema) bigquery.Schema {
	var s bigquery.Schema
	for _, c := range t.BigQuery() {
		s = append(s, &bigquery.FieldSchema{Name: c.Name, Type: bigquery.FieldType(c.Type), Description: c.Description,
			Required: c.Mode == "REQUIRED", Repeated: c.Mode == "REPEATED"})
	}
	if f != nil {
		s = f(s)
	}
	return s
}

func TestReconcile(t *testing.T) {
	users := schemas.UserRegistrationDetailsTable
	byName := func(s bigquery.Schema, name string) *bigquery.FieldSchema {
		for _, f := range s {
			if f.Name == name {
				return f
			}
		}
		return nil
	}
	without := func(name string) func(bigquery.Schema) bigquery.Schema {
		return func(s bigquery.Schema) bigquery.Schema {
			var out bigquery.Schema
			for _, f := range s {
				if f.Name != name {
					out = append(out, f)
				}
			}
			return out
		}
	}
	tests := []struct {
		name  string
		have  bigquery.Schema
		added string                       // column the update appends
		check func(bigquery.Schema) string // "" when the updated schema is right
		err   *IncompatibleError
	}{
		{name: "same", have: existing(users, nil)},
		{name: "type spelled the standard SQL way", have: existing(users, func(s bigquery.Schema) bigquery.Schema {
			byName(s, "auth_method_count").Type = "INT64"
			byName(s, "is_admin").Type = "BOOL"
			return s
		})},
		{name: "name in other case", have: existing(users, func(s bigquery.Schema) bigquery.Schema {
			byName(s, "user_type").Name = "User_Type"
			return s
		})},
		{name: "nullable column missing", have: existing(users, without("last_updated_at")), added: "last_updated_at"},
		{name: "repeated column missing", have: existing(users, without("system_preferred_methods")), added: "system_preferred_methods"},
		{name: "description changed", have: existing(users, func(s bigquery.Schema) bigquery.Schema {
			byName(s, "source").Description = "old words"
			return s
		}), check: func(s bigquery.Schema) string {
			if f := byName(s, "source"); f == nil || f.Description != users.Columns[5].Description {
				return "source keeps its old description"
			}
			return ""
		}},
		{name: "type changed", have: existing(users, func(s bigquery.Schema) bigquery.Schema {
			byName(s, "auth_method_count").Type = "STRING"
			return s
		}), err: &IncompatibleError{Table: users.Name, Column: "auth_method_count", Want: "INTEGER REQUIRED", Have: "STRING REQUIRED"}},
		{name: "mode changed", have: existing(users, func(s bigquery.Schema) bigquery.Schema {
			byName(s, "user_type").Required = true
			return s
		}), err: &IncompatibleError{Table: users.Name, Column: "user_type", Want: "STRING NULLABLE", Have: "STRING REQUIRED"}},
		{name: "required column missing", have: existing(users, without("run_id")),
			err: &IncompatibleError{Table: users.Name, Column: "run_id", Want: "STRING REQUIRED"}},
		{name: "column removed from schemas", have: existing(users, func(s bigquery.Schema) bigquery.Schema {
			return append(s, &bigquery.FieldSchema{Name: "legacy", Type: "STRING"})
		}), err: &IncompatibleError{Table: users.Name, Column: "legacy", Have: "STRING NULLABLE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, errs := reconcile(users, tt.have)
			if tt.err != nil {
				var ie *IncompatibleError
				if len(errs) != 1 || !errors.As(errs[0], &ie) || *ie != *tt.err || next != nil {
					t.Fatalf("reconcile = %v, %v; want only %+v", next, errs, tt.err)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("unexpected errors %v", errs)
			}
			if tt.added == "" && tt.check == nil {
				if next != nil {
					t.Fatalf("an update of a table that matches: %v", next)
				}
				return
			}
			if next == nil {
				t.Fatal("no update")
			}
			if len(next) != len(users.Columns) {
				t.Errorf("updated schema has %d fields, want %d", len(next), len(users.Columns))
			}
			if tt.added != "" && next[len(next)-1].Name != tt.added {
				t.Errorf("last field %s, want %s appended", next[len(next)-1].Name, tt.added)
			}
			if tt.check != nil {
				if msg := tt.check(next); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

func TestIncompatibleErrorSaysWhatToDo(t *testing.T) {
	for _, e := range []*IncompatibleError{
		{Table: "user_registration_details", Column: "auth_method_count", Want: "INTEGER REQUIRED", Have: "STRING REQUIRED"},
		{Table: "user_registration_details", Column: "run_id", Want: "STRING REQUIRED"},
		{Table: "user_registration_details", Column: "legacy", Have: "STRING NULLABLE"},
	} {
		msg := e.Error()
		for _, want := range []string{"table " + e.Table, e.Column, e.Want, e.Have, "drop it", "load its history again", "schema version " + schemas.Version} {
			if !strings.Contains(msg, want) {
				t.Errorf("%q does not say %q", msg, want)
			}
		}
	}
}
