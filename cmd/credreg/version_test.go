package main

import (
	"context"
	"strings"
	"testing"

	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// `credreg version` and `--version` say which build this is as a backfill
// tells builds apart, and the schema version.
func TestVersion(t *testing.T) {
	b := pipeline.CurrentBuild()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := credregCmd(context.Background(), nil, args...).Output()
		if err != nil {
			t.Fatalf("credreg %v: %v", args, err)
		}
		for _, want := range []string{"credreg " + b.Version, "schema      " + schemas.Version, "go          " + b.Go} {
			if !strings.Contains(string(out), want) {
				t.Errorf("credreg %v does not say %q:\n%s", args, want, out)
			}
		}
		// The test binary carries no VCS revision: its checksum names it.
		if b.Revision == "" && (b.Binary == "" || !strings.Contains(string(out), b.Binary)) {
			t.Errorf("credreg %v does not give the binary's checksum %q:\n%s", args, b.Binary, out)
		}
	}
}
