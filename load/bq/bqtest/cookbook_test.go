package bqtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/load/bq"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// cookbookDoc is docs/queries.md, from this module's folder.
var cookbookDoc = filepath.Join("..", "..", "..", "docs", "queries.md")

// notOnEmulator lists the cookbook's BigQuery queries the emulator cannot
// run, with what it answers (a substring of its error). Each still runs
// here: one that starts working, or fails otherwise, fails the test, and
// the doc names exactly these ("not checked against the emulator").
var notOnEmulator = map[string]string{}

// mayBeEmpty lists the queries that may find nothing in this short
// history, and why; every other query must return rows.
var mayBeEmpty = map[string]string{
	"admins-who-lost-mfa": "few admins, few days: none may lose MFA (docs/cookbook checks it on 30 days)",
}

const (
	cookbookTenant = graphsim.DefaultTenantID
	cookbookOther  = "6f1c2b3a-9d8e-4f70-a1b2-c3d4e5f60718"
)

// cookbookDays: two nights read from the beta report, a month with no
// runs, then the v1.0 report nightly with one night (2024-02-29) missed;
// cookbookOther from the v1.0 days only. As in docs/cookbook, but short:
// every slice here goes through the emulator, which loads a slice in
// seconds and runs a join on SQLite row by row.
func cookbookDays() (days []time.Time, beta int) {
	d := func(m time.Month, day int) time.Time { return time.Date(2024, m, day, 0, 0, 0, 0, time.UTC) }
	return []time.Time{d(1, 30), d(1, 31), d(2, 27), d(2, 28), d(3, 1)}, 2
}

