package bq

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/credreg/credreg/schemas"
)

// sliceHash identifies one table's load of one run into one slice of one
// dataset (scope, "project.dataset": job ids are per project, and a run
// loaded into one dataset is not loaded into another). The readable parts
// of the names below are for people looking at the job history; the hash
// is what makes them unique, whatever characters a run id holds.
func sliceHash(scope, table string, key schemas.Key, runID string) string {
	h := sha256.Sum256([]byte(scope + "\x00" + table + "\x00" + key.DateString() + "\x00" + key.Tenant + "\x00" + runID))
	return hex.EncodeToString(h[:8])
}

// loadJobID is the deterministic id of the n-th (1-based) load job of a
// table's file for (date, tenant, run): a retried run finds the id taken
// and attaches to that job instead of loading again. n grows only when the
// job's staging table is gone (dropped after a failed swap), so that the
// load must run again. Job ids allow letters, digits, _ and -, up to 1024.
func loadJobID(scope, table string, key schemas.Key, runID string, n int) string {
	id := fmt.Sprintf("credreg_load_%s_%s_%s_%s", table, strings.ReplaceAll(key.DateString(), "-", ""),
		idPart(key.Tenant, 64), sliceHash(scope, table, key, runID))
	if n > 1 {
		id += fmt.Sprintf("_%d", n)
	}
	return id
}

// swapJobID is the deterministic id of the n-th (1-based) swap
// transaction of (date, tenant, run): every commit attempt is a job of its
// own, and a run tried again finds whether one of them already committed.
func swapJobID(scope string, key schemas.Key, runID string, n int) string {
	return fmt.Sprintf("credreg_swap_%s_%s_%s_%d", strings.ReplaceAll(key.DateString(), "-", ""),
		idPart(key.Tenant, 64), sliceHash(scope, "", key, runID), n)
}

// stagingTable is the name of the staging table a table's file is loaded
// into for (date, tenant, run). Table names allow letters, digits and _.
func stagingTable(scope, table string, key schemas.Key, runID string) string {
	return fmt.Sprintf("credreg_staging_%s_%s_%s", table, strings.ReplaceAll(key.DateString(), "-", ""),
		sliceHash(scope, table, key, runID))
}

// idPart keeps the letters, digits and _ of s (others become _), at most n
// bytes of them.
func idPart(s string, n int) string {
	b := []byte(s)
	if len(b) > n {
		b = b[:n]
	}
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
