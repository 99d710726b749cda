package trends

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// A fixture is a made-up tenant whose users change day by day by simple
// rules, written to a real warehouse through load's writer: one slice per
// day, with its summary, its change events (each a set difference with the
// previous written day, as the contract says) and, on the latest day only,
// its users. The expected numbers are worked out here from the rules,
// independently of the code under test.
type fixture struct {
	tenant string
	start  time.Time
	days   int
	users  int
	// skip are day indexes with no slice (missed nights).
	skip map[int]bool
}

// Method values the fixture's users hold, one bit each.
var fixtureMethods = []string{"email", "microsoftAuthenticatorPush", "passKeySynced"}

const (
	mEmail = 1 << iota
	mApp
	mPasskey
)

type userState struct {
	present, admin bool
	methods        int
}

func (s userState) mfa() bool          { return s.methods&(mApp|mPasskey) != 0 }
func (s userState) passwordless() bool { return s.methods&mPasskey != 0 }

// Rules, by user number u and day d.
func (f *fixture) state(u, d int) userState {
	s := userState{present: true, admin: u%50 == 0}
	if late := f.users - 20; u >= late {
		s.present = d >= (u-late)*3 // the last 20 users join one every 3 days
	}
	if u == 1 && d >= f.days/2 {
		s.present = false // leaves halfway
	}
	if u == 50 && d >= f.days-3 {
		s.admin = false // admin role removed 3 days before the end
	}
	switch {
	case u == 100 || u == 101:
		s.methods = mEmail | mApp
		if d >= f.days-10 {
			s.methods = mEmail // loses MFA 10 days before the end
		}
		if u == 100 && d >= f.days-7 {
			s.admin = false // and, u100, its admin role 3 days later
		}
	case u%20 == 7:
		// never any method
	case u == 33:
		if d < 3 {
			s.methods = mEmail // removes its only method on day 3
		}
	default:
		s.methods = mEmail
		reg := (u * 7919) % (f.days * 2)
		if d >= reg {
			s.methods |= mApp
		}
		if u%3 == 0 && d >= reg+10 {
			s.methods |= mPasskey
		}
	}
	if u == 0 && d >= f.days-5 {
		s.methods = mEmail // an admin loses MFA 5 days before the end
	}
	return s
}

func (f *fixture) userID(u int) string { return fmt.Sprintf("u%06d", u) }
func (f *fixture) upn(u int) string    { return fmt.Sprintf("user%d@example.test", u) }
func (f *fixture) date(d int) time.Time {
	return f.start.AddDate(0, 0, d)
}

// summary is the fixture's summary row of day d.
func (f *fixture) summary(d int) schemas.SummaryRow {
	p := func(v int64) *int64 { return &v }
	var users, mfa, sspr, pwl, admins, adminsNoMFA, none, rows int64
	fam := map[schemas.MethodFamily]int64{}
	for u := range f.users {
		s := f.state(u, d)
		if !s.present {
			continue
		}
		users++
		if s.mfa() {
			mfa++
		}
		if s.methods != 0 {
			sspr++
		}
		if s.passwordless() {
			pwl++
		}
		if s.admin {
			admins++
			if !s.mfa() {
				adminsNoMFA++
			}
		}
		if s.methods == 0 {
			none++
		}
		for b, v := range fixtureMethods {
			if s.methods&(1<<b) != 0 {
				rows++
				m, _ := schemas.LookupMethod(v)
				fam[m.Family]++
			}
		}
	}
	var fams []int64
	for _, f := range schemas.MethodFamilies() {
		fams = append(fams, fam[f])
	}
	return schemas.SummaryRow{
		Key: schemas.Key{Date: f.date(d), Tenant: f.tenant}, Source: schemas.UserRegistrationDetails,
		Users: users, Members: p(users), Guests: p(0),
		// mfa_registered, mfa_capable, sspr_registered, sspr_enabled, sspr_capable, passwordless_capable
		Flags:  []*int64{p(mfa), p(mfa), p(sspr), p(users), p(sspr), p(pwl)},
		Admins: p(admins), AdminsWithoutMFA: p(adminsNoMFA), UsersWithoutMethods: none, MethodRows: rows,
		Families: fams, RunID: "run-" + f.date(d).Format("20060102"),
	}
}

