package transform

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/credreg/credreg/schemas"
)

// oracle is decide as it was before ids were packed or spilled: one
// map[string]seenCopy of every id, deciding each copy as it comes. The
// differential test runs it against the Transformer's own decide.
type oracle struct {
	t          *Transformer
	seen       map[string]seenCopy
	superseded int
	winners    map[string]RecordRef
}

func withOracle(tr *Transformer) *oracle {
	o := &oracle{t: tr, seen: map[string]seenCopy{}}
	tr.decideHook = o.decide
	return o
}

func (o *oracle) decide(rec *Record, ref RecordRef, shard int32) (bool, error) {
	t := o.t
	bit := uint64(1) << shard
	upd := updatedNanos(rec.LastUpdatedAt)
	prev, seen := o.seen[rec.ID]
	if seen && prev.shards&bit != 0 {
		return false, recordError(ReasonDuplicateID, "id", rec.ID, "field id: %q already loaded earlier in this snapshot", rec.ID)
	}
	if !seen {
		o.seen[strings.Clone(rec.ID)] = seenCopy{ref: ref, updated: upd, shards: bit}
		if w, ok := t.opts.Winners[rec.ID]; ok && w != ref {
			t.stats.MovedBetweenShards++
			return false, nil
		}
		return true, nil
	}
	prev.shards |= bit
	if w, ok := t.opts.Winners[rec.ID]; ok {
		o.seen[rec.ID] = prev
		if w != ref {
			t.stats.MovedBetweenShards++
		}
		return w == ref, nil
	}
	t.stats.MovedBetweenShards++
	if o.winners == nil {
		o.winners = map[string]RecordRef{}
	}
	if !newer(upd, ref, prev.updated, prev.ref) {
		if _, ok := o.winners[rec.ID]; !ok {
			o.winners[strings.Clone(rec.ID)] = prev.ref
		}
		o.seen[rec.ID] = prev
		return false, nil
	}
	o.superseded++
	o.winners[strings.Clone(rec.ID)] = ref
	prev.ref, prev.updated = ref, upd
	o.seen[rec.ID] = prev
	return true, nil
}

func (o *oracle) loaded(id string) bool {
	_, ok := o.seen[id]
	return ok
}

func (o *oracle) has(id string) bool {
	_, ok := o.t.rejectedIDs[id]
	return ok || o.loaded(id)
}

// dedupeRun is what one way of deciding repeats produced over a snapshot:
// every row of every table (sorted), the Stats, Loaded and Has of ids,
// and how many passes it took.
type dedupeRun struct {
	rows   map[string][]string
	stats  Stats
	first  Stats // of the first pass
	loaded []string
	passes int
}

// runDedupe transforms the pages as the pipeline does: once, and again in
// sequence order with the winners when a loaded copy was superseded. With
// useOracle, the oracle decides.
func runDedupe(t *testing.T, endpoint schemas.Endpoint, pages []movedPage, useOracle bool, seenInMemory int, probe []string) dedupeRun {
	t.Helper()
	var out dedupeRun
	pass := func(winners map[string]RecordRef) (superseded int, next map[string]RecordRef) {
		out.passes++
		tr := New(Options{Key: testKey, RunID: "r", Endpoint: endpoint, Allocator: checkedAllocator(t), Winners: winners, SeenInMemory: seenInMemory, BatchRows: 7})
		defer tr.Release()
		var o *oracle
		if useOracle {
			o = withOracle(tr)
		}
		c := collected{}
		defer c.release()
		feed := pages
		if winners != nil {
			feed = slices.Clone(pages)
			slices.SortStableFunc(feed, func(a, b movedPage) int { return int(a.seq - b.seq) })
		}
		for _, p := range feed {
			c.add(t, tr.AddShardPage(p.seq, p.shard, testReceived, split(t, p.records...)))
		}
		c.add(t, tr.Finish())
		out.rows = map[string][]string{}
		for _, tab := range tables {
			var cols [][]string
			for _, f := range tab.Arrow().Fields() {
				cols = append(cols, c.column(t, tab.Name, f.Name))
			}
			var rows []string
			for i := range c.rows(tab.Name) {
				var r []string
				for _, col := range cols {
					r = append(r, col[i])
				}
				rows = append(rows, strings.Join(r, "|"))
			}
			slices.Sort(rows)
			out.rows[tab.Name] = rows
		}
		out.stats = tr.Stats()
		out.loaded = out.loaded[:0]
		for _, id := range probe {
			if useOracle {
				out.loaded = append(out.loaded, fmt.Sprintf("%s:%t/%t", id, o.loaded(id), o.has(id)))
			} else {
				out.loaded = append(out.loaded, fmt.Sprintf("%s:%t/%t", id, tr.Loaded(id), tr.Has(id)))
			}
		}
		if err := tr.Err(); err != nil {
			t.Fatal(err)
		}
		if useOracle {
			return o.superseded, o.winners
		}
		return tr.Superseded(), tr.Winners()
	}
	n, winners := pass(nil)
	out.first = out.stats
	if n > 0 {
		if n, _ := pass(winners); n != 0 {
			t.Fatalf("the second pass superseded %d copies; it must load exactly the winners", n)
		}
	}
	return out
}

