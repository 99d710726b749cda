package graphsim

import (
	"testing"

	"github.com/credreg/credreg/schemas"
)

// TestCatalogAgreesWithGraphsim holds the client's schemas catalog and
// report paths to graphsim's own table and literal paths, written
// separately from Microsoft's documentation: a wrong catalog entry for a
// value graphsim serves, or a wrong path, fails here instead of being
// served back to the client that shares it.
func TestCatalogAgreesWithGraphsim(t *testing.T) {
	for _, e := range vocabulary {
		for _, v := range []string{e.value, e.beta} {
			if v == "" {
				continue // the beta report has no name for it
			}
			m, known := schemas.LookupMethod(v)
			if v == unknownMethod {
				if known {
					t.Errorf("%s: graphsim serves it as a value the catalog does not know, but the catalog knows it", v)
				}
				continue
			}
			if !known || m.UsableForMFA != e.mfa || m.UsableForSSPR != e.sspr {
				t.Errorf("%s: catalog says known=%v MFA=%v SSPR=%v; graphsim's table (from Microsoft's docs) says MFA=%v SSPR=%v",
					v, known, m.UsableForMFA, m.UsableForSSPR, e.mfa, e.sspr)
			}
		}
	}
	if len(reports) != len(schemas.Endpoints) {
		t.Fatalf("graphsim serves %d reports, schemas knows %d", len(reports), len(schemas.Endpoints))
	}
	for _, rep := range reports {
		if got := rep.endpoint.Path(); got != rep.path {
			t.Errorf("%s: schemas path %q, Graph's is %q", rep.endpoint, got, rep.path)
		}
	}
}
