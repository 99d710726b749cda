package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// tool names this build in manifests: "credreg v1.2.0 (1a2b3c4d5e6f)".
func tool() string { return "credreg " + pipeline.CurrentBuild().String() }

// versionText is what `credreg version` and `credreg --version` print: the
// build as debug.ReadBuildInfo knows it, and the schema version.
func versionText() string {
	b := pipeline.CurrentBuild()
	s := fmt.Sprintf("credreg %s\n  go          %s\n  schema      %s\n", b.Version, b.Go, schemas.Version)
	if b.Revision != "" {
		s += fmt.Sprintf("  revision    %s", b.Revision)
		if b.Modified {
			s += " (with uncommitted changes)"
		}
		s += "\n"
	}
	if b.Time != "" {
		s += fmt.Sprintf("  built from  a commit of %s\n", b.Time)
	}
	if b.Binary != "" {
		s += fmt.Sprintf("  binary      sha256 %s\n", b.Binary)
	}
	return s
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the build (module version, VCS revision, Go) and the schema version",
		Long: `Print what identifies this build: the module version and VCS revision that
debug.ReadBuildInfo reports (or, for a build without them, the executable's
checksum), the Go version, and the schema version of the tables it writes.
A backfill rebuilds the slices another build wrote.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := io.WriteString(cmd.OutOrStdout(), versionText())
			return err
		},
	}
}
