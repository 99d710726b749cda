package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/credreg/credreg/schemas"
)

// schemaFormats are the --format values of credreg schema, the default first.
var schemaFormats = []string{"text", "arrow", "bigquery"}

func newSchemaCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "schema [table]",
		Short: "Print the warehouse tables (text, Arrow JSON or BigQuery JSON) and the schema version",
		Long: `Print the warehouse tables and the schema version recorded in every
manifest and Parquet file; with a table name, only that table.

Formats:
  text      one line per column: name, Arrow type, NULL or NOT NULL, description
  arrow     {"schema_version": …, "tables": {name: schema}}, each schema in the
            JSON form of Arrow's integration format ({"fields": [{"name",
            "nullable", "type", "children"}], "metadata": [{"key", "value"}]})
  bigquery  {"schema_version": …, "tables": {name: {"fields", "partitioning",
            "clustering"}}}, fields as bq mk --schema and the API accept them`,
		Example: `  credreg schema
  credreg schema --format arrow user_auth_methods
  credreg schema --format bigquery rejected_records | jq .tables.rejected_records.fields > schema.json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("schema takes at most one table name, got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSchema(cmd.OutOrStdout(), format, args)
		},
	}
	cmd.Flags().StringVar(&format, "format", schemaFormats[0], "output format: "+strings.Join(schemaFormats, ", "))
	return cmd
}

func runSchema(w io.Writer, format string, args []string) error {
	// The Parquet tables, then load_runs, which only BigQuery has.
	tables := schemas.BigQueryTables()
	if format == "arrow" {
		tables = schemas.Tables
	}
	if len(args) == 1 {
		i := slices.IndexFunc(tables, func(t *schemas.Table) bool { return t.Name == args[0] })
		if i < 0 {
			names := make([]string, len(tables))
			for i, t := range tables {
				names[i] = t.Name
			}
			return usagef("unknown table %q (tables: %s)", args[0], strings.Join(names, ", "))
		}
		tables = tables[i : i+1]
	}
	switch format {
	case "arrow":
		return writeSchemaJSON(w, tables, func(t *schemas.Table) any { return t.ArrowJSON() })
	case "bigquery":
		return writeSchemaJSON(w, tables, func(t *schemas.Table) any { return t.BigQueryTable() })
	case "text":
		fmt.Fprintf(w, "schema version %s\n", schemas.Version)
		for _, t := range tables {
			fmt.Fprintf(w, "\n%s — %s\n", t.Name, t.Description)
			for _, c := range t.Columns {
				null := "NOT NULL"
				if c.Nullable {
					null = "NULL"
				}
				fmt.Fprintf(w, "  %-34s %-28s %-8s %s\n", c.Name, c.Type, null, c.Description)
			}
		}
		return nil
	}
	return usagef("--format %q: want one of %s", format, strings.Join(schemaFormats, ", "))
}

// writeSchemaJSON prints {"schema_version": …, "tables": {name: form(table)}}.
func writeSchemaJSON(w io.Writer, tables []*schemas.Table, form func(*schemas.Table) any) error {
	ts := make(map[string]any, len(tables))
	for _, t := range tables {
		ts[t.Name] = form(t)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"schema_version": schemas.Version, "tables": ts})
}
