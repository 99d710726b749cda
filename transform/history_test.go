package transform

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

// histUser is one user of a generated snapshot.
type histUser struct {
	id, upn                  string
	mfa, sspr, pwless, admin bool
	methods                  []string
}

func (u histUser) row(key schemas.Key) schemas.UserRow {
	b := func(v bool) *bool { return &v }
	return schemas.UserRow{Key: key, UserID: u.id, UserPrincipalName: u.upn, Source: schemas.UserRegistrationDetails,
		IsMfaRegistered: b(u.mfa), IsSsprRegistered: b(u.sspr), IsPasswordlessCapable: b(u.pwless), IsAdmin: b(u.admin),
		AuthMethodCount: int64(len(u.methods)), RunID: "r"}
}

// genSnapshot draws n users from a pool of ids, in random order, with
// methods from a vocabulary of more than 64 values (so the interned
// overflow path runs too) and some ids that are not lowercase GUIDs.
func genSnapshot(rng *rand.Rand, pool int, keep float64) []histUser {
	var out []histUser
	for i := range pool {
		if rng.Float64() > keep {
			continue
		}
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i*7)
		switch i % 17 {
		case 3:
			id = fmt.Sprintf("legacy-%d", i)
		case 5:
			id = fmt.Sprintf("%08X-0000-4000-8000-%012X", i, i*7) // uppercase: not packed
		}
		u := histUser{id: id, upn: fmt.Sprintf("u%d-%d@example.com", i, rng.IntN(3)),
			mfa: rng.IntN(2) == 0, sspr: rng.IntN(2) == 0, pwless: rng.IntN(4) == 0, admin: rng.IntN(5) == 0}
		for range rng.IntN(4) {
			v := []string{"email", "mobilePhone", "fido2", "microsoftAuthenticatorPush", "qrCodePin"}[rng.IntN(5)]
			if rng.IntN(10) == 0 {
				v = fmt.Sprintf("futureMethod%d", rng.IntN(80))
			}
			u.methods = append(u.methods, v)
		}
		out = append(out, u)
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// expectedChanges computes every change kind as the plain set difference
// the table promises, the way SQL's EXCEPT would.
func expectedChanges(prev, cur []histUser) []string {
	type attr struct{ id, kind, value string }
	set := func(us []histUser) map[attr]string {
		m := map[attr]string{}
		for _, u := range us {
			m[attr{u.id, "user", ""}] = u.upn
			for _, v := range u.methods {
				m[attr{u.id, "method", v}] = u.upn
			}
			for name, on := range map[string]bool{"mfa_registered": u.mfa, "sspr_registered": u.sspr,
				"passwordless_capable": u.pwless, "admin": u.admin} {
				if on {
					m[attr{u.id, name, ""}] = u.upn
				}
			}
		}
		return m
	}
	p, c := set(prev), set(cur)
	// A row names the user as the current snapshot does, when it has them.
	curUPN := map[string]string{}
	for _, u := range cur {
		curUPN[u.id] = u.upn
	}
	var out []string
	diff := func(a, b map[attr]string, added bool) {
		for k, upn := range a {
			if _, ok := b[k]; ok {
				continue
			}
			if now, ok := curUPN[k.id]; ok {
				upn = now
			}
			var kind string
			switch {
			case k.kind == "user" && added:
				kind = "appeared"
			case k.kind == "user":
				kind = "disappeared"
			case k.kind == "method" && added:
				kind = "method_added"
			case k.kind == "method":
				kind = "method_removed"
			case added:
				kind = k.kind + "_gained"
			default:
				kind = k.kind + "_lost"
			}
			out = append(out, fmt.Sprintf("%s|%s|%s|%s", k.id, upn, kind, k.value))
		}
	}
	diff(c, p, true)
	diff(p, c, false)
	slices.Sort(out)
	return out
}

// previousFrom fills a Previous from the snapshot's rows written as the
// two tables' Arrow batches, the way the pipeline reads them back.
func previousFrom(t *testing.T, key schemas.Key, us []histUser) (*Previous, arrow.RecordBatch) {
	t.Helper()
	mem := memory.NewGoAllocator()
	ub := array.NewRecordBuilder(mem, schemas.UserRegistrationDetailsTable.Arrow())
	mb := array.NewRecordBuilder(mem, schemas.UserAuthMethodsTable.Arrow())
	defer ub.Release()
	defer mb.Release()
	for _, u := range us {
		r := u.row(key)
		r.Append(ub)
		for _, v := range u.methods {
			m := schemas.MethodRow{Key: key, UserID: u.id, UserPrincipalName: u.upn, Source: schemas.UserRegistrationDetails,
				AuthMethod: v, MethodFamily: schemas.FamilyEmail, RunID: "r"}
			m.Append(mb)
		}
	}
	users, methods := ub.NewRecordBatch(), mb.NewRecordBatch()
	defer methods.Release()
	p := NewPrevious(key.Date, "prev-run", schemas.UserRegistrationDetails)
	if err := p.AddUsers(users); err != nil {
		t.Fatal(err)
	}
	if err := p.AddMethods(methods); err != nil {
		t.Fatal(err)
	}
	return p, users
}

func changeStrings(t *testing.T, batches []Batch) []string {
	t.Helper()
	var out []string
	for _, b := range batches {
		if b.Table != schemas.RegistrationChangesTable {
			continue
		}
		rec := b.Record
		col := func(name string) *array.String {
			return rec.Column(rec.Schema().FieldIndices(name)[0]).(*array.String)
		}
		ids, upns, kinds, methods := col("user_id"), col("user_principal_name"), col("change"), col("auth_method")
		for i := range int(rec.NumRows()) {
			m := ""
			if methods.IsValid(i) {
				m = methods.Value(i)
			}
			out = append(out, fmt.Sprintf("%s|%s|%s|%s", ids.Value(i), upns.Value(i), kinds.Value(i), m))
		}
		rec.Release()
	}
	slices.Sort(out)
	return out
}

// The change rows are exactly the set differences between two snapshots,
// whatever order the users come in, for every kind, through batches cut
// small, and again after a Reset (a second pass).
func TestHistoryChangesAreSetDifferences(t *testing.T) {
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for seed := range uint64(5) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			prev := genSnapshot(rng, 400, 0.9)
			cur := genSnapshot(rng, 420, 0.9)
			p, prevUsers := previousFrom(t, schemas.Key{Date: day.AddDate(0, 0, -1), Tenant: "t"}, prev)
			defer prevUsers.Release()
			key := schemas.Key{Date: day, Tenant: "t"}
			h := NewHistory(HistoryOptions{Key: key, RunID: "r", Previous: p, BatchRows: 7})
			defer h.Release()
			pass := func() []string {
				var out []Batch
				for _, u := range cur {
					r := u.row(key)
					out = h.user(out, &r, u.methods)
				}
				gone, err := h.Gone(prevUsers)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, gone...)
				fin := joined(t, h).Finish()
				out = append(out, fin...)
				if last := fin[len(fin)-1]; last.Table != schemas.RegistrationDailySummaryTable {
					t.Fatalf("Finish ended with %s, want the summary", last.Table.Name)
				} else {
					defer last.Record.Release()
				}
				return changeStrings(t, out)
			}
			want := expectedChanges(prev, cur)
			got := pass()
			if !slices.Equal(got, want) {
				t.Fatalf("%d change rows, want %d\nfirst differences: %v", len(got), len(want), firstDiff(got, want))
			}
			if h.Changes() != int64(len(want)) {
				t.Errorf("Changes() = %d, want %d", h.Changes(), len(want))
			}
			h.Reset()
			if got := pass(); !slices.Equal(got, want) {
				t.Fatalf("after Reset: %d change rows, want %d: %v", len(got), len(want), firstDiff(got, want))
			}
		})
	}
}