// changes are the change rows of day d against the previous written day
// prev (d's first snapshot when prev < 0: none).
func (f *fixture) changes(d, prev int) []schemas.ChangeRow {
	if prev < 0 {
		return nil
	}
	var out []schemas.ChangeRow
	key := schemas.Key{Date: f.date(d), Tenant: f.tenant}
	add := func(u int, kind schemas.ChangeKind, method string) {
		r := schemas.ChangeRow{Key: key, PreviousDate: arrow.Date32FromTime(f.date(prev)), UserID: f.userID(u),
			UserPrincipalName: f.upn(u), Change: kind, RunID: "run-" + f.date(d).Format("20060102")}
		if method != "" {
			m, _ := schemas.LookupMethod(method)
			r.AuthMethod, r.MethodFamily = &method, &m.Family
		}
		out = append(out, r)
	}
	flag := func(u int, name string, was, is bool) {
		switch {
		case is && !was:
			add(u, schemas.ChangeFlag{Name: name}.Gained(), "")
		case was && !is:
			add(u, schemas.ChangeFlag{Name: name}.Lost(), "")
		}
	}
	for u := range f.users {
		p, c := f.state(u, prev), f.state(u, d)
		if !p.present {
			p = userState{}
		}
		if !c.present {
			c = userState{}
		}
		switch {
		case c.present && !p.present:
			add(u, schemas.ChangeAppeared, "")
		case p.present && !c.present:
			add(u, schemas.ChangeDisappeared, "")
		}
		for b, v := range fixtureMethods {
			had, has := p.methods&(1<<b) != 0, c.methods&(1<<b) != 0
			switch {
			case has && !had:
				add(u, schemas.ChangeMethodAdded, v)
			case had && !has:
				add(u, schemas.ChangeMethodRemoved, v)
			}
		}
		flag(u, "mfa_registered", p.mfa(), c.mfa())
		flag(u, "sspr_registered", p.methods != 0, c.methods != 0)
		flag(u, "passwordless_capable", p.passwordless(), c.passwordless())
		flag(u, "admin", p.admin, c.admin)
	}
	return out
}

// userRows are the user_registration_details rows of day d.
func (f *fixture) userRows(d int) []schemas.UserRow {
	var out []schemas.UserRow
	b := func(v bool) *bool { return &v }
	for u := range f.users {
		s := f.state(u, d)
		if !s.present {
			continue
		}
		n := int64(0)
		for bit := range fixtureMethods {
			if s.methods&(1<<bit) != 0 {
				n++
			}
		}
		out = append(out, schemas.UserRow{Key: schemas.Key{Date: f.date(d), Tenant: f.tenant}, UserID: f.userID(u),
			UserPrincipalName: f.upn(u), Source: schemas.UserRegistrationDetails, IsAdmin: b(s.admin),
			IsMfaRegistered: b(s.mfa()), IsPasswordlessCapable: b(s.passwordless()), AuthMethodCount: n,
			ExtractedAt: f.date(d), RunID: "run-" + f.date(d).Format("20060102")})
	}
	return out
}

// write publishes the fixture's slices to wh, with a manifest each.
func (f *fixture) write(tb testing.TB, wh *load.Warehouse) {
	tb.Helper()
	ctx := context.Background()
	prev := -1
	last := f.days - 1
	for last >= 0 && f.skip[last] {
		last--
	}
	for d := range f.days {
		if f.skip[d] {
			continue
		}
		key := schemas.Key{Date: f.date(d), Tenant: f.tenant}
		sw, err := wh.Begin(ctx, key, "run-"+f.date(d).Format("20060102"), load.WriterOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		sum := f.summary(d)
		writeRows(tb, sw, schemas.RegistrationDailySummaryTable, []*schemas.SummaryRow{&sum})
		ch := f.changes(d, prev)
		writeRows(tb, sw, schemas.RegistrationChangesTable, ptrs(ch))
		if d == last {
			writeRows(tb, sw, schemas.UserRegistrationDetailsTable, ptrs(f.userRows(d)))
		}
		if _, err := sw.Commit(ctx); err != nil {
			tb.Fatal(err)
		}
		if err := wh.WriteManifest(ctx, key, []byte(`{"run_id":"x"}`)); err != nil {
			tb.Fatal(err)
		}
		prev = d
	}
}

func ptrs[T any](rows []T) []*T {
	out := make([]*T, len(rows))
	for i := range rows {
		out[i] = &rows[i]
	}
	return out
}

type appender interface{ Append(b *array.RecordBuilder) }

func writeRows[R appender](tb testing.TB, sw *load.SliceWriter, t *schemas.Table, rows []R) {
	tb.Helper()
	const batch = 50000
	for start := 0; start < len(rows); start += batch {
		b := array.NewRecordBuilder(memory.DefaultAllocator, t.Arrow())
		for _, r := range rows[start:min(start+batch, len(rows))] {
			r.Append(b)
		}
		rec := b.NewRecordBatch()
		b.Release()
		err := sw.Write(context.Background(), t, rec)
		rec.Release()
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// newMemWarehouse opens a fresh warehouse in memory: no fsync, for the
// tests that do not look at files.
func newMemWarehouse(tb testing.TB) *load.Warehouse {
	tb.Helper()
	wh, err := load.OpenWarehouse(context.Background(), "mem://")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { wh.Close() })
	return wh
}

// newWarehouse opens a warehouse in a fresh folder.
func newWarehouse(tb testing.TB) (*load.Warehouse, string) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "warehouse")
	wh, err := load.OpenWarehouse(context.Background(), dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { wh.Close() })
	return wh, dir
}

// removeSummary deletes a slice's summary file, as in a slice published
// before the table existed.
func removeSummary(tb testing.TB, dir string, key schemas.Key) {
	tb.Helper()
	p := filepath.Join(dir, schemas.RegistrationDailySummaryTable.Name, "snapshot_date="+key.DateString(),
		"tenant_id="+key.Tenant, "part-00000.parquet")
	if err := os.Remove(p); err != nil {
		tb.Fatal(err)
	}
}
