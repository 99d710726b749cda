package pipeline

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// userState is a user of a landed slice as registration_changes sees it:
// the name, and the set of (kind, value) attributes whose differences are
// the change kinds.
type userState struct {
	upn   string
	attrs map[string]bool // "method:<value>" and "flag:<name>"
}

// sliceStates reads a slice's users back from its Parquet files, with the
// states by the column names the table's documentation gives.
func sliceStates(t *testing.T, wh *load.Warehouse, key schemas.Key, endpoint schemas.Endpoint) map[string]userState {
	t.Helper()
	ut := readSlice(t, wh, schemas.UserRegistrationDetailsTable, key)
	ids, upns := stringsOf(t, ut, "user_id"), stringsOf(t, ut, "user_principal_name")
	out := map[string]userState{}
	for i, id := range ids {
		out[id] = userState{upn: upns[i], attrs: map[string]bool{}}
	}
	flags := map[string]string{"mfa_registered": "is_mfa_registered", "sspr_registered": "is_sspr_registered",
		"passwordless_capable": "is_passwordless_capable", "admin": "is_admin"}
	if endpoint == schemas.CredentialUserRegistrationDetails {
		flags = map[string]string{"mfa_registered": "is_mfa_registered", "sspr_registered": "is_registered"}
	}
	for name, col := range flags {
		for i, on := range boolsOf(t, ut, col) {
			if on {
				out[ids[i]].attrs["flag:"+name] = true
			}
		}
	}
	mt := readSlice(t, wh, schemas.UserAuthMethodsTable, key)
	mu, mm := stringsOf(t, mt, "user_id"), stringsOf(t, mt, "auth_method")
	for i := range mu {
		out[mu[i]].attrs["method:"+mm[i]] = true
	}
	return out
}

// wantChanges is every change kind computed as a set difference, the way
// SQL's EXCEPT computes it, independently of transform.History.
func wantChanges(prev, cur map[string]userState) []string {
	var out []string
	row := func(id, upn, kind, method string) {
		out = append(out, strings.Join([]string{id, upn, kind, method}, "|"))
	}
	diff := func(a, b map[string]userState, added bool) {
		for id, u := range a {
			upn := u.upn
			if c, ok := cur[id]; ok {
				upn = c.upn
			}
			other, present := b[id]
			if !present {
				row(id, upn, map[bool]string{true: "appeared", false: "disappeared"}[added], "")
			}
			for attr := range u.attrs {
				if other.attrs[attr] {
					continue
				}
				kind, value, _ := strings.Cut(attr, ":")
				switch {
				case kind == "method" && added:
					row(id, upn, "method_added", value)
				case kind == "method":
					row(id, upn, "method_removed", value)
				case added:
					row(id, upn, value+"_gained", "")
				default:
					row(id, upn, value+"_lost", "")
				}
			}
		}
	}
	diff(cur, prev, true)
	diff(prev, cur, false)
	slices.Sort(out)
	return out
}

// gotChanges reads a slice's registration_changes back, checking each row
// names the previous snapshot it was compared with.
func gotChanges(t *testing.T, wh *load.Warehouse, key, prev schemas.Key) []string {
	t.Helper()
	tab := readSlice(t, wh, schemas.RegistrationChangesTable, key)
	ids, upns, kinds := stringsOf(t, tab, "user_id"), stringsOf(t, tab, "user_principal_name"), stringsOf(t, tab, "change")
	methods := valuesOf(t, tab, "auth_method", func(a arrow.Array, i int) string {
		if a.IsNull(i) {
			return ""
		}
		return a.(*array.String).Value(i)
	})
	prevDates := valuesOf(t, tab, "previous_snapshot_date", func(a arrow.Array, i int) arrow.Date32 {
		return a.(*array.Date32).Value(i)
	})
	var out []string
	for i := range ids {
		if want := arrow.Date32FromTime(prev.Date); prevDates[i] != want {
			t.Fatalf("row %d compares with %s, want %s", i, prevDates[i].FormattedString(), prev.DateString())
		}
		out = append(out, strings.Join([]string{ids[i], upns[i], kinds[i], methods[i]}, "|"))
	}
	slices.Sort(out)
	return out
}

