package bqtest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/credreg/credreg/schemas"
)

// realNames reads every userPrincipalName and userDisplayName the raw zone
// landed: the real names a pseudonymized warehouse keeps there, and only
// there.
func realNames(t *testing.T, raw string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	err := filepath.Walk(raw, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".json.gz") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(zr)
		if err != nil {
			return err
		}
		var page struct {
			Value []map[string]any `json:"value"`
		}
		if json.Unmarshal(body, &page) != nil {
			return nil // lookups and aggregates: not a listing
		}
		for _, r := range page.Value {
			for _, k := range []string{"userPrincipalName", "userDisplayName"} {
				if s, ok := r[k].(string); ok && s != "" {
					names[strings.ToLower(s)] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// `credreg run --pseudonymize --sink parquet,bigquery`: no real principal
// name or display name of the raw zone is in any row BigQuery holds, in any
// string column of any table, load_runs' manifests included; every
// principal name there is a pseudonym, and the days join on them.
func TestPseudonymizedRunsReachBigQueryWithoutNames(t *testing.T) {
	e := newEmulator(t)
	dir := t.TempDir()
	wh, raw := filepath.Join(dir, "warehouse"), filepath.Join(dir, "raw")
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, bytes.Repeat([]byte("k"), 40), 0o600); err != nil {
		t.Fatal(err)
	}
	// Three days of the demo tenant, which changes from day to day.
	out, code := credreg(t, e, "run", "--demo", "--demo-days", "3", "--demo-users", "300", "--warehouse", wh, "--raw", raw,
		"--pseudonymize", "--pseudonymization-key-file", key,
		"--sink", "parquet,bigquery", "--bq-project", project, "--bq-dataset", dataset)
	if code != 0 {
		t.Fatalf("run --demo-days 3 --pseudonymize: exit %d\n%s", code, out)
	}
	names := realNames(t, raw)
	if len(names) < 300 {
		t.Fatalf("%d real names in the raw zone; the check would prove little", len(names))
	}
	tables := []string{"load_runs"}
	for _, tab := range schemas.Tables {
		tables = append(tables, tab.Name)
	}
	pseudonym := regexp.MustCompile(`^hmac:[0-9a-f]{32}$`)
	for _, table := range tables {
		rows := e.query(t, fmt.Sprintf("SELECT * FROM `%s.%s`", dataset, table))
		if len(rows) == 0 && table != "rejected_records" {
			t.Errorf("%s holds no rows", table)
		}
		for _, row := range rows {
			for _, v := range row {
				s, ok := v.(string)
				if !ok {
					continue
				}
				low := strings.ToLower(s)
				if names[low] {
					t.Fatalf("%s holds a real name: %q", table, s)
				}
				if strings.Contains(low, "@") && !strings.HasPrefix(low, "{") {
					t.Errorf("%s holds %q, an address that is not a pseudonym", table, s)
				}
			}
		}
	}
	for _, table := range []string{"user_registration_details", "user_auth_methods", "registration_changes"} {
		rows := e.query(t, fmt.Sprintf("SELECT DISTINCT user_principal_name FROM `%s.%s`", dataset, table))
		for _, r := range rows {
			if !pseudonym.MatchString(r[0].(string)) {
				t.Errorf("%s.user_principal_name %q is not a pseudonym", table, r[0])
			}
		}
	}
	days := e.query(t, fmt.Sprintf("SELECT COUNT(DISTINCT snapshot_date) FROM `%s.user_registration_details`", dataset))
	split := e.query(t, fmt.Sprintf("SELECT COUNT(*) FROM (SELECT user_id FROM `%s.user_registration_details` "+
		"GROUP BY user_id HAVING COUNT(DISTINCT user_principal_name) > 1)", dataset))
	if days[0][0].(int64) != 3 || split[0][0].(int64) != 0 {
		t.Errorf("%v days; %v users with more than one pseudonym: want 3 days joining on one pseudonym per user", days[0][0], split[0][0])
	}
}
