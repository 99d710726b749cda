package transform

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/schemas"
)

// historyCase is one comparison of two generated snapshots.
type historyCase struct {
	prev, cur        []histUser
	endpoint         schemas.Endpoint
	prevKey, curKey  string
	inMemory, chunks int
}

// historyResult is what a History derived: its change rows as sorted
// strings, its summary row, whether the previous snapshot spilled.
type historyResult struct {
	changes []string
	summary string
	spilled bool
	count   int64
}

// run fills a Previous from the previous snapshot's batches (cut into
// chunks, the way the pipeline streams them), streams the new snapshot
// through a History, gives it the previous users' names again, joins and
// finishes; twice, with a Reset between (a second pass, given fewer
// users).
func (c historyCase) run(t *testing.T) [2]historyResult {
	t.Helper()
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	prevKey, key := schemas.Key{Date: day.AddDate(0, 0, -1), Tenant: "t"}, schemas.Key{Date: day, Tenant: "t"}
	mem := memory.NewGoAllocator()
	ub := array.NewRecordBuilder(mem, schemas.UserRegistrationDetailsTable.Arrow())
	mb := array.NewRecordBuilder(mem, schemas.UserAuthMethodsTable.Arrow())
	defer ub.Release()
	defer mb.Release()
	for _, u := range c.prev {
		r := u.row(prevKey)
		r.Source = c.endpoint
		r.IsRegistered = r.IsSsprRegistered
		r.Append(ub)
		for _, v := range u.methods {
			m := schemas.MethodRow{Key: prevKey, UserID: u.id, UserPrincipalName: u.upn, Source: c.endpoint,
				AuthMethod: v, MethodFamily: schemas.FamilyEmail, RunID: "r"}
			m.Append(mb)
		}
	}
	users, methods := ub.NewRecordBatch(), mb.NewRecordBatch()
	defer users.Release()
	defer methods.Release()
	chunked := func(rec arrow.RecordBatch, fn func(arrow.RecordBatch) error) {
		n := rec.NumRows()
		step := max(1, n/int64(max(1, c.chunks)))
		for i := int64(0); i < n; i += step {
			part := rec.NewSlice(i, min(n, i+step))
			if err := fn(part); err != nil {
				t.Fatal(err)
			}
			part.Release()
		}
	}
	p := NewPrevious(prevKey.Date, "prev-run", c.endpoint)
	p.KeyFingerprint = c.prevKey
	p.InMemory = c.inMemory
	defer p.Release()
	chunked(users, p.AddUsers)
	chunked(methods, p.AddMethods)

	h := NewHistory(HistoryOptions{Key: key, RunID: "r", Endpoint: c.endpoint, Previous: p, BatchRows: 5})
	defer h.Release()
	h.setKey(c.curKey)
	var res [2]historyResult
	for pass := range 2 {
		if pass > 0 {
			h.Reset()
		}
		var out []Batch
		cur := c.cur
		if pass > 0 { // a second pass may load fewer users (the winners)
			cur = cur[:len(cur)*3/4]
		}
		for _, u := range cur {
			r := u.row(key)
			r.Source = c.endpoint
			r.IsRegistered = r.IsSsprRegistered
			out = h.user(out, &r, u.methods)
		}
		chunked(users, func(rec arrow.RecordBatch) error {
			gone, err := h.Gone(rec)
			out = append(out, gone...)
			return err
		})
		if err := h.Join(func(b Batch) error { out = append(out, b); return nil }); err != nil {
			t.Fatal(err)
		}
		fin := h.Finish()
		sum := fin[len(fin)-1]
		if sum.Table != schemas.RegistrationDailySummaryTable {
			t.Fatalf("Finish ended with %s, want the summary", sum.Table.Name)
		}
		var cols []string
		for i, f := range sum.Record.Schema().Fields() {
			cols = append(cols, f.Name+"="+fmt.Sprint(sum.Record.Column(i)))
		}
		sum.Record.Release()
		res[pass] = historyResult{changes: changeStrings(t, append(out, fin[:len(fin)-1]...)),
			summary: strings.Join(cols, " "), spilled: p.Spilled(), count: h.Changes()}
	}
	return res
}

// withDuplicates lists some users of a snapshot twice, the second time
// with other states and names: a previous file may hold a user twice.
func withDuplicates(rng *rand.Rand, us []histUser) []histUser {
	out := slices.Clone(us)
	for i := 0; i < len(us); i += 1 + rng.IntN(40) {
		d := us[i]
		d.mfa, d.admin, d.upn = !d.mfa, !d.admin, d.upn+".dup"
		d.methods = []string{"sms"}
		out = append(out, d)
	}
	return out
}

