package cookbook

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
)

// changeKind is one kind of registration_changes as tables.md defines it:
// a set difference between a tenant's consecutive snapshots P and C.
type changeKind struct {
	name string
	// set selects (tenant_id, snapshot_date, user_id, auth_method) rows of
	// one snapshot from the CTEs u (users, flags per report) and m (methods).
	set string
	// added: C EXCEPT P; else P EXCEPT C.
	added bool
}

// changeKinds is written out from tables.md, not taken from schemas: the
// check must not share the code it checks.
func changeKinds() []changeKind {
	users := "SELECT tenant_id, snapshot_date, user_id, NULL::VARCHAR AS auth_method FROM u"
	methods := "SELECT tenant_id, snapshot_date, user_id, auth_method FROM m"
	kinds := []changeKind{
		{"appeared", users, true}, {"disappeared", users, false},
		{"method_added", methods, true}, {"method_removed", methods, false},
	}
	for _, flag := range []string{"mfa_registered", "sspr_registered", "passwordless_capable", "admin"} {
		set := users + " WHERE f_" + flag // IS TRUE: a NULL flag is not true
		kinds = append(kinds, changeKind{flag + "_gained", set, true}, changeKind{flag + "_lost", set, false})
	}
	return kinds
}

// expectedChangesSQL computes registration_changes with one EXCEPT per
// kind between each snapshot and the tenant's newest earlier one (over a
// missed night too), none for a tenant's first snapshot or one whose
// previous snapshot came from the other Graph report.
func expectedChangesSQL(dir string) string {
	var parts []string
	for _, k := range changeKinds() {
		a, b := "cur", "prev"
		if !k.added {
			a, b = b, a
		}
		side := func(at string) string {
			return fmt.Sprintf("SELECT p.cur, p.tenant_id, p.prev, s.user_id, s.auth_method FROM compared AS p JOIN (%s) AS s ON s.tenant_id = p.tenant_id AND s.snapshot_date = p.%s", k.set, at)
		}
		parts = append(parts, fmt.Sprintf(`SELECT d.cur AS snapshot_date, d.tenant_id, d.prev AS previous_snapshot_date, d.user_id,
  coalesce(cu.user_principal_name, pu.user_principal_name) AS user_principal_name, '%s' AS change, d.auth_method, mf.method_family
FROM (%s EXCEPT %s) AS d
LEFT JOIN u AS cu ON cu.tenant_id = d.tenant_id AND cu.snapshot_date = d.cur AND cu.user_id = d.user_id
LEFT JOIN u AS pu ON pu.tenant_id = d.tenant_id AND pu.snapshot_date = d.prev AND pu.user_id = d.user_id
LEFT JOIN m AS mf ON mf.tenant_id = d.tenant_id AND mf.snapshot_date = d.%s AND mf.user_id = d.user_id AND mf.auth_method = d.auth_method`,
			k.name, side(a), side(b), a))
	}
	return fmt.Sprintf(`WITH u AS MATERIALIZED (
  SELECT snapshot_date, tenant_id, source, user_id, user_principal_name,
         is_mfa_registered AS f_mfa_registered,
         CASE WHEN source = 'credentialUserRegistrationDetails' THEN is_registered ELSE is_sspr_registered END AS f_sspr_registered,
         is_passwordless_capable AS f_passwordless_capable, is_admin AS f_admin
  FROM %s
),
m AS MATERIALIZED (SELECT snapshot_date, tenant_id, user_id, auth_method, method_family FROM %s),
%s
%s`, table(dir, "user_registration_details"), table(dir, "user_auth_methods"), pairsCTE, strings.Join(parts, "\nUNION ALL\n"))
}

// pairsCTE pairs each snapshot of a tenant (from u) with the newest earlier
// one; compared keeps the pairs read from the same report.
const pairsCTE = `snaps AS (SELECT DISTINCT tenant_id, snapshot_date, source FROM u),
pairs AS (
  SELECT tenant_id, snapshot_date AS cur, source,
         lag(snapshot_date) OVER w AS prev, lag(source) OVER w AS prev_source
  FROM snaps WINDOW w AS (PARTITION BY tenant_id ORDER BY snapshot_date)
),
compared AS (SELECT * FROM pairs WHERE prev IS NOT NULL AND source = prev_source)`

