package bqtest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"

	"github.com/credreg/credreg/load/bq"
	"github.com/credreg/credreg/schemas"
)

// allTables are the tables and views Ensure makes, by name.
var allTables = []string{"latest_user_registration_details", "load_runs", "registration_changes", "registration_daily_summary",
	"rejected_records", "user_auth_methods", "user_registration_details", "weekly_mfa_share"}

// changes lists the requests that create or change a dataset or a table.
func changes(reqs []request) []string {
	var out []string
	for _, r := range reqs {
		if r.Method != "GET" && !strings.Contains(r.Path, "/queries") && !strings.HasSuffix(r.Path, "/jobs") {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

func TestEnsureCreatesThenLeavesAlone(t *testing.T) {
	e := newEmulator(t)
	s := e.open(t, e.config())
	ctx := context.Background()
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	names := e.tableNames(t)
	slices.Sort(names)
	if !slices.Equal(names, allTables) {
		t.Fatalf("tables %v, want %v", names, allTables)
	}
	mark := e.mark()
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if ch := changes(e.requests(mark)); len(ch) > 0 {
		t.Errorf("a second Ensure changed things: %v", ch)
	}
}

// createUsersTable makes the dataset and a user_registration_details
// table as an older credreg may have made it: today's columns changed by f.
func createUsersTable(t *testing.T, e *emulator, f func(bigquery.Schema) bigquery.Schema) {
	t.Helper()
	ctx := context.Background()
	c := e.client(t)
	if err := c.Dataset(dataset).Create(ctx, &bigquery.DatasetMetadata{}); err != nil {
		t.Fatal(err)
	}
	var s bigquery.Schema
	for _, col := range schemas.UserRegistrationDetailsTable.BigQuery() {
		s = append(s, &bigquery.FieldSchema{Name: col.Name, Type: bigquery.FieldType(col.Type), Description: col.Description,
			Required: col.Mode == "REQUIRED", Repeated: col.Mode == "REPEATED"})
	}
	if err := c.Dataset(dataset).Table("user_registration_details").Create(ctx, &bigquery.TableMetadata{Schema: f(s)}); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureAddsANullableColumn(t *testing.T) {
	e := newEmulator(t)
	createUsersTable(t, e, func(s bigquery.Schema) bigquery.Schema {
		return slices.DeleteFunc(s, func(f *bigquery.FieldSchema) bool { return f.Name == "last_updated_at" })
	})
	if err := e.open(t, e.config()).Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	md, err := e.client(t).Dataset(dataset).Table("user_registration_details").Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	last := md.Schema[len(md.Schema)-1]
	if last.Name != "last_updated_at" || last.Type != bigquery.TimestampFieldType || last.Required || last.Description == "" {
		t.Errorf("last column %+v, want the nullable last_updated_at added", last)
	}
	if names := e.tableNames(t); len(names) != len(allTables) {
		t.Errorf("tables %v", names)
	}
}

func TestEnsureRefusesAnIncompatibleTable(t *testing.T) {
	e := newEmulator(t)
	createUsersTable(t, e, func(s bigquery.Schema) bigquery.Schema {
		for _, f := range s {
			if f.Name == "auth_method_count" {
				f.Type = bigquery.StringFieldType
			}
		}
		return s
	})
	before, err := e.client(t).Dataset(dataset).Table("user_registration_details").Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mark := e.mark()
	err = e.open(t, e.config()).Ensure(context.Background())
	var ie *bq.IncompatibleError
	if !errors.As(err, &ie) || ie.Table != "user_registration_details" || ie.Column != "auth_method_count" ||
		ie.Want != "INTEGER REQUIRED" || ie.Have != "STRING REQUIRED" {
		t.Fatalf("Ensure = %v, want an IncompatibleError on auth_method_count", err)
	}
	if !strings.Contains(err.Error(), "drop it") {
		t.Errorf("error %q does not say what to do", err)
	}
	if ch := changes(e.requests(mark)); len(ch) > 0 {
		t.Errorf("a refused Ensure changed things: %v", ch)
	}
	if names := e.tableNames(t); !slices.Equal(names, []string{"user_registration_details"}) {
		t.Errorf("tables %v after a refused Ensure", names)
	}
	after, err := e.client(t).Dataset(dataset).Table("user_registration_details").Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after.ETag != before.ETag || len(after.Schema) != len(before.Schema) {
		t.Errorf("the table changed: etag %s -> %s", before.ETag, after.ETag)
	}
}

// A table clustered otherwise than schemas says (an older credreg's
// order) is given today's clustering, which applies to the rows written
// from then on.
func TestEnsureReclustersAnExistingTable(t *testing.T) {
	e := newEmulator(t)
	createUsersTable(t, e, func(s bigquery.Schema) bigquery.Schema { return s }) // no clustering
	mark := e.mark()
	if err := e.open(t, e.config()).Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	md, err := e.client(t).Dataset(dataset).Table("user_registration_details").Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if md.Clustering == nil || !slices.Equal(md.Clustering.Fields, schemas.UserRegistrationDetailsTable.Clustering) {
		t.Errorf("clustering %+v after Ensure, want %v", md.Clustering, schemas.UserRegistrationDetailsTable.Clustering)
	}
	var patched bool
	for _, c := range changes(e.requests(mark)) {
		patched = patched || strings.HasSuffix(c, "/tables/user_registration_details") && !strings.HasPrefix(c, "POST")
	}
	if !patched {
		t.Errorf("Ensure sent no update of the table: %v", changes(e.requests(mark)))
	}
}