// The partitioned join derives exactly the change rows and summary the
// in-memory comparison does, whatever the spill threshold (spilling at
// the first user, in the middle of a batch, or never), for the v1 and
// beta reports, a previous file listing users twice, ids that are not
// lowercase GUIDs, a method vocabulary past 64 values, and snapshots
// named under different keys (no rows at all); and again after a Reset.
func TestHistoryPartitionedJoinMatchesInMemory(t *testing.T) {
	type variant struct {
		name            string
		endpoint        schemas.Endpoint
		prevKey, curKey string
		dup             bool
	}
	variants := []variant{
		{name: "v1", endpoint: schemas.UserRegistrationDetails},
		{name: "v1 listed twice", endpoint: schemas.UserRegistrationDetails, dup: true},
		{name: "beta", endpoint: schemas.CredentialUserRegistrationDetails},
		{name: "pseudonyms", endpoint: schemas.UserRegistrationDetails, prevKey: "k1", curKey: "k1"},
		{name: "other key", endpoint: schemas.UserRegistrationDetails, prevKey: "k1", curKey: "k2"},
	}
	for _, v := range variants {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("%s/%d", v.name, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 11))
				prev := genSnapshot(rng, 300, 0.85)
				cur := genSnapshot(rng, 320, 0.85)
				if v.dup {
					prev = withDuplicates(rng, prev)
				}
				c := historyCase{prev: prev, cur: cur, endpoint: v.endpoint, prevKey: v.prevKey, curKey: v.curKey,
					inMemory: 1 << 20, chunks: 4}
				want := c.run(t)
				if want[0].spilled {
					t.Fatal("the in-memory case spilled")
				}
				if v.endpoint == schemas.UserRegistrationDetails && !v.dup && v.prevKey == v.curKey {
					if exp := expectedChanges(prev, cur); !slices.Equal(want[0].changes, exp) {
						t.Fatalf("in memory: %v", firstDiff(want[0].changes, exp))
					}
				}
				if v.prevKey != v.curKey && len(want[0].changes) != 0 {
					t.Fatalf("snapshots under other keys gave %d change rows", len(want[0].changes))
				}
				for _, inMemory := range []int{1, 37, len(prev) - 1} {
					c.inMemory = inMemory
					got := c.run(t)
					for pass := range got {
						g, w := got[pass], want[pass]
						if !g.spilled {
							t.Fatalf("InMemory %d of %d users did not spill", inMemory, len(prev))
						}
						if !slices.Equal(g.changes, w.changes) {
							t.Fatalf("InMemory %d, pass %d: %d change rows, want %d: %v", inMemory, pass, len(g.changes), len(w.changes),
								firstDiff(g.changes, w.changes))
						}
						if g.count != w.count {
							t.Errorf("InMemory %d, pass %d: Changes() = %d, want %d", inMemory, pass, g.count, w.count)
						}
						if g.summary != w.summary {
							t.Errorf("InMemory %d, pass %d: summary\n%s\nwant\n%s", inMemory, pass, g.summary, w.summary)
						}
					}
				}
			})
		}
	}
}

// A spilled Previous removes its files on Release.
func TestPreviousSpillFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	rng := rand.New(rand.NewPCG(1, 2))
	c := historyCase{prev: genSnapshot(rng, 50, 1), cur: genSnapshot(rng, 50, 1),
		endpoint: schemas.UserRegistrationDetails, inMemory: 3}
	if res := c.run(t); !res[0].spilled {
		t.Fatal("did not spill")
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("%d spill files left after Release", len(left))
	}
}

// A spill file that fails is an ErrSpill from Join, not rows left out.
func TestHistoryJoinReportsSpillFailure(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	prev := genSnapshot(rng, 100, 1)
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	key := schemas.Key{Date: day, Tenant: "t"}
	p := spilledPrevious(t, key, prev)
	defer p.Release()
	for k := range spillPartitions { // the disk goes away under the run
		p.spill.prev[k].f.Close()
	}
	h := NewHistory(HistoryOptions{Key: key, RunID: "r", Previous: p})
	defer h.Release()
	var out []Batch
	for _, u := range prev[:10] {
		r := u.row(key)
		out = h.user(out, &r, u.methods)
	}
	if err := h.Join(func(b Batch) error { b.Record.Release(); return nil }); !errors.Is(err, ErrSpill) {
		t.Errorf("Join = %v, want ErrSpill", err)
	}
}

// A large prevSet (indexed by the ids' first two bytes) finds each of its
// users, keeps the last state of a user added twice, finds no one else,
// and marks users seen once.
func TestPrevSetFindsEveryUser(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	s := newPrevSet()
	want := map[string]flagSet{}
	var ids []string
	for range 3 * indexed {
		id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Uint64()>>16)
		fs := flagSet(rng.IntN(16))
		s.add(id, fs)
		want[id] = fs
		ids = append(ids, id)
		if rng.IntN(20) == 0 { // listed again, the later state kept
			fs = flagSet(rng.IntN(16))
			s.add(id, fs)
			want[id] = fs
		}
	}
	s.add("not-a-guid", 3)
	want["not-a-guid"] = 3
	for id, fs := range want {
		u, ok := s.take(id)
		if !ok || u.flags != fs || u.seen {
			t.Fatalf("take(%s) = %+v, %v; want flags %d, not seen", id, u, ok, fs)
		}
		if u, _ := s.take(id); !u.seen {
			t.Fatalf("take(%s) twice: not seen", id)
		}
	}
	for _, id := range ids[:100] { // same bucket, another id
		other := id[:35] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", id[35])+1)%16])
		if _, ok := want[other]; ok {
			continue
		}
		if _, ok := s.find(other); ok {
			t.Fatalf("found %s, never added", other)
		}
	}
	if s.len() != len(want) {
		t.Errorf("len = %d, want %d", s.len(), len(want))
	}
}