func checkChanges(t *testing.T, wh *load.Warehouse, prev, key schemas.Key, endpoint schemas.Endpoint) []string {
	t.Helper()
	want := wantChanges(sliceStates(t, wh, prev, endpoint), sliceStates(t, wh, key, endpoint))
	got := gotChanges(t, wh, key, prev)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: %d change rows, want %d (set differences with %s); e.g. %v", key.DateString(), len(got), len(want),
			prev.DateString(), firstDifferences(got, want))
	}
	return got
}

func firstDifferences(got, want []string) []string {
	var out []string
	for _, s := range got {
		if !slices.Contains(want, s) && len(out) < 4 {
			out = append(out, "extra "+s)
		}
	}
	for _, s := range want {
		if !slices.Contains(got, s) && len(out) < 8 {
			out = append(out, "missing "+s)
		}
	}
	return out
}

// checkSummary compares the slice's summary row with counts taken from
// its user_registration_details and user_auth_methods directly.
func checkSummary(t *testing.T, wh *load.Warehouse, key schemas.Key) {
	t.Helper()
	ut := readSlice(t, wh, schemas.UserRegistrationDetailsTable, key)
	mt := readSlice(t, wh, schemas.UserAuthMethodsTable, key)
	ids := stringsOf(t, ut, "user_id")
	want := map[string]int64{"users": int64(len(ids)), "method_rows": mt.NumRows()}
	mfa, admin := boolsOf(t, ut, "is_mfa_registered"), boolsOf(t, ut, "is_admin")
	for i := range ids {
		if mfa[i] {
			want["mfa_registered"]++
		}
		if admin[i] {
			want["admins"]++
			if !mfa[i] {
				want["admins_without_mfa"]++
			}
		}
	}
	for _, n := range valuesOf(t, ut, "auth_method_count", func(a arrow.Array, i int) int64 { return a.(*array.Int64).Value(i) }) {
		if n == 0 {
			want["users_without_methods"]++
		}
	}
	fam := map[string]map[string]bool{}
	mu, mf := stringsOf(t, mt, "user_id"), stringsOf(t, mt, "method_family")
	for i := range mu {
		if fam[mf[i]] == nil {
			fam[mf[i]] = map[string]bool{}
		}
		fam[mf[i]][mu[i]] = true
	}
	for f, users := range fam {
		want["users_"+f] = int64(len(users))
	}
	st := readSlice(t, wh, schemas.RegistrationDailySummaryTable, key)
	if st.NumRows() != 1 {
		t.Fatalf("%s: %d summary rows, want 1", key.DateString(), st.NumRows())
	}
	for name, w := range want {
		got := valuesOf(t, st, name, func(a arrow.Array, i int) int64 { return a.(*array.Int64).Value(i) })[0]
		if got != w {
			t.Errorf("%s: summary %s = %d, want %d", key.DateString(), name, got, w)
		}
	}
	share := valuesOf(t, st, "mfa_registered_share", func(a arrow.Array, i int) float64 { return a.(*array.Float64).Value(i) })[0]
	if w := float64(want["mfa_registered"]) / float64(want["users"]); share != w {
		t.Errorf("%s: mfa_registered_share = %v, want %v", key.DateString(), share, w)
	}
}

