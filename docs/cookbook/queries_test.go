package cookbook

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// queriesDoc is the cookbook, from this module's folder.
var queriesDoc = filepath.Join("..", "queries.md")

// queryCheck checks the rows of one doc query beyond "it ran and returned
// rows": against the summary or against what the history is known to hold.
type queryCheck func(t *testing.T, rows []row, ctx *queryContext)

// queryContext is what a check may compare with.
type queryContext struct {
	db      *sql.DB
	h       *history
	latest  map[string]row // each tenant's latest registration_daily_summary row
	summary []row
}

// queryChecks has an entry for every duckdb query of the doc: a query
// without one, or an entry without a query, fails the test.
func queryChecks() map[string]queryCheck {
	return map[string]queryCheck{
		"mfa-share-by-week": func(t *testing.T, rows []row, c *queryContext) {
			for _, r := range rows {
				if !same(r["mfa_registered_share"], round4(float64(r["mfa_registered"].(int64))/float64(r["users"].(int64)))) {
					t.Errorf("share %v is not %v / %v", r["mfa_registered_share"], r["mfa_registered"], r["users"])
				}
				if n := r["snapshots"].(int64); n < 1 || n > 7 {
					t.Errorf("%d snapshots in a week", n)
				}
			}
			gapWeek := missedDay.AddDate(0, 0, -int(missedDay.Weekday()+6)%7).Format("2006-01-02")
			if r := find(rows, "tenant_id", evolvingTenant, "week", gapWeek); r == nil || r["snapshots"] != int64(6) {
				t.Errorf("the week of the missed night (%s): %v, want 6 snapshots", gapWeek, r)
			}
		},
		"method-family-adoption": func(t *testing.T, rows []row, c *queryContext) {
			if len(rows) != len(families)*len(c.summary) {
				t.Errorf("%d rows, want %d families × %d snapshots", len(rows), len(families), len(c.summary))
			}
			for _, r := range rows {
				s := find(c.summary, "snapshot_date", r["snapshot_date"], "tenant_id", r["tenant_id"])
				if s == nil || r["users_with_family"] != s["users_"+r["method_family"].(string)] {
					t.Errorf("%v: the summary says otherwise", r)
				}
			}
		},
		"users-without-mfa-30-days": func(t *testing.T, rows []row, c *queryContext) {
			// The same users found another way: in the latest snapshot, in
			// one 30 days or more before it, and in no MFA-registered row
			// of the 30 days.
			want := mustQuery(t, c.db, fmt.Sprintf(`WITH u AS (SELECT * FROM %s),
l AS (SELECT tenant_id, max(snapshot_date) AS d FROM u GROUP BY tenant_id)
SELECT u.tenant_id, u.user_id FROM u JOIN l ON u.tenant_id = l.tenant_id AND u.snapshot_date = l.d
WHERE (u.tenant_id, u.user_id) IN (SELECT (x.tenant_id, x.user_id) FROM u AS x JOIN l ON x.tenant_id = l.tenant_id WHERE x.snapshot_date <= l.d - INTERVAL 30 DAYS)
  AND (u.tenant_id, u.user_id) NOT IN (SELECT (x.tenant_id, x.user_id) FROM u AS x JOIN l ON x.tenant_id = l.tenant_id
    WHERE x.snapshot_date >= l.d - INTERVAL 30 DAYS AND x.is_mfa_registered)`, table(c.h.dir, "user_registration_details")))
			ids := func(rs []row) []string {
				var out []string
				for _, r := range rs {
					out = append(out, r["tenant_id"].(string)+" "+r["user_id"].(string))
				}
				slices.Sort(out)
				return out
			}
			if got, want := ids(rows), ids(want); !slices.Equal(got, want) {
				t.Errorf("%d users, found another way %d", len(got), len(want))
			}
		},
		"admins-without-mfa-now": countPerTenant("admins_without_mfa"),
		"admins-who-lost-mfa": func(t *testing.T, rows []row, c *queryContext) {
			for _, r := range rows {
				if r["snapshot_date"].(string) <= r["previous_snapshot_date"].(string) {
					t.Errorf("%v: previous snapshot not earlier", r)
				}
			}
		},
		"change-events-for-user": func(t *testing.T, rows []row, c *queryContext) {
			kinds := map[string]bool{}
			for _, r := range rows {
				kinds[r["change"].(string)] = true
			}
			if len(kinds) < 3 {
				t.Errorf("the user picked has %d kinds of events, want at least 3", len(kinds))
			}
		},
		"guests-vs-members": func(t *testing.T, rows []row, c *queryContext) {
			for _, s := range c.summary {
				var users int64
				for _, r := range rows {
					if r["snapshot_date"] == s["snapshot_date"] && r["tenant_id"] == s["tenant_id"] {
						users += r["users"].(int64)
						if r["user_type"] == "member" && r["users"] != s["members"] || r["user_type"] == "guest" && r["users"] != s["guests"] {
							t.Errorf("%v: the summary has %v members, %v guests", r, s["members"], s["guests"])
						}
					}
				}
				if users != s["users"] {
					t.Errorf("%s %s: %d users by type, the summary has %v", s["snapshot_date"], s["tenant_id"], users, s["users"])
				}
			}
		},
		"sspr-enabled-not-registered": func(t *testing.T, rows []row, c *queryContext) {
			for tenant, s := range c.latest {
				// Enabled and not registered = enabled - (enabled and registered).
				both := mustQuery(t, c.db, fmt.Sprintf(`SELECT count(*) AS n FROM %s WHERE tenant_id = ? AND snapshot_date = ?
  AND is_sspr_enabled AND is_sspr_registered`, table(c.h.dir, "user_registration_details")), tenant, s["snapshot_date"])[0]["n"].(int64)
				if got, want := int64(len(filter(rows, "tenant_id", tenant))), s["sspr_enabled"].(int64)-both; got != want {
					t.Errorf("%s: %d users, want %d", tenant, got, want)
				}
			}
		},
		"passwordless-readiness": func(t *testing.T, rows []row, c *queryContext) {
			for tenant, s := range c.latest {
				var users int64
				for _, r := range filter(rows, "tenant_id", tenant) {
					users += r["users"].(int64)
					if strings.HasPrefix(r["readiness"].(string), "1 ") && r["users"] != s["passwordless_capable"] {
						t.Errorf("%v: the summary has %v passwordless capable", r, s["passwordless_capable"])
					}
				}
				if users != s["users"] {
					t.Errorf("%s: %d users in the tiers, the summary has %v", tenant, users, s["users"])
				}
			}
		},
		"legacy-current-history": func(t *testing.T, rows []row, c *queryContext) {
			lastBeta := firstDay.AddDate(0, 0, betaDays-1).Format("2006-01-02")
			firstV1 := firstDay.AddDate(0, 0, betaDays).Format("2006-01-02")
			for _, r := range rows {
				if r["tenant_id"] != evolvingTenant || r["last_legacy"] != lastBeta || r["first_current"] != firstV1 {
					t.Errorf("%v: want only %s, from %s to %s", r, evolvingTenant, lastBeta, firstV1)
				}
			}
			if r := find(rows, "method_family", "authenticator_app"); r == nil || r["legacy_users"] == int64(0) || r["current_users"] == int64(0) {
				t.Errorf("authenticator_app: %v, want users on both sides", r)
			}
		},
		"tenants-ranked-by-mfa-share": func(t *testing.T, rows []row, c *queryContext) {
			if len(rows) != len(c.latest) {
				t.Fatalf("%d tenants ranked, want %d", len(rows), len(c.latest))
			}
			for i, r := range rows {
				if r["rank"] != int64(i+1) || !same(r["mfa_registered_share"], round4(c.latest[r["tenant_id"].(string)]["mfa_registered_share"].(float64))) {
					t.Errorf("row %d: %v", i, r)
				}
			}
		},
		"weekly-new-registrations": func(t *testing.T, rows []row, c *queryContext) {
			var sum int64
			for _, r := range rows {
				sum += r["methods_added"].(int64)
			}
			n := mustQuery(t, c.db, "SELECT count(*) AS n FROM "+table(c.h.dir, "registration_changes")+" WHERE change = 'method_added'")[0]["n"]
			if sum != n {
				t.Errorf("%d methods added by week, %v in all", sum, n)
			}
		},
		"missed-nights": func(t *testing.T, rows []row, c *queryContext) {
			if len(rows) != 1 || rows[0]["tenant_id"] != evolvingTenant || rows[0]["missed_night"] != missedDay.Format("2006-01-02") {
				t.Errorf("missed nights %v, want only %s of %s", rows, missedDay.Format("2006-01-02"), evolvingTenant)
			}
		},
		"users-without-methods": countPerTenant("users_without_methods"),
	}
}

