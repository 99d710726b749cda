package load

import (
	"os"
	"strings"
	"testing"

	"github.com/credreg/credreg/internal/azurite"
)

// azuriteServer is the one Azurite the package's azblob:// tests share,
// each in containers of its own; started on first use.
var azuriteServer azurite.Shared

// TestMain points azblob:// URLs at Azurite's account for every test (the
// others ignore it), and stops Azurite once they ran.
func TestMain(m *testing.M) {
	for _, kv := range azurite.Env() {
		name, value, _ := strings.Cut(kv, "=")
		os.Setenv(name, value)
	}
	code := m.Run()
	azuriteServer.Stop()
	os.Exit(code)
}

// openAzurite opens a warehouse in a new container of the shared Azurite,
// under the folder path ("" for the container's root).
func openAzurite(t *testing.T, path string) *Warehouse {
	t.Helper()
	return openTest(t, azuriteServer.Get(t).NewContainer(t, path))
}
