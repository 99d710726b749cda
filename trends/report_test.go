package trends

import (
	"context"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/credreg/credreg/schemas"
)

func buildFixtureReport(t *testing.T) (*Report, *fixture) {
	t.Helper()
	wh, f := standardWarehouse(t)
	ctx := context.Background()
	h, err := Load(ctx, wh, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := BuildReport(ctx, wh, h, 0)
	if err != nil {
		t.Fatal(err)
	}
	return r, f
}

func TestReportAdminsWhoLostMFA(t *testing.T) {
	r, f := buildFixtureReport(t)
	tr := r.Tenants[0]
	want := []AdminLostMFA{
		// u0 is an admin throughout and loses MFA 5 days before the end.
		{Date: f.date(35), UserID: f.userID(0), UPN: f.upn(0), AdminThen: true, AdminNow: true},
		// u100 loses MFA 10 days before the end, then its admin role:
		// an admin then, not now. u101 loses MFA too but was never an admin.
		{Date: f.date(30), UserID: f.userID(100), UPN: f.upn(100), AdminThen: true, AdminNow: false},
	}
	if len(tr.AdminsLostMFA) != len(want) {
		t.Fatalf("admins who lost MFA: %+v, want %+v", tr.AdminsLostMFA, want)
	}
	for i, w := range want {
		if g := tr.AdminsLostMFA[i]; !g.Date.Equal(w.Date) || g.UserID != w.UserID || g.UPN != w.UPN || g.AdminThen != w.AdminThen || g.AdminNow != w.AdminNow {
			t.Errorf("row %d: %+v, want %+v", i, g, w)
		}
	}
}

func TestReportUsersWithoutMethods(t *testing.T) {
	r, f := buildFixtureReport(t)
	tr := r.Tenants[0]
	got := map[string]NoMethodUser{}
	for _, u := range tr.WithoutMethods {
		got[u.UserID] = u
	}
	// Users 7, 27, 47, …, 167 never had a method: since the first day, at least.
	for _, u := range []int{7, 27, 47, 67, 87, 107, 127, 147, 167} {
		g, ok := got[f.userID(u)]
		if !ok || !g.AtLeast || g.Days != 39 || !g.Since.Equal(f.date(0)) || g.UPN != f.upn(u) {
			t.Errorf("user %d: %+v (listed %v), want since %s, ≥ 39 days", u, g, ok, f.date(0))
		}
	}
	// u33 removed its last method on day 3: 36 days, exactly.
	if g := got[f.userID(33)]; g.AtLeast || g.Days != 36 || !g.Since.Equal(f.date(3)) {
		t.Errorf("user 33: %+v, want since day 3, 36 days", g)
	}
	// u187 appeared on day 21 without a method: 18 days, not listed.
	if g, ok := got[f.userID(187)]; ok {
		t.Errorf("user 187 listed: %+v", g)
	}
	if len(got) != 10 {
		t.Errorf("%d users listed, want 10: %+v", len(got), tr.WithoutMethods)
	}
	if tr.WithoutMethods[len(tr.WithoutMethods)-1].UserID != f.userID(33) {
		t.Errorf("not sorted longest first: %+v", tr.WithoutMethods)
	}
}

func TestReportWeeklyMethodsAdded(t *testing.T) {
	r, f := buildFixtureReport(t)
	tr := r.Tenants[0]
	want := map[string]map[string]int64{} // week → family → events
	prev := -1
	for d := range f.days {
		if f.skip[d] {
			continue
		}
		y, w := f.date(d).ISOWeek()
		label := Week{Year: y, Week: w}.Label()
		for _, c := range f.changes(d, prev) {
			if c.Change == schemas.ChangeMethodAdded {
				if want[label] == nil {
					want[label] = map[string]int64{}
				}
				want[label][string(*c.MethodFamily)]++
			}
		}
		prev = d
	}
	partial := map[string]bool{}
	for d := range f.skip {
		y, w := f.date(d).ISOWeek()
		partial[Week{Year: y, Week: w}.Label()] = true
	}
	seen := 0
	for _, w := range tr.Weeks {
		if w.Partial != partial[w.Label()] {
			t.Errorf("week %s partial %v, want %v", w.Label(), w.Partial, partial[w.Label()])
		}
		for fam, n := range want[w.Label()] {
			if w.Added[fam] != n {
				t.Errorf("week %s %s: %d, want %d", w.Label(), fam, w.Added[fam], n)
			}
		}
		if len(want[w.Label()]) > 0 {
			seen++
		}
	}
	if seen != len(want) || seen < 4 {
		t.Errorf("weeks with events %d, want %d (at least 4)", seen, len(want))
	}
}

// recordingWarehouse is a real warehouse that notes each slice read.
type recordingWarehouse struct {
	Warehouse
	mu    sync.Mutex
	reads map[string][]schemas.Key // table → slices
}

func (r *recordingWarehouse) ReadSlice(ctx context.Context, t *schemas.Table, key schemas.Key) (arrow.Table, error) {
	r.mu.Lock()
	r.reads[t.Name] = append(r.reads[t.Name], key)
	r.mu.Unlock()
	return r.Warehouse.ReadSlice(ctx, t, key)
}

// The report reads the summary and the changes of the days in the range,
// and the users of the latest day only: never a whole history of users.
func TestReportReadsOnlySummariesChangesAndTheLatestUsers(t *testing.T) {
	wh, f := standardWarehouse(t)
	rec := &recordingWarehouse{Warehouse: wh, reads: map[string][]schemas.Key{}}
	ctx := context.Background()
	h, err := Load(ctx, rec, Options{From: f.date(20)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := BuildReport(ctx, rec, h, 0); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		schemas.RegistrationDailySummaryTable.Name: 19, // days 20 to 39, day 25 missing
		schemas.RegistrationChangesTable.Name:      19,
		schemas.UserRegistrationDetailsTable.Name:  1,
	}
	for table, keys := range rec.reads {
		if len(keys) != want[table] {
			t.Errorf("%s read for %d slices, want %d", table, len(keys), want[table])
		}
	}
	if u := rec.reads[schemas.UserRegistrationDetailsTable.Name]; len(u) != 1 || !u[0].Date.Equal(f.date(39)) {
		t.Errorf("users read for %v, want the latest day only", u)
	}
}