// randomPages is a snapshot's pages: one listing unsharded or in up to four
// shards, maybe per-id lookups, ids repeated within and across shards
// (GUIDs, other ids, an uppercase GUID), lastUpdatedDateTime with ties and
// nulls, a few records rejected for their contents. The pages of a shard
// come in sequence order; the shards interleave, and the sequence numbers
// follow arrival or are handed out shard by shard.
func randomPages(rng *rand.Rand, endpoint schemas.Endpoint) (pages []movedPage, probe []string, inOrder bool) {
	var pool []string
	for i := range 2 + rng.IntN(40) {
		switch rng.IntN(6) {
		case 0:
			pool = append(pool, fmt.Sprintf("u%d", i))
		case 1:
			pool = append(pool, fmt.Sprintf("%08X-1234-4ABC-8DEF-%012X", i, i))
		default:
			pool = append(pool, fmt.Sprintf("%08x-1234-4abc-8def-%012x", i*2654435761%(1<<32), i))
		}
	}
	times := []string{"", "2026-11-27T01:00:00Z", "2026-11-27T02:00:00Z", "2026-11-27T02:00:00.5Z"}
	shards := []string{""}
	if n := rng.IntN(5); n > 1 {
		shards = nil
		for i := range n {
			shards = append(shards, fmt.Sprintf("s%d", i))
		}
	}
	perShard := make([][]movedPage, len(shards))
	for si, sh := range shards {
		for range 1 + rng.IntN(4) {
			p := movedPage{shard: sh}
			for range 1 + rng.IntN(5) {
				id := pool[rng.IntN(len(pool))]
				upn := fmt.Sprintf("c%d@x", rng.Int64())
				var rec string
				switch {
				case rng.IntN(15) == 0:
					rec = fmt.Sprintf(`{"id":%q,"userPrincipalName":7}`, id) // rejected for its contents
				case endpoint == schemas.CredentialUserRegistrationDetails:
					rec = betaUser(id, upn, "email")
				default:
					rec = v1User(id, upn, times[rng.IntN(len(times))], "email")
				}
				p.records = append(p.records, rec)
			}
			perShard[si] = append(perShard[si], p)
		}
	}
	byShard := rng.IntN(2) == 0
	seq := int64(0)
	if byShard {
		for si := range perShard {
			for i := range perShard[si] {
				seq++
				perShard[si][i].seq = seq
			}
		}
	}
	for {
		var open []int
		for si := range perShard {
			if len(perShard[si]) > 0 {
				open = append(open, si)
			}
		}
		if len(open) == 0 {
			break
		}
		si := open[rng.IntN(len(open))]
		p := perShard[si][0]
		perShard[si] = perShard[si][1:]
		if !byShard {
			seq++
			p.seq = seq
		}
		pages = append(pages, p)
	}
	if byShard {
		seq = int64(len(pages))
	}
	for range rng.IntN(3) {
		seq++
		id := pool[rng.IntN(len(pool))]
		pages = append(pages, movedPage{seq: seq, shard: "lookup", records: []string{v1User(id, "lookup@x", times[rng.IntN(len(times))])}})
	}
	if endpoint == schemas.CredentialUserRegistrationDetails {
		for i := range pages {
			if pages[i].shard == "lookup" {
				pages[i].records = []string{betaUser(strings.SplitN(pages[i].records[0], `"`, 5)[3], "lookup@x")}
			}
		}
	}
	return pages, append(slices.Clone(pool), "never-read", "00000000-0000-0000-0000-000000000000"), !byShard || len(shards) == 1
}