// loadCookbookHistory runs the pipeline for each day and tenant against
// graphsim, into a Parquet warehouse that loads each slice into BigQuery.
func loadCookbookHistory(t *testing.T, s *bq.Sink) (runs int) {
	t.Helper()
	ctx := context.Background()
	days, beta := cookbookDays()
	clock := graphsim.NewClock(days[0].Add(12 * time.Hour))
	sim, err := graphsim.New(graphsim.Options{
		Tenants: []graphsim.Tenant{{ID: cookbookTenant, Users: 250}, {ID: cookbookOther, Users: 80}},
		Limits:  graphsim.Limits{PerTenant: 1000, PerTenantWindow: time.Second, App: 1000, AppWindow: time.Second},
		Now:     clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	wh, err := load.OpenWarehouse(ctx, filepath.Join(dir, "warehouse"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wh.Close() })
	raw, err := load.OpenBucket(ctx, filepath.Join(dir, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	sink := pipeline.ParquetSink{Warehouse: wh, BigQuery: s}
	throttle := extract.NewThrottle(extract.Limits{PerTenant: 1000, PerTenantWindow: time.Second, App: 1000, AppWindow: time.Second})
	for i, day := range days {
		if i > 0 {
			clock.Advance(day.Sub(days[i-1]))
		}
		for _, tenant := range []string{cookbookTenant, cookbookOther} {
			endpoint := schemas.UserRegistrationDetails
			if i < beta {
				if tenant != cookbookTenant {
					continue
				}
				endpoint = schemas.CredentialUserRegistrationDetails
			}
			_, err := pipeline.RunTenant(ctx, pipeline.Options{
				Key: schemas.Key{Date: day, Tenant: tenant}, Endpoint: endpoint,
				Source: pipeline.Source{GraphURL: sim.URL(), HTTPClient: sim.Client(), Throttle: throttle,
					Credential: extract.CredentialOptions{ClientID: graphsim.DefaultClientID, ClientSecret: graphsim.DefaultClientSecret,
						AuthorityHost: sim.URL(), Getenv: func(string) string { return "" }}},
				Sink: sink, History: sink, Raw: raw, Shards: 1,
			})
			if err != nil {
				t.Fatalf("%s %s: %v", day.Format(time.DateOnly), tenant, err)
			}
			runs++
		}
	}
	return runs
}

// queryRows runs sql on the emulator, as an analyst's client would.
func queryRows(c *bigquery.Client, sql string) ([]map[string]bigquery.Value, error) {
	// The emulator runs a query on SQLite, row by row: a query it plans
	// badly fails here rather than at the test's deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	it, err := c.Query(sql).Read(ctx)
	if err != nil {
		return nil, err
	}
	var rows []map[string]bigquery.Value
	for {
		row := map[string]bigquery.Value{}
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
}

// The views Ensure makes answer from the loaded slices, a second Ensure
// leaves them alone, and every BigQuery query of the cookbook runs on the
// emulator, but those it cannot run, which are listed (here, in the test
// log and in the doc).
func TestViewsAndCookbookQueries(t *testing.T) {
	e := newEmulator(t)
	s := ensured(t, e, e.config())
	ctx := context.Background()
	mark := e.mark()
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if ch := changes(e.requests(mark)); len(ch) > 0 {
		t.Errorf("a second Ensure changed things (the views?): %v", ch)
	}
	if names := e.tableNames(t); !slices.Contains(names, "latest_user_registration_details") || !slices.Contains(names, "weekly_mfa_share") {
		t.Errorf("the dataset holds %v, no views", names)
	}
	runs := loadCookbookHistory(t, s)
	c := e.client(t)
	ref := func(name string) string { return fmt.Sprintf("`%s.%s.%s`", project, dataset, name) }

	t.Run("latest_user_registration_details", func(t *testing.T) {
		got := e.query(t, "SELECT tenant_id, snapshot_date, COUNT(*) FROM "+ref("latest_user_registration_details")+" GROUP BY 1, 2 ORDER BY 1")
		want := e.query(t, "SELECT tenant_id, snapshot_date, users FROM "+ref("registration_daily_summary")+
			" WHERE snapshot_date = DATE '2024-03-01' ORDER BY tenant_id")
		if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 2 {
			t.Errorf("the view holds %v, the latest summaries say %v", got, want)
		}
	})
	t.Run("weekly_mfa_share", func(t *testing.T) {
		got := e.query(t, "SELECT tenant_id, week, as_of, users, mfa_registered, snapshots FROM "+ref("weekly_mfa_share")+" ORDER BY 1, 2")
		// Each week's last summary, and how many the week has, found in Go.
		type week struct {
			last []bigquery.Value
			n    int64
		}
		weeks := map[string]*week{}
		var keys []string
		for _, r := range e.query(t, "SELECT tenant_id, snapshot_date, users, mfa_registered FROM "+ref("registration_daily_summary")+" ORDER BY 1, 2") {
			d, err := time.Parse(time.DateOnly, fmt.Sprint(r[1]))
			if err != nil {
				t.Fatal(err)
			}
			k := fmt.Sprint(r[0], " ", d.AddDate(0, 0, -(int(d.Weekday())+6)%7).Format(time.DateOnly))
			if weeks[k] == nil {
				weeks[k] = &week{}
				keys = append(keys, k)
			}
			weeks[k].last, weeks[k].n = r, weeks[k].n+1
		}
		var want []string
		for _, k := range keys {
			w := weeks[k]
			want = append(want, fmt.Sprint(k, " ", w.last[1], " ", w.last[2], " ", w.last[3], " ", w.n))
		}
		var have []string
		for _, r := range got {
			have = append(have, fmt.Sprint(r[0], " ", r[1], " ", r[2], " ", r[3], " ", r[4], " ", r[5]))
		}
		if !slices.Equal(have, want) {
			t.Errorf("weekly_mfa_share:\n%s\nwant:\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
		}
	})

	queries, err := readBigQueryQueries(cookbookDoc)
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) < 10 {
		t.Errorf("%d BigQuery queries in the cookbook, want at least ten", len(queries))
	}
	users := e.query(t, "SELECT user_id FROM "+ref("registration_changes")+
		" GROUP BY user_id ORDER BY COUNT(DISTINCT change) DESC, user_id LIMIT 1")
	if len(users) == 0 {
		t.Fatal("no change events in BigQuery")
	}
	replacer := strings.NewReplacer("$DATASET", project+"."+dataset, "$USER_ID", fmt.Sprint(users[0][0]))
	var skipped []string
	for _, q := range queries {
		t.Run(q.id, func(t *testing.T) {
			start := time.Now()
			rows, err := queryRows(c, replacer.Replace(q.sql))
			t.Logf("ran in %v", time.Since(start).Round(time.Millisecond))
			reason, listed := notOnEmulator[q.id]
			switch {
			case err != nil && listed && strings.Contains(err.Error(), reason):
				t.Logf("not checked against the emulator: %s: %v", q.id, err)
				skipped = append(skipped, q.id)
				return
			case err != nil:
				t.Fatalf("%s:%d: %v", cookbookDoc, q.line, err)
			case listed:
				t.Fatalf("%s runs on the emulator now: take it off notOnEmulator and the doc's list", q.id)
			}
			if why, ok := mayBeEmpty[q.id]; len(rows) == 0 && ok {
				t.Logf("no rows (%s)", why)
			} else if len(rows) == 0 {
				t.Fatalf("%s:%d: no rows", cookbookDoc, q.line)
			}
			if len(rows) > 0 {
				t.Logf("%d rows, first %v", len(rows), rows[0])
			}
		})
	}
	for id := range notOnEmulator {
		if !slices.ContainsFunc(queries, func(q docQuery) bool { return q.id == id }) {
			t.Errorf("notOnEmulator lists %s, which the doc has no BigQuery query for", id)
		}
	}
	checkDocNamesSkips(t)
	t.Logf("%d slices loaded; BigQuery queries of the cookbook not checked against the emulator: %v", runs, skipped)
}

// checkDocNamesSkips wants the doc's "Not checked against the emulator"
// sentence to name exactly the queries of notOnEmulator.
func checkDocNamesSkips(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(cookbookDoc)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "Not checked against the emulator")
	if !ok {
		t.Fatal("the doc does not say which queries are not checked against the emulator")
	}
	para, _, _ := strings.Cut(rest, "\n\n")
	var named []string
	for _, f := range strings.FieldsFunc(para, func(r rune) bool { return r == '`' }) {
		if strings.Contains(f, " ") || strings.Contains(f, "\n") {
			continue
		}
		named = append(named, f)
	}
	var want []string
	for id := range notOnEmulator {
		want = append(want, id)
	}
	slices.Sort(named)
	slices.Sort(want)
	if !slices.Equal(named, want) {
		t.Errorf("the doc names %v as not checked against the emulator, the test skips %v", named, want)
	}
}

// docQuery is one ```sql bigquery id=<id> block of the cookbook.
type docQuery struct {
	id, sql string
	line    int
}

// readBigQueryQueries returns the cookbook's BigQuery queries. (The DuckDB
// ones are docs/cookbook's; that module has its own reader, as it cannot
// share this test's code.)
func readBigQueryQueries(path string) ([]docQuery, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []docQuery
	var cur *docQuery
	var body []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && strings.TrimSpace(line) == "```":
			cur.sql = strings.Join(body, "\n")
			out = append(out, *cur)
			cur, body = nil, nil
		case cur != nil:
			body = append(body, line)
		case strings.HasPrefix(line, "```sql bigquery "):
			id, ok := strings.CutPrefix(strings.TrimSpace(strings.TrimPrefix(line, "```sql bigquery ")), "id=")
			if !ok || id == "" || slices.ContainsFunc(out, func(q docQuery) bool { return q.id == id }) {
				return nil, fmt.Errorf("%s:%d: want a unique id= after ```sql bigquery: %q", path, n, line)
			}
			cur = &docQuery{id: id, line: n}
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: block %s never closed", path, cur.line, cur.id)
	}
	return out, sc.Err()
}