// Daily runs of an evolving tenant, with a missed night: the first slice
// has no changes and says so; each later one holds exactly the set
// differences with the newest earlier slice, whatever order Graph listed
// the users in; the summary matches the slice; a replay derives the same
// changes; and a slice from the other report is not compared.
func TestDerivedTablesFollowTheSnapshots(t *testing.T) {
	first := testDay.AddDate(0, 0, -60)
	clock := graphsim.NewClock(first.Add(10 * time.Hour))
	e := newEnv(t, graphsim.Options{Seed: 11, Now: clock.Now, Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 3000}}})
	ctx := context.Background()
	run := func(day time.Time, endpoint schemas.Endpoint) (*Manifest, schemas.Key) {
		t.Helper()
		clock.Advance(day.Add(10 * time.Hour).Sub(clock.Now()))
		o := e.options(t, endpoint)
		o.Key.Date = day
		o.History = ParquetSink{Warehouse: e.wh}
		m, err := RunTenant(ctx, o)
		if err != nil {
			t.Fatalf("%s: %v", day.Format(time.DateOnly), err)
		}
		return m, o.Key
	}
	// Days 0, 20, 21 and 40 (missed nights between): enough time for users
	// to register, drop methods, join and leave.
	m0, k0 := run(first, schemas.UserRegistrationDetails)
	if !m0.Changes.FirstSnapshot || m0.Changes.Rows != 0 {
		t.Errorf("first snapshot: changes %+v, want first_snapshot and no rows", m0.Changes)
	}
	if n := readSlice(t, e.wh, schemas.RegistrationChangesTable, k0).NumRows(); n != 0 {
		t.Errorf("first snapshot has %d change rows", n)
	}
	checkSummary(t, e.wh, k0)
	prev := k0
	kinds := map[string]bool{}
	var mid *Manifest
	var midKey schemas.Key
	var midRows []string
	for _, d := range []int{20, 21, 40} {
		m, k := run(first.AddDate(0, 0, d), schemas.UserRegistrationDetails)
		rows := checkChanges(t, e.wh, prev, k, schemas.UserRegistrationDetails)
		checkSummary(t, e.wh, k)
		if m.Changes.PreviousSnapshotDate != prev.DateString() || m.Changes.Rows != int64(len(rows)) || m.Changes.PreviousRunID == "" {
			t.Errorf("%s: manifest changes %+v, want previous %s and %d rows", k.DateString(), m.Changes, prev.DateString(), len(rows))
		}
		for _, r := range rows {
			kinds[strings.Split(r, "|")[2]] = true
		}
		if d == 20 {
			mid, midKey, midRows = m, k, rows
		}
		prev = k
	}
	for _, k := range []string{"appeared", "method_added", "method_removed", "mfa_registered_gained"} {
		if !kinds[k] {
			t.Errorf("no %s rows over 40 days of an evolving tenant; the check would prove little", k)
		}
	}

	// A replay of day 20 from its raw run compares with day 0 again.
	_, err := ReplayTenant(ctx, ReplayOptions{Raw: e.options(t, schemas.UserRegistrationDetails).Raw, Prefix: mid.Raw.Prefix,
		Sink: ParquetSink{Warehouse: e.wh}})
	if err != nil {
		t.Fatal(err)
	}
	if got := checkChanges(t, e.wh, k0, midKey, schemas.UserRegistrationDetails); !slices.Equal(got, midRows) {
		t.Errorf("the replay derived %d change rows, the run %d", len(got), len(midRows))
	}

	// The beta report's snapshot the day after is not compared with v1.0's.
	m, k := run(first.AddDate(0, 0, 41), schemas.CredentialUserRegistrationDetails)
	if m.Changes.Skipped == "" || m.Changes.Rows != 0 || m.Changes.FirstSnapshot {
		t.Errorf("beta after v1.0: changes %+v, want skipped with a reason", m.Changes)
	}
	if n := readSlice(t, e.wh, schemas.RegistrationChangesTable, k).NumRows(); n != 0 {
		t.Errorf("beta after v1.0: %d change rows", n)
	}
	st := readSlice(t, e.wh, schemas.RegistrationDailySummaryTable, k)
	if col := st.Column(st.Schema().FieldIndices("admins")[0]); col.NullN() != 1 {
		t.Error("the beta report's summary counts admins it does not report")
	}
}