// countPerTenant checks that a query listing users of each tenant's latest
// snapshot lists as many as the summary column counts.
func countPerTenant(column string) queryCheck {
	return func(t *testing.T, rows []row, c *queryContext) {
		for tenant, s := range c.latest {
			if got := int64(len(filter(rows, "tenant_id", tenant))); got != s[column] {
				t.Errorf("%s: %d users, the summary's %s is %v", tenant, got, column, s[column])
			}
		}
	}
}

// checkDocQueries runs every duckdb query of the doc on the history.
func checkDocQueries(t *testing.T, db *sql.DB, h *history) {
	queries, err := readDocQueries(queriesDoc, "duckdb")
	if err != nil {
		t.Fatal(err)
	}
	c := &queryContext{db: db, h: h, latest: map[string]row{},
		summary: mustQuery(t, db, "SELECT * FROM "+table(h.dir, "registration_daily_summary"))}
	for _, s := range c.summary {
		if l, ok := c.latest[s["tenant_id"].(string)]; !ok || s["snapshot_date"].(string) > l["snapshot_date"].(string) {
			c.latest[s["tenant_id"].(string)] = s
		}
	}
	userID := busiestUser(t, db, h)
	checks := queryChecks()
	var ids []string
	for _, q := range queries {
		ids = append(ids, q.ID)
		t.Run(q.ID, func(t *testing.T) {
			check, ok := checks[q.ID]
			if !ok {
				t.Fatalf("%s:%d: no check for this query in queryChecks", queriesDoc, q.Line)
			}
			text := strings.NewReplacer("$WAREHOUSE", h.dir, "$USER_ID", userID).Replace(q.SQL)
			_, rows, err := query(db, text)
			if err != nil {
				t.Fatalf("%s:%d: %v", queriesDoc, q.Line, err)
			}
			if len(rows) == 0 {
				t.Fatalf("%s:%d: no rows", queriesDoc, q.Line)
			}
			t.Logf("%d rows, first %v", len(rows), rows[0])
			check(t, rows, c)
		})
	}
	for id := range checks {
		if !slices.Contains(ids, id) {
			t.Errorf("queryChecks has %s, the doc no such duckdb query", id)
		}
	}
	if len(queries) < 10 {
		t.Errorf("the doc has %d duckdb queries, the issue asks for at least ten questions", len(queries))
	}
}

