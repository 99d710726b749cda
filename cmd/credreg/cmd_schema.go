package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/credreg/credreg/schemas"
)

func newSchemaCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "schema [table]",
		Short: "Print the warehouse tables (Arrow or BigQuery JSON form) and the schema version",
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
	cmd.Flags().StringVar(&format, "format", "text", "text (Arrow types) or bigquery (the JSON schema bq accepts)")
	return cmd
}

func runSchema(w io.Writer, format string, args []string) error {
	tables := schemas.Tables
	if len(args) == 1 {
		t, ok := schemas.TableByName(args[0])
		if !ok {
			names := make([]string, len(schemas.Tables))
			for i, t := range schemas.Tables {
				names[i] = t.Name
			}
			return usagef("unknown table %q (tables: %s)", args[0], strings.Join(names, ", "))
		}
		tables = []*schemas.Table{t}
	}
	switch format {
	case "bigquery":
		out := map[string]any{"schema_version": schemas.Version}
		ts := map[string]any{}
		for _, t := range tables {
			ts[t.Name] = map[string]any{"fields": t.BigQuery(), "partitioning": schemas.ColSnapshotDate, "clustering": t.Clustering}
		}
		out["tables"] = ts
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
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
	return usagef("--format %q: want text or bigquery", format)
}
