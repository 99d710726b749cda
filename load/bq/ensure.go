package bq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/bigquery"

	"github.com/credreg/credreg/schemas"
)

// IncompatibleError reports an existing table whose column credreg cannot
// bring to its schema in place. Want and Have are "TYPE MODE" (INTEGER
// REQUIRED); Want is "" for a column credreg no longer writes, Have "" for
// one the table lacks.
type IncompatibleError struct{ Table, Column, Want, Have string }

func (e *IncompatibleError) Error() string {
	const todo = "copy the table aside (bq cp) and drop it, so that credreg creates it again, " +
		"then load its history again from the Parquet warehouse (a backfill into BigQuery)"
	switch {
	case e.Have == "":
		return fmt.Sprintf("bq: table %s lacks column %s (%s) of schema version %s, and BigQuery adds only NULLABLE columns to an existing table: %s",
			e.Table, e.Column, e.Want, schemas.Version, todo)
	case e.Want == "":
		return fmt.Sprintf("bq: table %s has column %s (%s), which schema version %s no longer has: %s",
			e.Table, e.Column, e.Have, schemas.Version, todo)
	}
	return fmt.Sprintf("bq: table %s column %s is %s, but schema version %s has %s, and BigQuery cannot change a column's type or mode in place: %s",
		e.Table, e.Column, e.Have, schemas.Version, e.Want, todo)
}

// bigquerySchema is the table's BigQuery schema as the client takes it.
func bigquerySchema(t *schemas.Table) bigquery.Schema {
	fields := t.BigQuery()
	out := make(bigquery.Schema, len(fields))
	for i, f := range fields {
		out[i] = &bigquery.FieldSchema{Name: f.Name, Type: bigquery.FieldType(f.Type), Description: f.Description,
			Required: f.Mode == "REQUIRED", Repeated: f.Mode == "REPEATED"}
	}
	return out
}

// typeMode is a field's "TYPE MODE", with the API's legacy type names,
// which BigQuery reports whichever name a table was created with.
func typeMode(f *bigquery.FieldSchema) string {
	t := strings.ToUpper(string(f.Type))
	switch t {
	case "INT64":
		t = "INTEGER"
	case "BOOL":
		t = "BOOLEAN"
	case "FLOAT64":
		t = "FLOAT"
	}
	mode := "NULLABLE"
	switch {
	case f.Repeated:
		mode = "REPEATED"
	case f.Required:
		mode = "REQUIRED"
	}
	return t + " " + mode
}

// reconcile compares an existing table's schema with the table's and
// returns the schema to update it to (nil when nothing is to change), or
// the columns it cannot change. New NULLABLE (or REPEATED) columns are
// appended; descriptions follow schemas.
func reconcile(t *schemas.Table, have bigquery.Schema) (bigquery.Schema, []error) {
	want := bigquerySchema(t)
	var errs []error
	changed := false
	next := make(bigquery.Schema, 0, len(want))
	for _, h := range have {
		i := fieldIndex(want, h.Name)
		if i < 0 {
			errs = append(errs, &IncompatibleError{Table: t.Name, Column: h.Name, Have: typeMode(h)})
			continue
		}
		w := want[i]
		if typeMode(h) != typeMode(w) {
			errs = append(errs, &IncompatibleError{Table: t.Name, Column: w.Name, Want: typeMode(w), Have: typeMode(h)})
			continue
		}
		f := *h
		if f.Description != w.Description {
			f.Description, changed = w.Description, true
		}
		next = append(next, &f)
	}
	for _, w := range want {
		if fieldIndex(have, w.Name) >= 0 {
			continue
		}
		if w.Required {
			errs = append(errs, &IncompatibleError{Table: t.Name, Column: w.Name, Want: typeMode(w)})
			continue
		}
		next, changed = append(next, w), true
	}
	if len(errs) > 0 || !changed {
		return nil, errs
	}
	return next, nil
}

// fieldIndex finds a column by name as BigQuery does, ignoring case.
func fieldIndex(s bigquery.Schema, name string) int {
	for i, f := range s {
		if strings.EqualFold(f.Name, name) {
			return i
		}
	}
	return -1
}

