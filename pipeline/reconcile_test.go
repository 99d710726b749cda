package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// churnEnv is a simulated tenant that changes while it is read, with the
// previous day's snapshot already published (read unsharded, so it holds
// every user of that day).
type churnEnv struct {
	*env
	clock *graphsim.Clock
	prev  schemas.Key
}

func newChurnEnv(t *testing.T, seed int64, users int, churn graphsim.Churn) *churnEnv {
	t.Helper()
	clock := graphsim.NewClock(testDay.Add(-12 * time.Hour)) // noon the day before
	e := &churnEnv{env: newEnv(t, graphsim.Options{Seed: seed, Now: clock.Now, Churn: churn,
		Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: users}}}), clock: clock}
	o := e.options(t, schemas.UserRegistrationDetails)
	o.Key.Date = testDay.AddDate(0, 0, -1)
	o.Shards = 1
	if _, err := RunTenant(context.Background(), o); err != nil {
		t.Fatalf("previous day: %v", err)
	}
	e.prev = o.Key
	clock.Advance(24 * time.Hour)
	return e
}

// runToday runs today's sharded snapshot and returns its manifest and the
// simulator's truth over the ticks the run spanned.
func (e *churnEnv) runToday(t *testing.T, mod func(*Options)) (*Manifest, Options, []graphsim.TruthUser) {
	t.Helper()
	o := e.options(t, schemas.UserRegistrationDetails)
	o.History = ParquetSink{Warehouse: e.wh}
	if mod != nil {
		mod(&o)
	}
	t0 := e.sim.Tick(e.tenant)
	m, err := RunTenant(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return m, o, e.sim.Truth(e.tenant, testDay, t0+1, e.sim.Tick(e.tenant))
}

// landedUser is a user row as the warehouse holds it.
type landedUser struct {
	mfa     bool
	methods []string
}

func landedUsers(t *testing.T, wh *load.Warehouse, key schemas.Key) (map[string]landedUser, []string) {
	t.Helper()
	ut := readSlice(t, wh, schemas.UserRegistrationDetailsTable, key)
	ids := stringsOf(t, ut, "user_id")
	mfa := boolsOf(t, ut, "is_mfa_registered")
	out := map[string]landedUser{}
	var twice []string
	for i, id := range ids {
		if _, ok := out[id]; ok {
			twice = append(twice, id)
		}
		out[id] = landedUser{mfa: mfa[i]}
	}
	mt := readSlice(t, wh, schemas.UserAuthMethodsTable, key)
	mu, mm := stringsOf(t, mt, "user_id"), stringsOf(t, mt, "auth_method")
	for i := range mu {
		u := out[mu[i]]
		u.methods = append(u.methods, mm[i])
		out[mu[i]] = u
	}
	return out, twice
}

func boolsOf(t *testing.T, tab arrow.Table, name string) []bool {
	return valuesOf(t, tab, name, func(a arrow.Array, i int) bool {
		b := a.(*array.Boolean)
		return b.IsValid(i) && b.Value(i)
	})
}

// hadState reports whether the landed row is one of the states the user
// had during the run.
func hadState(got landedUser, states []graphsim.User) bool {
	gm := slices.Sorted(slices.Values(got.methods))
	for _, s := range states {
		wm := slices.Sorted(slices.Values(s.MethodsRegistered))
		if got.mfa == s.IsMfaRegistered && slices.Equal(slices.Compact(gm), slices.Compact(wm)) {
			return true
		}
	}
	return false
}

// Sharded runs of a tenant that changes while it is read, at a rate far
// above a real tenant's: every user that existed for the whole run and
// was in the previous snapshot lands exactly once, in a state it had
// during the run; every other user at most once; users read twice and
// users missed and recovered by id both happen; nothing is a reject; and
// a replay of the raw zone gives the same rows. The truth is graphsim's,
// not the client's view.
func TestShardedRunOfAChangingTenantLandsEveryUserOnce(t *testing.T) {
	// Pages of 50 make looking the missing users up cheaper than reading
	// the listing again, as in a large tenant; the changes fall on the
	// run's first 120 requests.
	churn := graphsim.Churn{Rate: 0.03, Created: 0.002, Deleted: 0.002, Requests: 120}
	for _, c := range []struct {
		seed  int64
		spill int // Options.SeenInMemory: past it, duplicate detection spills
	}{{1, 0}, {2, 0}, {3, 0}, {1, 64}} {
		name := fmt.Sprint("seed-", c.seed)
		if c.spill > 0 {
			name += "-spilling"
		}
		t.Run(name, func(t *testing.T) {
			e := newChurnEnv(t, c.seed, 6000, churn)
			m, o, truth := e.runToday(t, func(o *Options) { o.Source.PageSize = 50; o.SeenInMemory = c.spill })
			got, twice := landedUsers(t, e.wh, o.Key)
			if len(twice) > 0 {
				t.Fatalf("%d users landed twice, e.g. %s", len(twice), twice[0])
			}
			prevIDs, err := ParquetSink{Warehouse: e.wh}.ReadUserIDs(context.Background(), e.prev)
			if err != nil {
				t.Fatal(err)
			}
			inPrev := map[string]bool{}
			for _, id := range prevIDs {
				inPrev[id] = true
			}
			known := map[string]bool{}
			var whole, missed, wrong int
			for _, u := range truth {
				known[u.ID] = true
				g, ok := got[u.ID]
				if u.Whole && inPrev[u.ID] {
					whole++
					if !ok {
						missed++
						continue
					}
				}
				if ok && !hadState(g, u.States) {
					wrong++
					t.Errorf("user %s landed with mfa=%t methods %v, a state it never had during the run (%d states)", u.ID, g.mfa, g.methods, len(u.States))
				}
			}
			if missed > 0 {
				t.Errorf("%d of %d users that existed for the whole run and were in the previous snapshot are missing", missed, whole)
			}
			for id := range got {
				if !known[id] {
					t.Errorf("user %s landed but never existed during the run", id)
				}
			}
			r := m.Reconcile
			if r.MovedBetweenShards == 0 || r.Recovered == 0 {
				t.Errorf("reconcile %+v: churn this high must move users between shards and make some be recovered", r)
			}
			if m.Counts.Rejected != 0 || m.Counts.DuplicateIDs != 0 {
				t.Errorf("counts %+v: nothing is a reject", m.Counts)
			}
			c := m.Counts
			if c.RecordsIn != c.Users+c.Rejected+c.MovedBetweenShards {
				t.Errorf("counts do not add up: %+v", c)
			}
			if r.PreviousSnapshot != e.prev.DateString() || r.Lookups != r.Recovered+r.Gone || r.RereadUnsharded || r.Unconfirmed != 0 {
				t.Errorf("reconcile %+v", r)
			}
			t.Logf("reconcile %+v", r)
			checkMovedUsersLatest(t, o, m, got, truth)
			checkReplaySameRows(t, e.env, o, m)
		})
	}
}

// checkMovedUsersLatest: a user whose two copies (read in two shards)
// differ landed as the later of its states, not just as one it had.
func checkMovedUsersLatest(t *testing.T, o Options, m *Manifest, got map[string]landedUser, truth []graphsim.TruthUser) {
	t.Helper()
	ctx := context.Background()
	idx, err := extract.ReadRawIndex(ctx, o.Raw, m.Raw.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	copies := map[string]int{}
	for _, e := range idx.Pages {
		if e.Kind != "" || e.Invalid {
			continue
		}
		body, err := extract.ReadRawPage(ctx, o.Raw, e.Key)
		if err != nil {
			t.Fatal(err)
		}
		p, err := odata.Split(body)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			var rec struct{ ID string }
			if json.Unmarshal(r.Raw, &rec) == nil {
				copies[rec.ID]++
			}
		}
	}
	checked := 0
	for _, u := range truth {
		if copies[u.ID] < 2 || len(u.States) < 2 {
			continue
		}
		checked++
		if g, ok := got[u.ID]; !ok || !hadState(g, u.States[len(u.States)-1:]) {
			t.Errorf("user %s was read twice and changed during the run; it landed as %+v, not its later state", u.ID, g)
		}
	}
	if checked == 0 {
		t.Error("no user was read twice with two states: the check proves nothing")
	}
}

// checkReplaySameRows replays the run's raw zone into a fresh warehouse
// and compares every row of every table, run_id aside, but the changes,
// which the fresh warehouse has nothing to derive from.
func checkReplaySameRows(t *testing.T, e *env, o Options, m *Manifest) *Manifest {
	t.Helper()
	wh, err := load.OpenWarehouse(context.Background(), filepath.Join(t.TempDir(), "replayed"))
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	rm, err := ReplayTenant(context.Background(), ReplayOptions{Raw: o.Raw, Prefix: m.Raw.Prefix, Sink: ParquetSink{Warehouse: wh}})
	if err != nil {
		t.Fatal(err)
	}
	if rm.ReplayedFrom == nil || rm.ReplayedFrom.RunID != m.RunID {
		t.Errorf("replayed_from %+v, want run %s", rm.ReplayedFrom, m.RunID)
	}
	if !rm.Changes.FirstSnapshot {
		t.Errorf("a replay into an empty warehouse compared with %+v", rm.Changes)
	}
	for _, table := range schemas.Tables {
		if table == schemas.RegistrationChangesTable {
			continue // the fresh warehouse has no previous snapshot to compare with
		}
		want := rowStrings(t, readSlice(t, e.wh, table, o.Key))
		got := rowStrings(t, readSlice(t, wh, table, o.Key))
		if !slices.Equal(got, want) {
			t.Errorf("%s: the replay has %d rows, the run %d, or they differ", table.Name, len(got), len(want))
		}
	}
	return rm
}

// rowStrings renders every row but its run_id, sorted.
func rowStrings(t *testing.T, tab arrow.Table) []string {
	t.Helper()
	return rowStringsWithout(t, tab, "run_id")
}

// rowStringsWithout renders every row but the skipped columns, sorted.
func rowStringsWithout(t *testing.T, tab arrow.Table, skip ...string) []string {
	t.Helper()
	rows := make([]strings.Builder, tab.NumRows())
	for c, f := range tab.Schema().Fields() {
		if slices.Contains(skip, f.Name) {
			continue
		}
		i := 0
		for _, chunk := range tab.Column(c).Data().Chunks() {
			for j := range chunk.Len() {
				rows[i].WriteString(chunk.ValueStr(j))
				rows[i].WriteByte('|')
				i++
			}
		}
	}
	out := make([]string, len(rows))
	for i := range rows {
		out[i] = rows[i].String()
	}
	sort.Strings(out)
	return out
}

// When looking the missing users up would cost more requests than the
// listing, the run reads the listing again unsharded: one listing in one
// order misses no one by a flip. Past the lookup cap, and on the beta
// report (no lookup by id), the missing users are counted as unconfirmed.
func TestReconcileRereadsOrCountsWhatItCannotConfirm(t *testing.T) {
	churn := graphsim.Churn{Rate: 0.08, Created: 0.005, Deleted: 0.005, Requests: 8}
	t.Run("reread", func(t *testing.T) {
		e := newChurnEnv(t, 4, 6000, churn)
		m, o, truth := e.runToday(t, nil)
		got, twice := landedUsers(t, e.wh, o.Key)
		r := m.Reconcile
		if !r.RereadUnsharded || r.Lookups != 0 || len(m.Shards) != 1 || len(twice) > 0 {
			t.Fatalf("reconcile %+v, shards %v, %d twice: want an unsharded re-read", r, m.Shards, len(twice))
		}
		for _, u := range truth {
			if _, ok := got[u.ID]; u.Whole && !ok {
				t.Errorf("user %s existed for the whole run and is missing", u.ID)
			}
		}
		if r.Gone == 0 || m.Counts.Rejected != 0 || r.Missing != r.Gone {
			t.Errorf("reconcile %+v, counts %+v", r, m.Counts)
		}
		prevIDs, err := ParquetSink{Warehouse: e.wh}.ReadUserIDs(context.Background(), e.prev)
		if err != nil {
			t.Fatal(err)
		}
		newUsers := int64(len(got))
		for _, id := range prevIDs {
			if _, ok := got[id]; ok {
				newUsers--
			}
		}
		if r.NewUsers != newUsers {
			t.Errorf("reconcile says %d new users; %d landed users are not in the previous snapshot", r.NewUsers, newUsers)
		}
		checkReplaySameRows(t, e.env, o, m)
	})
	t.Run("cap", func(t *testing.T) {
		e := newChurnEnv(t, 5, 6000, graphsim.Churn{Rate: 0.03, Requests: 120})
		m, _, _ := e.runToday(t, func(o *Options) { o.Source.PageSize = 50; o.MaxLookups = 3 })
		r := m.Reconcile
		if r.Lookups != 3 || r.Unconfirmed != r.Missing-3 || r.Unconfirmed == 0 || r.Note == "" {
			t.Errorf("reconcile %+v: want 3 lookups and the rest unconfirmed", r)
		}
	})
	t.Run("beta", func(t *testing.T) {
		clock := graphsim.NewClock(testDay.Add(-12 * time.Hour))
		e := newEnv(t, graphsim.Options{Seed: 6, Now: clock.Now, Churn: graphsim.Churn{Rate: 0.08, Requests: 6},
			Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 6000}}})
		o := e.options(t, schemas.CredentialUserRegistrationDetails)
		o.Key.Date = testDay.AddDate(0, 0, -1)
		o.Shards = 1
		if _, err := RunTenant(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		clock.Advance(24 * time.Hour)
		o = e.options(t, schemas.CredentialUserRegistrationDetails)
		o.History = ParquetSink{Warehouse: e.wh}
		m, err := RunTenant(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		r := m.Reconcile
		if r.Missing == 0 || r.Unconfirmed != r.Missing || r.Lookups != 0 || !strings.Contains(r.Note, "no lookup") {
			t.Errorf("reconcile %+v: the beta report's missing users are unconfirmed", r)
		}
		if e.sim.Stats().Lookups != 0 {
			t.Errorf("%d lookups on the beta report", e.sim.Stats().Lookups)
		}
	})
	t.Run("no previous snapshot", func(t *testing.T) {
		e := newEnv(t, graphsim.Options{})
		o := e.options(t, schemas.UserRegistrationDetails)
		o.History = ParquetSink{Warehouse: e.wh}
		m, err := RunTenant(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if r := m.Reconcile; r.PreviousSnapshot != "" || !strings.Contains(r.Note, "no previous snapshot") {
			t.Errorf("reconcile %+v: the manifest must say there was no previous snapshot", r)
		}
	})
}

// leaseProbe is a Sink that counts Begins and, at every Reset, checks
// that nobody else could take the slice.
type leaseProbe struct {
	ParquetSink
	t      *testing.T
	begins int
	resets int
}

type probedWriter struct {
	SliceWriter
	p   *leaseProbe
	key schemas.Key
}

func (p *leaseProbe) Begin(ctx context.Context, key schemas.Key, runID string) (SliceWriter, error) {
	p.begins++
	sw, err := p.ParquetSink.Begin(ctx, key, runID)
	if err != nil {
		return nil, err
	}
	return probedWriter{SliceWriter: sw, p: p, key: key}, nil
}

func (w probedWriter) Reset(ctx context.Context) error {
	w.p.resets++
	if err := w.SliceWriter.Reset(ctx); err != nil {
		return err
	}
	if l, err := w.p.Warehouse.Lease(ctx, w.key, load.LeaseOptions{RunID: "intruder"}); err == nil {
		l.Release()
		w.p.t.Error("another writer could take the slice while the run wrote it again")
	}
	return nil
}

// A run that writes its slice twice (users moved between shards) holds
// the slice's lease from its first request to its publish.
func TestSecondPassKeepsTheSlice(t *testing.T) {
	e := newChurnEnv(t, 1, 6000, graphsim.Churn{Rate: 0.03, Requests: 120})
	probe := &leaseProbe{ParquetSink: ParquetSink{Warehouse: e.wh}, t: t}
	m, o, _ := e.runToday(t, func(o *Options) { o.Source.PageSize = 50; o.Sink = probe })
	if probe.begins != 1 || probe.resets == 0 || m.Counts.MovedBetweenShards == 0 {
		t.Errorf("%d begins, %d resets, %d moved: want one Begin and a second pass", probe.begins, probe.resets, m.Counts.MovedBetweenShards)
	}
	// The derived tables start again with the slice: users of the first
	// pass are neither counted nor compared twice.
	checkChanges(t, e.wh, e.prev, o.Key, schemas.UserRegistrationDetails)
	checkSummary(t, e.wh, o.Key)
}
