package transform

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkDecide decides a million distinct GUID ids, as a replay of a
// million-user tenant does, with Options.SeenInMemory's default: most go
// to the spill, whose merge runs at the end (Superseded). The key each
// record needs is computed as DecodePage computes it, inside the timer.
func BenchmarkDecide(b *testing.B) {
	const n, perPage = 1_000_000, 1000
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]string, n)
	times := make([]time.Time, n)
	base := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint64()&(1<<48-1))
		times[i] = base.Add(time.Duration(rng.IntN(1e6)) * time.Second)
	}
	page := make([]Decoded, perPage)
	b.ReportAllocs()
	for b.Loop() {
		tr := New(Options{Key: testKey, RunID: "bench"})
		for p := range n / perPage {
			for j := range page {
				d := &page[j]
				d.Index, d.Rec.ID, d.Rec.LastUpdatedAt = j, ids[p*perPage+j], &times[p*perPage+j]
				benchPrepare(d)
			}
			for j := range page {
				load, err := benchDecide(tr, &page[j], RecordRef{Seq: int64(p), Index: j})
				if err != nil || !load {
					b.Fatalf("record %d: load %t, %v", j, load, err)
				}
			}
		}
		if s := tr.Superseded(); s != 0 {
			b.Fatalf("%d superseded", s)
		}
		tr.Release()
	}
}

// benchPrepare is DecodePage's share of deciding.
func benchPrepare(d *Decoded) { d.key, d.keyed = decideKeyOf(&d.Rec), true }

func benchDecide(tr *Transformer, d *Decoded, ref RecordRef) (bool, error) {
	return tr.decideKeyed(&d.Rec, d.key, ref, 0)
}
