package bq

import (
	"regexp"
	"testing"
	"time"

	"github.com/credreg/credreg/schemas"
)

// validName matches names of allowed characters, at most 1024 bytes long
// (BigQuery's limit for job ids and table names).
type validName string

func (v validName) MatchString(s string) bool {
	return len(s) <= 1024 && regexp.MustCompile(string(v)).MatchString(s)
}

func TestLoadJobIDs(t *testing.T) {
	key := schemas.Key{Date: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Tenant: "0b5c6c1e-3f0a-4a57-9a8e-2f0e4c1d2b3a"}
	jobIDChars := validName(`^[A-Za-z0-9_-]+$`)
	tableChars := validName(`^[A-Za-z0-9_]+$`)
	base := loadJobID("p.d", "user_auth_methods", key, "run-1", 1)
	if again := loadJobID("p.d", "user_auth_methods", key, "run-1", 1); again != base {
		t.Fatalf("job id not deterministic: %s then %s", base, again)
	}
	// A later hour of the same day is the same slice.
	later := key
	later.Date = key.Date.Add(15 * time.Hour)
	if got := loadJobID("p.d", "user_auth_methods", later, "run-1", 1); got != base {
		t.Errorf("same day, other hour: %s, want %s", got, base)
	}
	others := map[string]string{
		"table":   loadJobID("p.d", "rejected_records", key, "run-1", 1),
		"date":    loadJobID("p.d", "user_auth_methods", schemas.Key{Date: key.Date.AddDate(0, 0, 1), Tenant: key.Tenant}, "run-1", 1),
		"tenant":  loadJobID("p.d", "user_auth_methods", schemas.Key{Date: key.Date, Tenant: "other"}, "run-1", 1),
		"run":     loadJobID("p.d", "user_auth_methods", key, "run-2", 1),
		"dataset": loadJobID("p.other", "user_auth_methods", key, "run-1", 1),
		"second":  loadJobID("p.d", "user_auth_methods", key, "run-1", 2),
		// Run ids that sanitize alike must not share a job.
		"run:":  loadJobID("p.d", "user_auth_methods", key, "run:1", 1),
		"run/":  loadJobID("p.d", "user_auth_methods", key, "run/1", 1),
		"long ": loadJobID("p.d", "user_auth_methods", schemas.Key{Date: key.Date, Tenant: string(make([]byte, 300))}, "run-1", 1),
	}
	seen := map[string]string{base: "base"}
	for what, id := range others {
		if !jobIDChars.MatchString(id) {
			t.Errorf("%s: job id %q is not a valid BigQuery job id", what, id)
		}
		if prev, ok := seen[id]; ok {
			t.Errorf("%s and %s share job id %s", what, prev, id)
		}
		seen[id] = what
	}
	if !jobIDChars.MatchString(base) {
		t.Errorf("job id %q is not a valid BigQuery job id", base)
	}
	st := stagingTable("p.d", "user_auth_methods", key, "run:1")
	if !tableChars.MatchString(st) || st == stagingTable("p.d", "user_auth_methods", key, "run/1") || st != stagingTable("p.d", "user_auth_methods", key, "run:1") {
		t.Errorf("staging table %q: invalid, shared or not deterministic", st)
	}
	if id := swapJobID("p.d", key, "run:1", 1); !jobIDChars.MatchString(id) || id == swapJobID("p.d", key, "run/1", 1) ||
		id == swapJobID("p.d", key, "run:1", 2) || id != swapJobID("p.d", key, "run:1", 1) {
		t.Errorf("swap job id %q: invalid, shared or not deterministic", id)
	}
}
