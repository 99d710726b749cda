package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newConfigCmd is `credreg config`; its check subcommand is being built.
func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check credreg's configuration", Args: noArgs}
	cmd.AddCommand(&cobra.Command{Use: "check", Short: "Validate the configuration without calling Graph", Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return errors.New("credreg config check: not built yet") }})
	return cmd
}
