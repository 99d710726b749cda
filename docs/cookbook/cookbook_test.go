package cookbook

import (
	"testing"
	"time"
)

// TestCookbook builds one history and checks the derived tables and the
// cookbook's queries against it: building it is most of the time.
func TestCookbook(t *testing.T) {
	start := time.Now()
	h := buildHistory(t)
	t.Logf("%d slices in %v", len(h.slices), time.Since(start).Round(time.Millisecond))
	db := openDuckDB(t)
	t.Run("summary", func(t *testing.T) { checkSummary(t, db, h) })
	t.Run("changes", func(t *testing.T) { checkChanges(t, db, h) })
	t.Run("queries", func(t *testing.T) { checkDocQueries(t, db, h) })
	t.Run("trends", func(t *testing.T) { checkTrends(t, db, h) })
}
