package cookbook

import (
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// families are the method families of tables.md, each a users_<family>
// column of the summary. Written out here, not taken from schemas, so the
// check does not share the code it checks.
var families = []string{"authenticator_app", "phone", "email", "security_question", "software_otp", "hardware_otp",
	"passkey", "windows_hello", "platform_credential", "temporary_access_pass", "app_password", "certificate",
	"external", "unknown"}

// expectedSummarySQL computes registration_daily_summary from
// user_registration_details and user_auth_methods, by the contract of
// tables.md: one row per (snapshot_date, tenant_id); a count counts users
// whose flag IS TRUE; a share is count / users, NULL when the count is
// NULL or users is 0; the beta report has no member/guest, MFA capable,
// passwordless or admin counts (NULL).
func expectedSummarySQL(dir string) string {
	const beta = "'credentialUserRegistrationDetails'"
	count := func(cond string) string { return "count(*) FILTER (WHERE " + cond + ")" }
	v1Only := func(expr string) string {
		return "CASE WHEN any_value(source) = " + beta + " THEN NULL ELSE " + expr + " END"
	}
	bySource := func(v1, b string) string {
		return "CASE WHEN any_value(source) = " + beta + " THEN " + count(b) + " ELSE " + count(v1) + " END"
	}
	counts := [][2]string{
		{"members", v1Only(count("user_type = 'member'"))},
		{"guests", v1Only(count("user_type = 'guest'"))},
		{"mfa_registered", count("is_mfa_registered")},
		{"mfa_capable", v1Only(count("is_mfa_capable"))},
		{"sspr_registered", bySource("is_sspr_registered", "is_registered")},
		{"sspr_enabled", bySource("is_sspr_enabled", "is_enabled")},
		{"sspr_capable", bySource("is_sspr_capable", "is_capable")},
		{"passwordless_capable", v1Only(count("is_passwordless_capable"))},
		{"admins", v1Only(count("is_admin"))},
		{"admins_without_mfa", v1Only(count("is_admin AND NOT coalesce(is_mfa_registered, false)"))},
		{"users_without_methods", count("auth_method_count = 0")},
	}
	var cols []string
	for _, c := range counts {
		cols = append(cols, c[1]+" AS "+c[0])
	}
	var famCols, famOut []string
	for _, f := range families {
		famCols = append(famCols, fmt.Sprintf("count(DISTINCT user_id) FILTER (WHERE method_family = '%s') AS users_%s", f, f))
		famOut = append(famOut, fmt.Sprintf("coalesce(m.users_%s, 0) AS users_%s", f, f))
	}
	var shares []string
	for _, s := range []string{"mfa_registered", "mfa_capable", "sspr_registered", "sspr_enabled", "sspr_capable", "passwordless_capable"} {
		shares = append(shares, fmt.Sprintf("CASE WHEN u.users = 0 THEN NULL ELSE u.%s / u.users END AS %s_share", s, s))
	}
	return fmt.Sprintf(`
WITH u AS (
  SELECT snapshot_date, tenant_id, any_value(source) AS source, count(*) AS users, any_value(run_id) AS run_id, %s
  FROM %s GROUP BY snapshot_date, tenant_id
),
m AS (
  SELECT snapshot_date, tenant_id, count(*) AS method_rows, %s
  FROM %s GROUP BY snapshot_date, tenant_id
)
SELECT u.*, coalesce(m.method_rows, 0) AS method_rows, %s, %s
FROM u LEFT JOIN m USING (snapshot_date, tenant_id)`,
		strings.Join(cols, ",\n  "), table(dir, "user_registration_details"),
		strings.Join(famCols, ",\n  "), table(dir, "user_auth_methods"),
		strings.Join(famOut, ", "), strings.Join(shares, ", "))
}

// checkSummary holds every row of registration_daily_summary to the
// aggregates DuckDB computes from the snapshot itself, column by column,
// and wants one summary row for every snapshot and none more.
func checkSummary(t *testing.T, db *sql.DB, h *history) {
	want := mustQuery(t, db, expectedSummarySQL(h.dir))
	got := mustQuery(t, db, "SELECT * FROM "+table(h.dir, "registration_daily_summary"))
	key := func(r row) string { return fmt.Sprint(r["snapshot_date"], " ", r["tenant_id"]) }
	byKey := map[string]row{}
	for _, r := range got {
		if _, dup := byKey[key(r)]; dup {
			t.Errorf("summary: two rows for %s", key(r))
		}
		byKey[key(r)] = r
	}
	if len(want) != len(h.slices) {
		t.Fatalf("the snapshots hold %d slices, the history published %d", len(want), len(h.slices))
	}
	if len(got) != len(want) {
		t.Errorf("summary has %d rows, want one per snapshot: %d", len(got), len(want))
	}
	var cols []string
	for c := range want[0] {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	bad := 0
	for _, w := range want {
		g, ok := byKey[key(w)]
		if !ok {
			t.Errorf("summary: no row for %s", key(w))
			continue
		}
		for _, c := range cols {
			if _, has := g[c]; !has {
				t.Errorf("summary: no column %s", c)
				continue
			}
			if !same(g[c], w[c]) {
				bad++
				if bad <= 20 {
					t.Errorf("summary %s: %s = %v, the snapshot says %v", key(w), c, g[c], w[c])
				}
			}
		}
	}
	if bad > 20 {
		t.Errorf("… %d differences in all", bad)
	}
	if len(cols) < 30 {
		t.Errorf("checked only %d columns", len(cols))
	}
}