// Ensure creates the dataset (in Location) and every table of
// schemas.BigQueryTables() when missing: day-partitioned on snapshot_date,
// clustered per Table.Clustering, descriptions from schemas. An existing
// table missing a new NULLABLE column gets it added (and descriptions that
// changed are updated); any other difference (type, mode, a removed
// column) is an *IncompatibleError naming table, column and what to do,
// returned before anything is changed (errors.As finds it; there is one
// per column, joined). Then the views of the common questions (views.go)
// are created, or replaced when their query changed.
func (s *Sink) Ensure(ctx context.Context) error {
	ds := s.dataset()
	_, err := ds.Metadata(ctx)
	missing := isNotFound(err)
	if err != nil && !missing {
		return fmt.Errorf("bq: read dataset %s: %w", s, err)
	}
	type update struct {
		t          *schemas.Table
		schema     bigquery.Schema // nil: unchanged
		clustering bool            // the clustering columns changed
		etag       string
	}
	var creates []*schemas.Table
	var updates []update
	var incompatible []error
	for _, t := range schemas.BigQueryTables() {
		if missing {
			creates = append(creates, t)
			continue
		}
		md, err := ds.Table(t.Name).Metadata(ctx)
		switch {
		case isNotFound(err):
			creates = append(creates, t)
			continue
		case err != nil:
			return fmt.Errorf("bq: read table %s of %s: %w", t.Name, s, err)
		}
		next, errs := reconcile(t, md.Schema)
		incompatible = append(incompatible, errs...)
		reclustered := md.Clustering == nil || !slices.Equal(md.Clustering.Fields, t.Clustering)
		if next != nil || reclustered {
			updates = append(updates, update{t, next, reclustered, md.ETag})
		}
		if p := md.TimePartitioning; p == nil || p.Field != schemas.ColSnapshotDate {
			s.cfg.Logger.Warn("BigQuery table is not partitioned on snapshot_date: every slice swap scans it whole",
				"table", t.Name, "dataset", s.String())
		}
	}
	if len(incompatible) > 0 {
		return errors.Join(incompatible...)
	}

	if missing {
		err := ds.Create(ctx, &bigquery.DatasetMetadata{Location: s.cfg.Location,
			Description: "credreg: Entra ID credential registration snapshots, one slice per (snapshot_date, tenant_id)."})
		if err != nil && !isAlreadyExists(err) {
			return fmt.Errorf("bq: create dataset %s in %q: %w", s, s.cfg.Location, err)
		}
		s.cfg.Logger.Info("BigQuery dataset created", "dataset", s.String(), "location", s.cfg.Location)
	}
	if err := s.locate(ctx); err != nil {
		return err
	}
	for _, t := range creates {
		md := &bigquery.TableMetadata{
			Description:      t.Description,
			Schema:           bigquerySchema(t),
			TimePartitioning: &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: schemas.ColSnapshotDate},
			Clustering:       &bigquery.Clustering{Fields: t.Clustering},
		}
		if err := ds.Table(t.Name).Create(ctx, md); err != nil && !isAlreadyExists(err) {
			return fmt.Errorf("bq: create table %s of %s: %w", t.Name, s, err)
		}
		s.cfg.Logger.Info("BigQuery table created", "table", t.Name, "dataset", s.String())
	}
	for _, u := range updates {
		// The etag makes the update fail rather than overwrite a schema
		// someone changed since it was read.
		// A new clustering applies to the rows written from now on;
		// BigQuery reclusters the rest in the background.
		var change bigquery.TableMetadataToUpdate
		if u.schema != nil {
			change.Schema = u.schema
		}
		if u.clustering {
			change.Clustering = &bigquery.Clustering{Fields: u.t.Clustering}
		}
		if _, err := ds.Table(u.t.Name).Update(ctx, change, u.etag); err != nil {
			return fmt.Errorf("bq: update the schema or clustering of table %s of %s: %w", u.t.Name, s, err)
		}
		s.cfg.Logger.Info("BigQuery table updated", "table", u.t.Name, "dataset", s.String(),
			"schema", u.schema != nil, "clustering", u.clustering)
	}
	return s.ensureViews(ctx)
}
