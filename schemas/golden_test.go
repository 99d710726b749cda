package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/schema.golden.json from the current tables and schemas.Version")

const goldenPath = "testdata/schema.golden.json"

// goldenDoc is what the golden file records: the schema version and, per
// table, everything a warehouse or a reader depends on.
type goldenDoc struct {
	SchemaVersion string                 `json:"schema_version"`
	Tables        map[string]goldenTable `json:"tables"`
}

type goldenTable struct {
	Arrow    ArrowSchemaJSON `json:"arrow"`
	BigQuery BigQueryTable   `json:"bigquery"`
}

func currentDoc() goldenDoc {
	d := goldenDoc{SchemaVersion: Version, Tables: map[string]goldenTable{}}
	for _, t := range BigQueryTables() {
		d.Tables[t.Name] = goldenTable{Arrow: t.ArrowJSON(), BigQuery: t.BigQueryTable()}
	}
	return d
}

func (d goldenDoc) encode() []byte {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

const rerun = "go test ./schemas -run TestSchemaGolden -update"

// checkGolden compares the current schema document with the golden one
// (nil when there is none). Any change to the tables, descriptions
// included, needs a new schemas.Version: manifests and Parquet metadata
// carry the version so readers can tell one table layout from another.
func checkGolden(cur goldenDoc, golden []byte) error {
	if golden == nil {
		return fmt.Errorf("%s does not exist: run %s", goldenPath, rerun)
	}
	var old goldenDoc
	if err := json.Unmarshal(golden, &old); err != nil {
		return fmt.Errorf("%s: %v: run %s", goldenPath, err, rerun)
	}
	if old.SchemaVersion == cur.SchemaVersion {
		// The Arrow metadata carries the version, so with equal versions
		// any difference is a change to the tables themselves.
		if changed := changedTables(old, cur); len(changed) > 0 {
			return fmt.Errorf("schema changed without a version bump: %s differ from %s, and schemas.Version is still %q. "+
				"Bump schemas.Version in schemas/tables.go, then run %s", strings.Join(changed, ", "), goldenPath, cur.SchemaVersion, rerun)
		}
		if !bytes.Equal(golden, cur.encode()) {
			return fmt.Errorf("%s is not in its canonical form: run %s", goldenPath, rerun)
		}
		return nil
	}
	return fmt.Errorf("schemas.Version is %q but %s records version %q: run %s to record the new schema",
		cur.SchemaVersion, goldenPath, old.SchemaVersion, rerun)
}

// checkUpdate says whether -update may rewrite the golden file: not when
// the tables changed under the version the file already records, or the
// guard would be one flag away from approving the very change it exists
// to catch. A golden file that is missing or unreadable may be rewritten.
func checkUpdate(cur goldenDoc, golden []byte) error {
	var old goldenDoc
	if golden == nil || json.Unmarshal(golden, &old) != nil || old.SchemaVersion != cur.SchemaVersion {
		return nil
	}
	if changed := changedTables(old, cur); len(changed) > 0 {
		return fmt.Errorf("refusing to rewrite %s: %s changed, and schemas.Version is still %q as the file records. "+
			"Bump schemas.Version in schemas/tables.go, then run %s", goldenPath, strings.Join(changed, ", "), cur.SchemaVersion, rerun)
	}
	return nil
}

// changedTables names the tables, and their first changed column, that
// differ between two documents.
func changedTables(old, cur goldenDoc) []string {
	var names []string
	for name := range old.Tables {
		names = append(names, name)
	}
	for name := range cur.Tables {
		if _, ok := old.Tables[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var out []string
	for _, name := range names {
		o, inOld := old.Tables[name]
		c, inCur := cur.Tables[name]
		switch {
		case !inCur:
			out = append(out, "table "+name+" (removed)")
		case !inOld:
			out = append(out, "table "+name+" (added)")
		default:
			if ob, cb := mustJSON(o), mustJSON(c); !bytes.Equal(ob, cb) {
				out = append(out, "table "+name+firstDifference(o, c))
			}
		}
	}
	return out
}

func firstDifference(o, c goldenTable) string {
	for i := range max(len(o.BigQuery.Fields), len(c.BigQuery.Fields)) {
		switch {
		case i >= len(o.BigQuery.Fields):
			return fmt.Sprintf(" (column %s added)", c.BigQuery.Fields[i].Name)
		case i >= len(c.BigQuery.Fields):
			return fmt.Sprintf(" (column %s removed)", o.BigQuery.Fields[i].Name)
		}
		of, cf := o.BigQuery.Fields[i], c.BigQuery.Fields[i]
		if of != cf || (i < len(o.Arrow.Fields) && i < len(c.Arrow.Fields) &&
			!bytes.Equal(mustJSON(o.Arrow.Fields[i]), mustJSON(c.Arrow.Fields[i]))) {
			return fmt.Sprintf(" (column %d: %s)", i, cf.Name)
		}
	}
	return ""
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestSchemaGolden is the schema version guard: it fails when a table
// changes and schemas.Version does not.
func TestSchemaGolden(t *testing.T) {
	cur := currentDoc()
	golden, err := os.ReadFile(goldenPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if *update {
		if err := checkUpdate(cur, golden); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, cur.encode(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := checkGolden(cur, golden); err != nil {
		t.Fatal(err)
	}
}

func TestCheckGolden(t *testing.T) {
	base := currentDoc()
	// with returns a copy of base changed by f, with the version v (the
	// Arrow metadata follows the version, as newTable makes it).
	with := func(v string, f func(d *goldenDoc)) goldenDoc {
		var d goldenDoc
		if err := json.Unmarshal(base.encode(), &d); err != nil {
			t.Fatal(err)
		}
		d.SchemaVersion = v
		for name, tab := range d.Tables {
			for i, kv := range tab.Arrow.Metadata {
				if kv.Key == "credreg.schema_version" {
					tab.Arrow.Metadata[i].Value = v
				}
			}
			d.Tables[name] = tab
		}
		if f != nil {
			f(&d)
		}
		return d
	}
	users := UserRegistrationDetailsTable.Name
	retype := func(d *goldenDoc) {
		tab := d.Tables[users]
		tab.Arrow.Fields[21].Type = ArrowTypeJSON{Name: "int", BitWidth: 32, IsSigned: ptr(true)}
		tab.BigQuery.Fields[21].Type = "INTEGER"
		d.Tables[users] = tab
	}
	describe := func(d *goldenDoc) {
		tab := d.Tables[users]
		tab.BigQuery.Fields[2].Description = "changed"
		d.Tables[users] = tab
	}
	drop := func(d *goldenDoc) { delete(d.Tables, UserAuthMethodsTable.Name) }
	next := base.SchemaVersion + "-next"
	tests := []struct {
		name        string
		golden, cur goldenDoc
		noGolden    bool
		want        string // "" for no error
	}{
		{name: "unchanged", golden: base, cur: base},
		{name: "no golden file", cur: base, noGolden: true, want: "does not exist: run " + rerun},
		{name: "column type changed, same version", golden: base, cur: with(base.SchemaVersion, retype),
			want: "schema changed without a version bump: table user_registration_details (column 21: auth_method_count)"},
		{name: "description changed, same version", golden: base, cur: with(base.SchemaVersion, describe),
			want: "schema changed without a version bump: table user_registration_details (column 2: user_id)"},
		{name: "table added, same version", golden: with(base.SchemaVersion, drop), cur: base,
			want: "table user_auth_methods (added)"},
		{name: "changed and bumped", golden: base, cur: with(next, retype), want: `schemas.Version is "` + next + `" but ` + goldenPath + ` records version "` + base.SchemaVersion + `": run ` + rerun},
		{name: "bumped without a change", golden: base, cur: with(next, nil), want: "run " + rerun},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var golden []byte
			if !tt.noGolden {
				golden = tt.golden.encode()
			}
			err := checkGolden(tt.cur, golden)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want it to say %q", err, tt.want)
			}
			if strings.Contains(tt.want, "without a version bump") && !strings.Contains(err.Error(), "Bump schemas.Version") {
				t.Errorf("error %q does not tell to bump schemas.Version", err)
			}
		})
	}
}

func TestCheckUpdate(t *testing.T) {
	base := currentDoc()
	changed := func(v string) goldenDoc {
		var d goldenDoc
		if err := json.Unmarshal(base.encode(), &d); err != nil {
			t.Fatal(err)
		}
		d.SchemaVersion = v
		tab := d.Tables[UserRegistrationDetailsTable.Name]
		tab.BigQuery.Fields[2].Description = "changed"
		d.Tables[UserRegistrationDetailsTable.Name] = tab
		return d
	}
	tests := []struct {
		name   string
		golden []byte
		cur    goldenDoc
		refuse bool
	}{
		{name: "unchanged", golden: base.encode(), cur: base},
		{name: "no golden file", cur: changed(base.SchemaVersion)},
		{name: "unreadable golden file", golden: []byte("{"), cur: changed(base.SchemaVersion)},
		{name: "changed and bumped", golden: base.encode(), cur: changed(base.SchemaVersion + "-next")},
		{name: "changed, same version", golden: base.encode(), cur: changed(base.SchemaVersion), refuse: true},
		{name: "not canonical, same tables", golden: append(base.encode(), '\n'), cur: base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkUpdate(tt.cur, tt.golden)
			if (err != nil) != tt.refuse {
				t.Fatalf("checkUpdate = %v, want refusal %v", err, tt.refuse)
			}
			if tt.refuse && !strings.Contains(err.Error(), "Bump schemas.Version") {
				t.Errorf("error %q does not tell to bump schemas.Version", err)
			}
		})
	}
}