// TestDedupeMatchesTheOracle checks that deciding repeats in memory, and
// past SeenInMemory on disk, writes exactly the rows the original decide
// did, with the same Stats and the same Loaded and Has.
func TestDedupeMatchesTheOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 34))
	spilled := 0
	for i := range 150 {
		endpoint := schemas.UserRegistrationDetails
		if i%5 == 4 {
			endpoint = schemas.CredentialUserRegistrationDetails
		}
		pages, probe, inOrder := randomPages(rng, endpoint)
		want := runDedupe(t, endpoint, pages, true, 0, probe)
		for _, limit := range []int{0, 1, 4} {
			got := runDedupe(t, endpoint, pages, false, limit, probe)
			if !reflect.DeepEqual(got.rows, want.rows) || !reflect.DeepEqual(got.stats, want.stats) || !slices.Equal(got.loaded, want.loaded) {
				var b strings.Builder
				for _, p := range pages {
					fmt.Fprintf(&b, "\n  seq %d shard %q %v", p.seq, p.shard, p.records)
				}
				t.Fatalf("case %d, SeenInMemory %d: differs from the oracle\nrows %v\nwant %v\nstats %+v\nwant  %+v\nloaded %v\nwant   %v\npages:%s",
					i, limit, got.rows, want.rows, got.stats, want.stats, got.loaded, want.loaded, b.String())
			}
			// Read in sequence order, the first pass counts what the
			// oracle's does, though it loaded repeats optimistically: the
			// pipeline judges moves on it.
			if inOrder && !reflect.DeepEqual(firstCounts(got.first), firstCounts(want.first)) {
				t.Fatalf("case %d, SeenInMemory %d: first pass counts %v, the oracle's %v", i, limit, firstCounts(got.first), firstCounts(want.first))
			}
			if limit > 0 && got.passes > want.passes {
				spilled++
			}
		}
	}
	if spilled == 0 {
		t.Fatal("no case took the spill's second pass: the test does not exercise it")
	}
}

// firstCounts are the counts of a first pass decide corrects after the
// fact: the others count every copy loaded.
func firstCounts(s Stats) [5]int64 {
	return [5]int64{s.RecordsIn, s.Users, s.Rejected, s.MovedBetweenShards, s.RejectsByReason[ReasonDuplicateID]}
}

// TestDedupeRemovesItsFilesOnRelease checks the spill's temporary files go
// with the Transformer.
func TestDedupeRemovesItsFilesOnRelease(t *testing.T) {
	tr := New(Options{Key: testKey, RunID: "r", SeenInMemory: 2})
	var recs []string
	for i := range 10 {
		recs = append(recs, v1User(fmt.Sprintf("u%d", i), "x@y", ""))
	}
	tr.AddPage(1, testReceived, split(t, recs...))
	tr.Finish()
	if tr.spill == nil {
		t.Fatal("10 ids past SeenInMemory 2 did not spill")
	}
	dir := tr.spill.dir
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	tr.Release()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("after Release, %s: %v", dir, err)
	}
}

// An id put again must not leave the caller's string as the map's key:
// Go stores the key given when it assigns to one already there, and a
// record's id shares its buffer with the whole record.
func TestSeenMemKeepsNoCallersID(t *testing.T) {
	s := newSeenMem()
	buf := []byte("user-1")
	view := unsafe.String(&buf[0], len(buf))
	s.put(keyOf(view), seenCopy{ref: RecordRef{Seq: 1}, shards: 1})
	s.put(keyOf(view), seenCopy{ref: RecordRef{Seq: 2}, shards: 1})
	copy(buf, "XXXXXX")
	if !s.has("user-1") {
		t.Error("the id is gone once the caller's buffer changed: the map kept the caller's string")
	}
}