// busiestUser is the user of evolvingTenant with the most kinds of change
// events, for the doc's $USER_ID.
func busiestUser(t *testing.T, db *sql.DB, h *history) string {
	rows := mustQuery(t, db, fmt.Sprintf(`SELECT user_id FROM %s WHERE tenant_id = ?
GROUP BY user_id ORDER BY count(DISTINCT change) DESC, user_id LIMIT 1`, table(h.dir, "registration_changes")), evolvingTenant)
	if len(rows) == 0 {
		t.Fatal("no change events at all")
	}
	return rows[0]["user_id"].(string)
}

// find returns the first row whose columns have the values (pairs of name, value).
func find(rows []row, kv ...any) row {
	for _, r := range rows {
		ok := true
		for i := 0; i < len(kv); i += 2 {
			ok = ok && r[kv[i].(string)] == kv[i+1]
		}
		if ok {
			return r
		}
	}
	return nil
}

// filter returns the rows whose column has the value.
func filter(rows []row, col string, v any) []row {
	var out []row
	for _, r := range rows {
		if r[col] == v {
			out = append(out, r)
		}
	}
	return out
}

func round4(f float64) float64 {
	var r float64
	fmt.Sscanf(fmt.Sprintf("%.4f", f), "%g", &r)
	return r
}
