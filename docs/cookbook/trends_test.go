package cookbook

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildCredreg builds the product binary, as a user gets it, from the main
// module (two folders up), into a temporary folder.
func buildCredreg(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "credreg")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/credreg")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/credreg: %v\n%s", err, out)
	}
	return bin
}

// checkTrends runs `credreg trends --format json` on the history and holds
// its numbers to a direct DuckDB query over user_registration_details:
// one line per snapshot, none for the missed night (which it names on
// stderr), and a rising MFA share over the 30 days.
func checkTrends(t *testing.T, db *sql.DB, h *history) {
	bin := buildCredreg(t)
	last := firstDay.AddDate(0, 0, days-1).Format("2006-01-02")
	cmd := exec.Command(bin, "trends", "--warehouse", h.dir, "--format", "json",
		"--from", firstDay.Format("2006-01-02"), "--to", last)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("credreg trends: %v\n%s", err, stderr.String())
	}
	got := map[string]map[string]any{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		d := json.NewDecoder(strings.NewReader(sc.Text()))
		d.UseNumber()
		var obj map[string]any
		if err := d.Decode(&obj); err != nil {
			t.Fatalf("a line that is not a JSON object: %v: %s", err, sc.Text())
		}
		k := fmt.Sprint(obj["snapshot_date"], " ", obj["tenant_id"])
		if _, dup := got[k]; dup {
			t.Errorf("two lines for %s", k)
		}
		got[k] = obj
	}

	want := mustQuery(t, db, `SELECT snapshot_date, tenant_id, count(*) AS users,
  count(*) FILTER (WHERE is_mfa_registered) AS mfa_registered,
  count(*) FILTER (WHERE is_mfa_registered) / count(*) AS mfa_registered_share,
  count(*) FILTER (WHERE CASE source WHEN 'credentialUserRegistrationDetails' THEN is_registered ELSE is_sspr_registered END) AS sspr_registered,
  count(*) FILTER (WHERE CASE source WHEN 'credentialUserRegistrationDetails' THEN is_registered ELSE is_sspr_registered END) / count(*) AS sspr_registered_share
FROM `+table(h.dir, "user_registration_details")+` GROUP BY ALL ORDER BY tenant_id, snapshot_date`)
	if len(got) != len(want) {
		t.Errorf("credreg trends printed %d lines, the warehouse has %d snapshots", len(got), len(want))
	}
	var shares []float64 // of evolvingTenant's v1.0 snapshots, in date order
	for _, w := range want {
		k := fmt.Sprint(w["snapshot_date"], " ", w["tenant_id"])
		g, ok := got[k]
		if !ok {
			t.Errorf("credreg trends has no line for %s", k)
			continue
		}
		for _, col := range []string{"users", "mfa_registered", "mfa_registered_share", "sspr_registered", "sspr_registered_share"} {
			n, ok := g[col].(json.Number)
			if !ok {
				t.Errorf("%s: %s is %v, not a number", k, col, g[col])
				continue
			}
			var v any
			if strings.HasSuffix(col, "_share") {
				v, _ = n.Float64()
			} else {
				v, _ = n.Int64()
			}
			if !same(v, w[col]) {
				t.Errorf("%s: credreg trends says %s = %v, DuckDB over the snapshot %v", k, col, v, w[col])
			}
		}
		if w["tenant_id"] == evolvingTenant && w["snapshot_date"].(string) >= firstDay.AddDate(0, 0, betaDays).Format("2006-01-02") {
			shares = append(shares, w["mfa_registered_share"].(float64))
		}
	}
	if len(shares) != 30 {
		t.Fatalf("%d v1.0 snapshots of %s, want 30", len(shares), evolvingTenant)
	}
	mean := func(s []float64) float64 {
		var sum float64
		for _, v := range s {
			sum += v
		}
		return sum / float64(len(s))
	}
	if first, last := mean(shares[:7]), mean(shares[len(shares)-7:]); !(last > first) || !(shares[len(shares)-1] > shares[0]) {
		t.Errorf("the MFA share does not rise over the 30 days: first week %.4f, last week %.4f (%v)", first, last, shares)
	}
	gap := missedDay.Format("2006-01-02")
	if _, ok := got[gap+" "+evolvingTenant]; ok || !strings.Contains(stderr.String(), gap) {
		t.Errorf("the missed night %s: a line %v, stderr %q: want no line and the day named", gap, ok, stderr.String())
	}
}
