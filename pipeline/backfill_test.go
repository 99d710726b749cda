package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/schemas"
)

// backfillEnv holds two tenants' runs over three days: tenant A on every
// day, tenant B on the first and last, and on the middle one only a raw
// run that never completed.
type backfillEnv struct {
	*env
	o          Options
	tenants    [2]string
	days       [4]schemas.Key // days[3] has no raw data
	incomplete string         // the run id of B's incomplete raw run
	rows       map[string][]string
}

func newBackfillEnv(t *testing.T) *backfillEnv {
	t.Helper()
	tenants := [2]string{graphsim.DefaultTenantID, "7e2a1c44-5b1f-4c2e-9a3d-0f6b8e9d1c2a"}
	e := &backfillEnv{env: newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{
		{ID: tenants[0], Users: 300}, {ID: tenants[1], Users: 200}}}), tenants: tenants, rows: map[string][]string{}}
	e.o = e.options(t, schemas.UserRegistrationDetails)
	e.o.Shards = 1
	for i := range e.days {
		e.days[i] = schemas.Key{Date: testDay.AddDate(0, 0, i), Tenant: tenants[0]}
	}
	for _, k := range []schemas.Key{e.days[0], e.days[1], e.days[2], at(e.days[0], tenants[1]), at(e.days[2], tenants[1])} {
		o := e.o
		o.Key = k
		if _, err := RunTenant(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		for _, table := range schemas.Tables {
			e.rows[rowsKey(table, k)] = rowStrings(t, readSlice(t, e.wh, table, k))
		}
	}
	e.incomplete = "20261121T000000Z-abcdef"
	z := extract.NewRawZone(e.o.Raw, at(e.days[1], tenants[1]), schemas.UserRegistrationDetails, e.incomplete)
	if err := z.Finish(context.Background(), extract.RawIndex{Tenant: tenants[1], SnapshotDate: e.days[1].DateString(),
		Endpoint: schemas.UserRegistrationDetails, RunID: e.incomplete}, false); err != nil {
		t.Fatal(err)
	}
	return e
}

func at(k schemas.Key, tenant string) schemas.Key { return schemas.Key{Date: k.Date, Tenant: tenant} }

func rowsKey(t *schemas.Table, k schemas.Key) string {
	return t.Name + "/" + k.DateString() + "/" + k.Tenant
}

func (e *backfillEnv) backfillOptions(build Build) BackfillOptions {
	return BackfillOptions{Raw: e.o.Raw, Sink: e.o.Sink, From: e.days[0].Date, To: e.days[3].Date, Build: build,
		Replay: ReplayOptions{RawURL: e.rawDir}}
}

// outcomes renders a result as "date tenant-prefix outcome" lines.
func outcomes(r BackfillResult) []string {
	var out []string
	for _, s := range r.Slices {
		out = append(out, fmt.Sprintf("%s %s %s", s.Key.DateString(), s.Key.Tenant[:4], s.Outcome))
	}
	return out
}

func (e *backfillEnv) checkRows(t *testing.T) {
	t.Helper()
	for key, want := range e.rows {
		table, rest, _ := strings.Cut(key, "/")
		date, tenant, _ := strings.Cut(rest, "/")
		tab, _ := schemas.TableByName(table)
		k := schemas.Key{Date: mustDay(t, date), Tenant: tenant}
		if got := rowStrings(t, readSlice(t, e.wh, tab, k)); !slices.Equal(got, want) {
			t.Errorf("%s: %d rows after the backfill, %d before, or they differ", key, len(got), len(want))
		}
	}
}

