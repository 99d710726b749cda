package trends

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

var fixtureStart = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

// standardFixture is 40 days of a 200-user tenant with three missed days.
func standardFixture() *fixture {
	return &fixture{tenant: "11111111-1111-1111-1111-111111111111", start: fixtureStart, days: 40, users: 200,
		skip: map[int]bool{10: true, 11: true, 25: true}}
}

// shared is the standard fixture, written once for the tests that only
// read it: writing Parquet is what takes the time under -race.
var shared struct {
	once sync.Once
	wh   *load.Warehouse
}

func standardWarehouse(t *testing.T) (*load.Warehouse, *fixture) {
	t.Helper()
	shared.once.Do(func() {
		wh, err := load.OpenWarehouse(context.Background(), "mem://")
		if err != nil {
			t.Fatal(err)
		}
		standardFixture().write(t, wh)
		shared.wh = wh
	})
	if shared.wh == nil {
		t.Fatal("the standard fixture could not be written (see the first test that used it)")
	}
	return shared.wh, standardFixture()
}

func loadFixture(t *testing.T, opts Options) (*History, *fixture) {
	t.Helper()
	wh, f := standardWarehouse(t)
	h, err := Load(context.Background(), wh, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h, f
}

func TestLoadListsMissingDaysAndKeepsThemEmpty(t *testing.T) {
	h, f := loadFixture(t, Options{})
	if len(h.Tenants) != 1 {
		t.Fatalf("%d tenants, want 1", len(h.Tenants))
	}
	th := h.Tenants[0]
	if !th.Start.Equal(f.date(0)) || !h.To.Equal(f.date(39)) {
		t.Errorf("range %s..%s, want the first snapshot %s to the latest %s", th.Start, h.To, f.date(0), f.date(39))
	}
	want := []time.Time{f.date(10), f.date(11), f.date(25)}
	if !slices.EqualFunc(th.Missing, want, time.Time.Equal) {
		t.Errorf("missing %v, want %v", th.Missing, want)
	}
	if got := DayList(th.Missing); got != "2026-10-11..2026-10-12, 2026-10-26" {
		t.Errorf("DayList = %q", got)
	}
	for i, d := range th.Days {
		if (d == nil) != f.skip[i] {
			t.Errorf("day %d: present %v, skipped %v", i, d != nil, f.skip[i])
		}
	}
}

func TestLoadRange(t *testing.T) {
	wh := newMemWarehouse(t)
	f := standardFixture()
	f.write(t, wh)
	other := &fixture{tenant: "22222222-2222-2222-2222-222222222222", start: fixtureStart.AddDate(0, 0, 20), days: 5, users: 30}
	other.write(t, wh)
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		opts        Options
		tenants     int
		start, to   time.Time
		missing     int
		wantErr     error
		firstTenant string
	}{
		{name: "defaults", opts: Options{}, tenants: 2, start: f.date(0), to: f.date(39), missing: 3},
		{name: "from and to", opts: Options{From: f.date(5), To: f.date(12)}, tenants: 1, start: f.date(5), to: f.date(12), missing: 2},
		{name: "one tenant, any case", opts: Options{Tenants: []string{strings.ToUpper(other.tenant)}}, tenants: 1,
			start: other.date(0), to: other.date(4), firstTenant: other.tenant},
		{name: "to past a tenant's last day", opts: Options{To: f.date(39), Tenants: []string{other.tenant}}, tenants: 1,
			start: other.date(0), to: f.date(39), missing: 15, firstTenant: other.tenant},
		{name: "unknown tenant", opts: Options{Tenants: []string{"33333333-3333-3333-3333-333333333333"}}, wantErr: ErrNoSnapshots},
		{name: "nothing in range", opts: Options{From: f.date(100), To: f.date(110)}, wantErr: ErrNoSnapshots},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Load(ctx, wh, tc.opts)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Tenants) != tc.tenants {
				t.Fatalf("%d tenants, want %d", len(h.Tenants), tc.tenants)
			}
			th := h.Tenants[0]
			if tc.firstTenant != "" && th.Tenant != tc.firstTenant {
				t.Errorf("tenant %s, want %s", th.Tenant, tc.firstTenant)
			}
			if !th.Start.Equal(tc.start) || !h.To.Equal(tc.to) {
				t.Errorf("range %s..%s, want %s..%s", th.Start.Format(time.DateOnly), h.To.Format(time.DateOnly),
					tc.start.Format(time.DateOnly), tc.to.Format(time.DateOnly))
			}
			if len(th.Missing) != tc.missing {
				t.Errorf("missing %s, want %d days", DayList(th.Missing), tc.missing)
			}
		})
	}
}