func firstDiff(got, want []string) []string {
	var out []string
	g, w := map[string]bool{}, map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		w[s] = true
	}
	for _, s := range got {
		if !w[s] && len(out) < 5 {
			out = append(out, "extra "+s)
		}
	}
	for _, s := range want {
		if !g[s] && len(out) < 10 {
			out = append(out, "missing "+s)
		}
	}
	return out
}

// The first snapshot has no changes, and the summary counts its users.
func TestHistorySummaryWithoutPrevious(t *testing.T) {
	key := schemas.Key{Date: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Tenant: "t"}
	h := NewHistory(HistoryOptions{Key: key, RunID: "r"})
	defer h.Release()
	guest, member := "guest", "member"
	us := []histUser{
		{id: "a", upn: "a@x", mfa: true, admin: true, methods: []string{"fido2", "email", "email"}},
		{id: "b", upn: "b@x", admin: true},
		{id: "c", upn: "c@x", sspr: true, methods: []string{"mobilePhone"}},
	}
	var out []Batch
	for i, u := range us {
		r := u.row(key)
		r.UserType = &member
		if i == 2 {
			r.UserType = &guest
		}
		out = h.user(out, &r, u.methods)
	}
	if len(out) != 0 || h.Compared() {
		t.Fatalf("changes without a previous snapshot: %d batches", len(out))
	}
	fin := joined(t, h).Finish()
	if len(fin) != 1 {
		t.Fatalf("Finish gave %d batches, want the summary only", len(fin))
	}
	rec := fin[0].Record
	defer rec.Release()
	get := func(name string) any {
		c := rec.Column(rec.Schema().FieldIndices(name)[0])
		switch c := c.(type) {
		case *array.Int64:
			return c.Value(0)
		case *array.Float64:
			return c.Value(0)
		}
		return nil
	}
	for name, want := range map[string]any{"users": int64(3), "members": int64(2), "guests": int64(1),
		"mfa_registered": int64(1), "mfa_registered_share": 1.0 / 3, "sspr_registered": int64(1),
		"admins": int64(2), "admins_without_mfa": int64(1), "users_without_methods": int64(1),
		"method_rows": int64(4), "users_passkey": int64(1), "users_email": int64(1), "users_phone": int64(1),
		"users_authenticator_app": int64(0)} {
		if got := get(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// A previous snapshot named otherwise (real names, pseudonyms under another
// key) is not compared with: its names would land in this one's rows.
func TestHistoryComparesOnlyNamesAlike(t *testing.T) {
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	prev := genSnapshot(rng, 50, 1)
	cur := genSnapshot(rng, 50, 0.8)
	for _, c := range []struct{ prevKey, key string }{{"", "k1"}, {"k1", ""}, {"k1", "k2"}} {
		p, users := previousFrom(t, schemas.Key{Date: day.AddDate(0, 0, -1), Tenant: "t"}, prev)
		p.KeyFingerprint = c.prevKey
		key := schemas.Key{Date: day, Tenant: "t"}
		h := NewHistory(HistoryOptions{Key: key, RunID: "r", Previous: p})
		h.setKey(c.key)
		var out []Batch
		for _, u := range cur {
			r := u.row(key)
			out = h.user(out, &r, u.methods)
		}
		gone, err := h.Gone(users)
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(out, gone...), joined(t, h).Finish()...)
		if got := changeStrings(t, out); len(got) != 0 || h.Compared() || h.Incomparable() == "" {
			t.Errorf("previous %q, now %q: %d change rows, compared %v, reason %q", c.prevKey, c.key, len(got), h.Compared(), h.Incomparable())
		}
		for _, b := range out {
			if b.Table == schemas.RegistrationDailySummaryTable {
				b.Record.Release()
			}
		}
		users.Release()
		h.Release()
	}
}

// joined calls h.Join, which a History compared in memory (or not at all)
// needs before Finish but which emits nothing then.
func joined(t testing.TB, h *History) *History {
	t.Helper()
	if err := h.Join(func(b Batch) error {
		b.Record.Release()
		t.Errorf("Join emitted %s rows without a spilled previous snapshot", b.Table.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return h
}

// Finish without Join is a caller's mistake: it panics rather than drop
// (or hide the failure of) a spilled comparison's rows.
func TestHistoryFinishRequiresJoin(t *testing.T) {
	h := NewHistory(HistoryOptions{Key: schemas.Key{Date: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Tenant: "t"}, RunID: "r"})
	defer h.Release()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Finish without Join did not panic")
			}
		}()
		h.Finish()
	}()
	for _, b := range joined(t, h).Finish() {
		b.Record.Release()
	}
}

// The summary of users loaded through a Transformer counts each family
// once per user, from the families the Transformer looked up for the
// method rows (not a lookup of its own): every family a user's methods
// fall in, an unknown method's in "unknown", none for a user without
// methods. The expected counts are written out from the catalog's meaning,
// not computed with it.
func TestTransformerSummaryFamilies(t *testing.T) {
	h := NewHistory(HistoryOptions{Key: testKey, RunID: "r", Endpoint: v1})
	defer h.Release()
	tr := New(Options{Key: testKey, RunID: "r", Endpoint: v1, History: h, BatchRows: 7})
	defer tr.Release()
	p, err := odata.Split(v1Page(40)) // methods by user i%4: see v1Page
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range append(tr.AddPage(1, testReceived, p.Records), tr.Finish()...) {
		b.Record.Release()
	}
	fin := joined(t, h).Finish()
	rec := fin[len(fin)-1].Record
	defer rec.Release()
	want := map[string]int64{"users": 40, "users_without_methods": 10, "method_rows": 80,
		"users_email": 10, "users_phone": 10, "users_authenticator_app": 10, "users_passkey": 10,
		"users_software_otp": 10, "users_windows_hello": 10, "users_unknown": 10}
	for _, f := range schemas.MethodFamilies() {
		if _, ok := want[schemas.SummaryFamilyColumn(f)]; !ok {
			want[schemas.SummaryFamilyColumn(f)] = 0
		}
	}
	for name, n := range want {
		if got := rec.Column(rec.Schema().FieldIndices(name)[0]).(*array.Int64).Value(0); got != n {
			t.Errorf("%s = %d, want %d", name, got, n)
		}
	}
}