func mustDay(t *testing.T, s string) (d time.Time) {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A backfill replays what another build wrote, and only that: the same
// rows come back, every day of every tenant is reported, and a second
// backfill by the same build finds everything up to date.
func TestBackfillReplaysWhatAnotherBuildWrote(t *testing.T) {
	e := newBackfillEnv(t)
	ctx := context.Background()
	a, b := e.tenants[0][:4], e.tenants[1][:4]
	d := func(i int) string { return e.days[i].DateString() }

	plans, err := PlanBackfill(ctx, e.backfillOptions(Build{}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range plans {
		got = append(got, fmt.Sprintf("%s %s %s", p.Key.DateString(), p.Key.Tenant[:4], p.Action))
	}
	want := []string{d(0) + " " + a + " up_to_date", d(1) + " " + a + " up_to_date", d(2) + " " + a + " up_to_date",
		d(3) + " " + a + " no_raw_data", d(0) + " " + b + " up_to_date", d(1) + " " + b + " no_raw_data",
		d(2) + " " + b + " up_to_date", d(3) + " " + b + " no_raw_data"}
	slices.Sort(want) // tenant ids sort as they do
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("plan by the build that ran:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, p := range plans {
		if p.Key.Tenant == e.tenants[1] && p.Key.Date.Equal(e.days[1].Date) && !strings.Contains(p.Why, "1 incomplete") {
			t.Errorf("B's middle day: why %q, want it to name the incomplete run", p.Why)
		}
	}

	other := Build{Version: "v9.9.9", Revision: "0123456789abcdef"}
	var order []string
	o := e.backfillOptions(other)
	o.Finished = func(r SliceResult) { order = append(order, r.Key.Tenant[:4]+" "+r.Key.DateString()) }
	res, err := Backfill(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Err() != nil || res.Count(OutcomeReplayed) != 5 || res.Count(OutcomeNoRaw) != 3 {
		t.Fatalf("backfill by another build: %v\n%s", res.Err(), strings.Join(outcomes(res), "\n"))
	}
	for _, tenant := range []string{a, b} {
		var mine []string
		for _, s := range order {
			if strings.HasPrefix(s, tenant) {
				mine = append(mine, s)
			}
		}
		if !slices.IsSorted(mine) {
			t.Errorf("tenant %s finished out of date order: %v", tenant, mine)
		}
	}
	e.checkRows(t)
	for _, s := range res.Slices {
		if s.Outcome != OutcomeReplayed {
			continue
		}
		m := s.Manifest
		if m.ReplayedFrom == nil || m.ReplayedFrom.RunID != s.RawRun || m.Build != other || m.Raw.Digest == "" {
			t.Errorf("%s %s: manifest replayed_from %+v build %+v digest %q", s.Key.DateString(), s.Key.Tenant, m.ReplayedFrom, m.Build, m.Raw.Digest)
		}
	}

	res, err = Backfill(ctx, e.backfillOptions(other))
	if err != nil {
		t.Fatal(err)
	}
	if res.Count(OutcomeUpToDate) != 5 || res.Count(OutcomeReplayed) != 0 {
		t.Errorf("second backfill by the same build:\n%s", strings.Join(outcomes(res), "\n"))
	}

	// A slice whose manifest is gone is rebuilt; the rest stay.
	if err := os.Remove(filepath.Join(e.whDir, "_manifests", "snapshot_date="+d(1), "tenant_id="+e.tenants[0]+".json")); err != nil {
		t.Fatal(err)
	}
	res, err = Backfill(ctx, e.backfillOptions(other))
	if err != nil {
		t.Fatal(err)
	}
	if res.Count(OutcomeReplayed) != 1 || res.Slices[1].Outcome != OutcomeReplayed || res.Slices[1].Why != "no slice yet" {
		t.Errorf("after removing one manifest:\n%s", strings.Join(outcomes(res), "\n"))
	}
}

// A slice that fails to replay fails alone, keeps what was published, and
// makes the backfill partial; a named incomplete raw run is replayed.
func TestBackfillFailsSlicesAlone(t *testing.T) {
	e := newBackfillEnv(t)
	ctx := context.Background()
	bad := at(e.days[2], e.tenants[1])
	runs, err := extract.ListRawRuns(ctx, e.o.Raw, bad)
	if err != nil || len(runs) != 1 {
		t.Fatalf("raw runs of %v: %v %v", bad, runs, err)
	}
	page := filepath.Join(e.rawDir, filepath.FromSlash(runs[0].Pages[0].Key))
	if err := os.WriteFile(page, []byte("not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := e.wh.ReadManifest(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	o := e.backfillOptions(Build{})
	o.Force = true
	res, err := Backfill(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count(OutcomeFailed) != 1 || res.Count(OutcomeReplayed) != 4 || !errors.Is(res.Err(), ErrPartial) {
		t.Fatalf("one bad raw page: %v\n%s", res.Err(), strings.Join(outcomes(res), "\n"))
	}
	after, err := e.wh.ReadManifest(ctx, bad)
	if err != nil || string(after) != string(before) {
		t.Errorf("the failed slice's manifest changed (%v)", err)
	}
	e.checkRows(t)

	o = e.backfillOptions(Build{})
	o.RawRun, o.Tenants = e.incomplete, []string{strings.ToUpper(e.tenants[1])}
	res, err = Backfill(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var named SliceResult
	for _, s := range res.Slices {
		if s.RawRun == e.incomplete {
			named = s
		} else if s.Outcome != OutcomeNoRaw {
			t.Errorf("%s: %s, want no_raw_data with --raw-run naming another day's run", s.Key.DateString(), s.Outcome)
		}
	}
	// The named run landed no page: replayed, it is an empty snapshot.
	if !errors.Is(named.Err, ErrEmptySnapshot) {
		t.Errorf("the named incomplete run: %s %v, want it replayed (and found empty)", named.Outcome, named.Err)
	}
}

// A slice published by another process between the plan and its replay is
// not swapped back to older data: checked again under the slice's lease,
// it is reported up to date when it is, and refused when a newer raw run
// landed.
func TestBackfillChecksItsPlanUnderTheLease(t *testing.T) {
	e := newBackfillEnv(t)
	ctx := context.Background()
	other := Build{Version: "v9.9.9", Revision: "0123456789abcdef"}
	o := e.backfillOptions(other)
	o.Tenants = []string{e.tenants[0]}
	plan, err := PlanBackfill(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	// Meanwhile: a run lands a newer raw run of day 0 and publishes it,
	// and another backfill by the same build publishes day 1.
	run := e.o
	run.Key = e.days[0]
	// Run ids sort by the second they start in: this one is newer even
	// when the environment's runs started within the same second.
	run.RunID = NewRunID(time.Now().Add(time.Minute))
	rm, err := RunTenant(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	one := e.backfillOptions(other)
	one.Tenants, one.From, one.To = []string{e.tenants[0]}, e.days[1].Date, e.days[1].Date
	if res, err := Backfill(ctx, one); err != nil || res.Count(OutcomeReplayed) != 1 {
		t.Fatalf("backfill of day 1: %v %v", err, outcomes(res))
	}

	o.Plan = plan
	res, err := Backfill(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	d0, d1, d2 := res.Slices[0], res.Slices[1], res.Slices[2]
	if !errors.Is(d0.Err, ErrRawZoneChanged) {
		t.Errorf("day 0, whose newer raw run was published meanwhile: %s %v, want ErrRawZoneChanged", d0.Outcome, d0.Err)
	}
	if m, err := e.wh.ReadManifest(ctx, e.days[0]); err != nil || !strings.Contains(string(m), rm.RunID) {
		t.Errorf("day 0's slice is no longer the run's (%v)", err)
	}
	if d1.Outcome != OutcomeUpToDate || !strings.Contains(d1.Why, "published meanwhile") {
		t.Errorf("day 1, published meanwhile by the same build: %s %q", d1.Outcome, d1.Why)
	}
	if d2.Outcome != OutcomeReplayed {
		t.Errorf("day 2: %s %v, want replayed", d2.Outcome, d2.Err)
	}
}

// A rerun of a day leaves the next day's registration_changes comparing
// with data that is gone: a backfill over the range replays that next day,
// and a backfill of the rerun day alone replays the first slice after it.
// Once done, every slice's changes compare with its previous slice as it
// is, and nothing more is planned.
func TestBackfillRebuildsChangesThatCompareWithARebuiltDay(t *testing.T) {
	e := newBackfillEnv(t)
	ctx := context.Background()
	digest := func(k schemas.Key) string {
		m, err := readSliceManifest(ctx, ParquetSink{Warehouse: e.wh}, k)
		if err != nil {
			t.Fatal(err)
		}
		return m.Raw.Digest
	}
	rerun := func() {
		o := e.o
		o.Key = e.days[1]
		o.Source.PageSize = 37 // other pages: another raw checksum
		// Run ids sort by their second: this one must be the newest.
		o.RunID = NewRunID(time.Now().Add(time.Minute))
		before := digest(e.days[1])
		if _, err := RunTenant(ctx, o); err != nil {
			t.Fatal(err)
		}
		if digest(e.days[1]) == before {
			t.Fatal("the rerun landed the same raw checksum; the test proves nothing")
		}
	}
	actions := func(o BackfillOptions) map[string]SlicePlan {
		plan, err := PlanBackfill(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]SlicePlan{}
		for _, p := range plan {
			if p.Key.Tenant == e.tenants[0] {
				out[p.Key.DateString()] = p
			}
		}
		return out
	}
	o := e.backfillOptions(CurrentBuild())
	o.Tenants = []string{e.tenants[0]}
	if res, err := Backfill(ctx, o); err != nil || res.Err() != nil {
		t.Fatalf("first backfill: %v %v", err, outcomes(res))
	}

	rerun()
	plan := actions(o)
	if p := plan[e.days[2].DateString()]; p.Action != ActionReplay || !strings.Contains(p.Why, "registration_changes") {
		t.Errorf("the day after a rerun day: %s %q, want a replay for its changes", p.Action, p.Why)
	}
	if p := plan[e.days[1].DateString()]; p.Action != ActionUpToDate {
		t.Errorf("the rerun day itself: %s %q, want up to date", p.Action, p.Why)
	}

	one := o
	one.From, one.To, one.Force = e.days[1].Date, e.days[1].Date, true
	plan = actions(one)
	follow, ok := plan[e.days[2].DateString()]
	if !ok || follow.Action != ActionReplay || !strings.Contains(follow.Why, "after the range") {
		t.Fatalf("a backfill of day 1 alone plans day 2 as %+v, want a replay after the range", follow)
	}
	if _, err := Backfill(ctx, one); err != nil {
		t.Fatal(err)
	}
	m, err := readSliceManifest(ctx, ParquetSink{Warehouse: e.wh}, e.days[2])
	if err != nil {
		t.Fatal(err)
	}
	if m.Changes.PreviousSnapshotDate != e.days[1].DateString() || m.Changes.PreviousRawDigest != digest(e.days[1]) {
		t.Errorf("day 2's changes compare with %+v, want day 1 as it is now", m.Changes)
	}
	for d, p := range actions(o) {
		if p.Action != ActionUpToDate && p.Action != ActionNoRaw {
			t.Errorf("%s after the backfills: %s %q", d, p.Action, p.Why)
		}
	}
}
