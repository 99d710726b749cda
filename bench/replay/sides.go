package main

import (
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// mainTables are the two tables both sides write, whose row counts must
// agree.
var mainTables = []string{"user_registration_details", "user_auth_methods"}

// buildCredreg builds the product binary as a user would: plain `go build`,
// no flags, no experiment.
func buildCredreg(repo, bin string) error {
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/credreg")
	cmd.Dir = repo
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/credreg in %s: %w", repo, err)
	}
	return nil
}

// credregReplay runs `credreg backfill` over rawDir into the new warehouse
// wh, exactly as a user would, and counts what it wrote.
func credregReplay(self, bin, rawDir, wh string, day time.Time) (result, error) {
	if err := os.MkdirAll(wh, 0o755); err != nil {
		return result{}, err
	}
	r, err := timed(self, bin, "backfill", "--from", day.Format(time.DateOnly), "--warehouse", wh, "--raw", rawDir)
	if err != nil {
		return r, fmt.Errorf("credreg backfill: %w", err)
	}
	return counted(r, wh, func(table string) string {
		return filepath.Join(wh, table, "*", "*", "*.parquet")
	})
}

// duckdbChild runs this binary with -duckdb-child, so DuckDB's wall time
// and peak RSS are its own.
func duckdbChild(self, jsonDir, out string) (result, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return result{}, err
	}
	r, err := timed(self, self, "-duckdb-child", "-json", jsonDir, "-out", out)
	if err != nil {
		return r, fmt.Errorf("duckdb side: %w", err)
	}
	return counted(r, out, func(table string) string { return filepath.Join(out, table+".parquet") })
}

// counted adds the output folder's size and each main table's rows, read
// back with DuckDB (in this process, after the timed child ended).
func counted(r result, dir string, glob func(table string) string) (result, error) {
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			r.bytes += info.Size()
		}
		return err
	})
	if err != nil {
		return r, err
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return r, err
	}
	defer db.Close()
	r.counts = map[string]int64{}
	for _, t := range mainTables {
		var n int64
		if err := db.QueryRow(fmt.Sprintf("SELECT count(*) FROM read_parquet(%s)", quote(glob(t)))).Scan(&n); err != nil {
			return r, fmt.Errorf("counting %s: %w", t, err)
		}
		r.counts[t] = n
	}
	return r, nil
}

// duckdbReplay is the DuckDB side: what a data engineer would write. The
// users are read once into a temporary table, then each table is one COPY.
func duckdbReplay(jsonDir, out string) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	pages := quote(filepath.Join(jsonDir, "*", "page-*.json"))
	stmts := []string{
		`CREATE TEMP TABLE u AS
		 SELECT regexp_extract(filename, '([^/]+)/page-[0-9]+\.json$', 1) AS tenant_id, unnest(value) AS r
		 FROM read_json(` + pages + `, filename = true, maximum_object_size = 268435456)`,
		`COPY (SELECT current_date AS snapshot_date, tenant_id, r.id AS user_id,
		   r.userPrincipalName AS user_principal_name, nullif(r.userDisplayName, '') AS user_display_name,
		   'userRegistrationDetails' AS source, r.userType AS user_type, r.isAdmin AS is_admin,
		   r.isMfaRegistered AS is_mfa_registered, r.isMfaCapable AS is_mfa_capable,
		   r.isSsprRegistered AS is_sspr_registered, r.isSsprEnabled AS is_sspr_enabled,
		   r.isSsprCapable AS is_sspr_capable, r.isPasswordlessCapable AS is_passwordless_capable,
		   r.isSystemPreferredAuthenticationMethodEnabled AS is_system_preferred_auth_enabled,
		   nullif(r.userPreferredMethodForSecondaryAuthentication, '') AS default_mfa_method,
		   r.systemPreferredAuthenticationMethods AS system_preferred_methods,
		   r.lastUpdatedDateTime::TIMESTAMPTZ AS last_updated_at,
		   len(r.methodsRegistered) AS auth_method_count
		 FROM u) TO ` + quote(filepath.Join(out, mainTables[0]+".parquet")) + ` (FORMAT parquet, COMPRESSION zstd)`,
		`COPY (SELECT current_date AS snapshot_date, tenant_id, r.id AS user_id,
		   r.userPrincipalName AS user_principal_name, 'userRegistrationDetails' AS source,
		   unnest(r.methodsRegistered) AS auth_method
		 FROM u) TO ` + quote(filepath.Join(out, mainTables[1]+".parquet")) + ` (FORMAT parquet, COMPRESSION zstd)`,
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			return fmt.Errorf("%s: %w", strings.Fields(s)[0], err)
		}
	}
	return nil
}

// quote is a SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// summary is one side over its runs.
type summary struct {
	best, median, rssMiB float64
	cpu                  float64 // median CPU seconds
	bytes                int64
	counts               map[string]int64
}

// summarize takes the median wall and CPU time (and the best wall), the largest peak
// RSS, and the first run's bytes and counts (every run writes the same).
func summarize(rs []result) summary {
	walls, cpus := make([]float64, len(rs)), make([]float64, len(rs))
	s := summary{bytes: rs[0].bytes, counts: rs[0].counts}
	for i, r := range rs {
		walls[i], cpus[i] = r.wall, r.cpu
		s.rssMiB = max(s.rssMiB, r.rssMiB)
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	s.cpu = cpus[len(cpus)/2]
	s.best, s.median = walls[0], walls[len(walls)/2]
	return s
}