const changeCols = "snapshot_date, tenant_id, previous_snapshot_date, user_id, user_principal_name, change, auth_method, method_family"

// checkChanges holds registration_changes to the EXCEPTs, in both
// directions and with duplicates (EXCEPT ALL), and wants every kind to
// occur, the gap to be stepped over, and no rows for a first snapshot or
// one after a switch of report.
func checkChanges(t *testing.T, db *sql.DB, h *history) {
	// Both sides once into tables: every comparison below reads them.
	for _, q := range []string{
		fmt.Sprintf("CREATE TEMP TABLE want_changes AS SELECT %s FROM (%s)", changeCols, expectedChangesSQL(h.dir)),
		fmt.Sprintf("CREATE TEMP TABLE got_changes AS SELECT %s FROM %s", changeCols, table(h.dir, "registration_changes")),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	want, got := "SELECT * FROM want_changes", "SELECT * FROM got_changes"
	perKind := func(q string) map[string]int64 {
		out := map[string]int64{}
		for _, r := range mustQuery(t, db, "SELECT change, count(*) AS n FROM ("+q+") GROUP BY change") {
			out[r["change"].(string)] = r["n"].(int64)
		}
		return out
	}
	wantKinds := perKind(want)
	for _, k := range changeKinds() {
		if wantKinds[k.name] == 0 {
			t.Errorf("the snapshots have no %s change at all: the history does not exercise it", k.name)
		}
	}
	t.Logf("change rows per kind: %v", wantKinds)
	for _, dir := range []struct{ name, a, b string }{
		{"in registration_changes, not in the snapshots' EXCEPT", got, want},
		{"in the snapshots' EXCEPT, not in registration_changes", want, got},
	} {
		diff := mustQuery(t, db, fmt.Sprintf("(%s) EXCEPT ALL (%s) ORDER BY ALL LIMIT 10", dir.a, dir.b))
		if len(diff) > 0 {
			n := perKind(fmt.Sprintf("(%s) EXCEPT ALL (%s)", dir.a, dir.b))
			t.Errorf("%s: %v, e.g.", dir.name, n)
			for _, r := range diff {
				t.Errorf("  %v", r)
			}
		}
	}

	// The pair across the missed night, and the snapshots with no pair.
	rows := mustQuery(t, db, fmt.Sprintf(`SELECT DISTINCT previous_snapshot_date FROM %s WHERE tenant_id = ? AND snapshot_date = ?`,
		table(h.dir, "registration_changes")), evolvingTenant, missedDay.AddDate(0, 0, 1))
	if len(rows) != 1 || rows[0]["previous_snapshot_date"] != missedDay.AddDate(0, 0, -1).Format("2006-01-02") {
		t.Errorf("the day after the missed night compares with %v, want the day before it", rows)
	}
	unpaired := mustQuery(t, db, fmt.Sprintf(`WITH u AS (SELECT tenant_id, snapshot_date, source FROM %s), %s
SELECT p.tenant_id, p.cur, count(c.change) AS n
FROM pairs AS p LEFT JOIN %s AS c ON c.tenant_id = p.tenant_id AND c.snapshot_date = p.cur
WHERE p.prev IS NULL OR p.source <> p.prev_source
GROUP BY ALL ORDER BY ALL`, table(h.dir, "user_registration_details"), pairsCTE, table(h.dir, "registration_changes")))
	if len(unpaired) != 3 { // each tenant's first snapshot, and the switch from beta to v1.0
		t.Errorf("%d snapshots without a comparable previous one, want 3: %v", len(unpaired), unpaired)
	}
	for _, r := range unpaired {
		if r["n"] != int64(0) {
			t.Errorf("snapshot %s of %s has no comparable previous one, yet %v change rows", r["cur"], r["tenant_id"], r["n"])
		}
	}
}