// A spill that cannot be written (the folder gone before the new
// snapshot's first user, or a file whose buffer cannot be written out)
// fails Join before it emits any row, naming the folder, and leaves
// Finish no change rows: the pipeline can still publish the snapshot.
func TestHistoryJoinSpillFailureEmitsNothing(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoil func(t *testing.T, dir string, p *Previous)
		after bool // break after the new snapshot's users are in
	}{
		{"folder gone", func(t *testing.T, dir string, p *Previous) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"last file unwritable", func(t *testing.T, dir string, p *Previous) {
			p.spill.cur[spillPartitions-1].f.Close()
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("TMPDIR", dir)
			rng := rand.New(rand.NewPCG(7, 8))
			prev := genSnapshot(rng, 300, 1)
			day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
			key := schemas.Key{Date: day, Tenant: "t"}
			p := spilledPrevious(t, key, prev)
			defer p.Release()
			if !c.after {
				c.spoil(t, dir, p)
			}
			h := NewHistory(HistoryOptions{Key: key, RunID: "r", Previous: p, BatchRows: 1})
			defer h.Release()
			var out []Batch
			for _, u := range genSnapshot(rng, 300, 1) { // other users: every one a change
				r := u.row(key)
				out = h.user(out, &r, u.methods)
			}
			if c.after {
				c.spoil(t, dir, p)
			}
			emitted := 0
			err := h.Join(func(b Batch) error { emitted++; b.Record.Release(); return nil })
			if !errors.Is(err, ErrSpill) || !strings.Contains(err.Error(), dir) {
				t.Errorf("Join = %v, want ErrSpill naming %s", err, dir)
			}
			if emitted != 0 || len(out) != 0 {
				t.Errorf("%d batches emitted before the failure, %d from the users", emitted, len(out))
			}
			fin := h.Finish()
			for _, b := range fin {
				b.Record.Release()
			}
			if len(fin) != 1 || fin[0].Table != schemas.RegistrationDailySummaryTable {
				t.Errorf("Finish gave %d batches, want the summary alone", len(fin))
			}
		})
	}
}

// Previous.InMemory: zero is DefaultInMemory, negative no limit (as
// Options.SeenInMemory), positive that many users.
func TestPreviousInMemoryLimit(t *testing.T) {
	b := array.NewStringBuilder(memory.NewGoAllocator())
	for i := range DefaultInMemory + 1 {
		b.Append(fmt.Sprintf("%08x-0000-4000-8000-000000000000", i))
	}
	ids := b.NewArray()
	b.Release()
	defer ids.Release()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "user_id", Type: arrow.BinaryTypes.String}}, nil),
		[]arrow.Array{ids}, int64(ids.Len()))
	defer rec.Release()
	t.Setenv("TMPDIR", t.TempDir())
	for _, c := range []struct {
		inMemory int
		spilled  bool
	}{{0, true}, {-1, false}, {DefaultInMemory + 1, false}, {DefaultInMemory, true}} {
		p := NewPrevious(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), "r", schemas.UserRegistrationDetails)
		p.InMemory = c.inMemory
		if err := p.AddUsers(rec); err != nil {
			t.Fatal(err)
		}
		if p.Spilled() != c.spilled || p.Users() != DefaultInMemory+1 {
			t.Errorf("InMemory %d, %d users: spilled %v, %d users; want spilled %v", c.inMemory, DefaultInMemory+1, p.Spilled(), p.Users(), c.spilled)
		}
		p.Release()
	}
}

// spilledPrevious is the day before key's snapshot of us, users only,
// partitioned on disk from the first user (InMemory 1).
func spilledPrevious(t *testing.T, key schemas.Key, us []histUser) *Previous {
	t.Helper()
	p := NewPrevious(key.Date.AddDate(0, 0, -1), "prev-run", schemas.UserRegistrationDetails)
	p.InMemory = 1
	ub := array.NewRecordBuilder(memory.NewGoAllocator(), schemas.UserRegistrationDetailsTable.Arrow())
	defer ub.Release()
	for _, u := range us {
		r := u.row(key)
		r.Append(ub)
	}
	rec := ub.NewRecordBatch()
	defer rec.Release()
	if err := p.AddUsers(rec); err != nil {
		p.Release()
		t.Fatal(err)
	}
	return p
}