func TestLoadDayWithoutSummaryIsAGapListedApart(t *testing.T) {
	wh, dir := newWarehouse(t)
	f := &fixture{tenant: "11111111-1111-1111-1111-111111111111", start: fixtureStart, days: 6, users: 50, skip: map[int]bool{2: true}}
	f.write(t, wh)
	removeSummary(t, dir, schemas.Key{Date: f.date(4), Tenant: f.tenant})
	h, err := Load(context.Background(), wh, Options{})
	if err != nil {
		t.Fatal(err)
	}
	th := h.Tenants[0]
	if th.Days[4] != nil || len(th.NoSummary) != 1 || !th.NoSummary[0].Equal(f.date(4)) || len(th.Missing) != 1 {
		t.Errorf("day 4 %v, no summary %v, missing %v", th.Days[4], th.NoSummary, th.Missing)
	}
}

// The JSON numbers are the summary rows', column for column.
func TestWriteJSONEqualsSummaryRows(t *testing.T) {
	h, f := loadFixture(t, Options{})
	var buf bytes.Buffer
	if err := WriteJSON(&buf, h); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	n := 0
	for sc.Scan() {
		var got map[string]any
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("line %d: %v: %s", n+1, err, sc.Text())
		}
		d := daysBetween(f.start, mustDate(t, got["snapshot_date"]))
		want := f.summary(d)
		mfa, sspr := float64(*want.Flags[0]), float64(*want.Flags[2])
		users := float64(want.Users)
		for col, v := range map[string]float64{
			"users": users, "mfa_registered": mfa, "mfa_registered_share": mfa / users,
			"sspr_registered": sspr, "sspr_registered_share": sspr / users,
			"passwordless_capable": float64(*want.Flags[5]), "admins_without_mfa": float64(*want.AdminsWithoutMFA),
			"users_authenticator_app": float64(want.Families[0]),
		} {
			if g, ok := got[col].(float64); !ok || math.Abs(g-v) > 1e-12 {
				t.Errorf("%s %s = %v, want %v", got["snapshot_date"], col, got[col], v)
			}
		}
		if got["tenant_id"] != f.tenant || got["run_id"] != want.RunID {
			t.Errorf("tenant %v run %v", got["tenant_id"], got["run_id"])
		}
		if len(got) != len(schemas.RegistrationDailySummaryTable.Columns) {
			t.Errorf("%d keys, want every column of the summary (%d)", len(got), len(schemas.RegistrationDailySummaryTable.Columns))
		}
		n++
	}
	if n != 37 {
		t.Errorf("%d lines, want 37 (40 days, 3 missing)", n)
	}
}

func mustDate(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestWriteCSV(t *testing.T) {
	h, f := loadFixture(t, Options{})
	var buf bytes.Buffer
	if err := WriteCSV(&buf, h); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 38 || recs[0][0] != "snapshot_date" || recs[0][2] != "source" {
		t.Fatalf("%d records, header %v", len(recs), recs[0])
	}
	last := recs[len(recs)-1]
	want := f.summary(39)
	if last[0] != "2026-11-09" || last[1] != f.tenant {
		t.Errorf("last row %v", last[:5])
	}
	col := slices.Index(recs[0], "users")
	if last[col] != itoa(want.Users) {
		t.Errorf("users %s, want %d", last[col], want.Users)
	}
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }

func TestWriteTable(t *testing.T) {
	h, f := loadFixture(t, Options{})
	var buf bytes.Buffer
	if err := WriteTable(&buf, h); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	first, last := f.summary(0), f.summary(39)
	mfa := pct(float64(*first.Flags[0])/float64(first.Users)) + " → " + pct(float64(*last.Flags[0])/float64(last.Users))
	pwl := pct(float64(*first.Flags[5])/float64(first.Users)) + " → " + pct(float64(*last.Flags[5])/float64(last.Users))
	for _, want := range []string{"tenant 11111111-1111-1111-1111-111111111111", "37 of 40 days", "MFA registered", mfa, pwl,
		"missing days: 2026-10-11..2026-10-12, 2026-10-26"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	// The MFA line's sparkline has a space for each missed day.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "MFA registered") {
			spark := []rune(line[strings.LastIndex(line, "%")+1:])
			spark = []rune(strings.TrimSpace(string(spark)))
			if len(spark) != 40 || spark[10] != ' ' || spark[11] != ' ' || spark[25] != ' ' || spark[0] != '▁' || spark[39] == ' ' {
				t.Errorf("sparkline %q", string(spark))
			}
		}
	}
}

func TestSparkline(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name  string
		in    []float64
		width int
		want  string
	}{
		{"rising", []float64{0, 1, 2, 3, 4, 5, 6, 7}, 0, "▁▂▃▄▅▆▇█"},
		{"gap", []float64{0, nan, 7}, 0, "▁ █"},
		{"flat", []float64{3, 3}, 0, "▄▄"},
		{"shared cells keep a gap", []float64{0, 1, 2, nan, 6, 7}, 3, "▁ █"},
		{"empty", nil, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sparkline(tc.in, tc.width); got != tc.want {
				t.Errorf("Sparkline = %q, want %q", got, tc.want)
			}
		})
	}
}
