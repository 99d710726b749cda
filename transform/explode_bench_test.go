package transform

import (
	"fmt"
	"testing"
	"time"

	"github.com/credreg/credreg/internal/odata"
)

// BenchmarkExplode measures decoded records to Arrow rows: decide (is the
// id a repeat?) and addUser (the user row, its method rows), no decoding.
// Every record has a fresh id, as in a snapshot; a Transformer serves
// 1<<20 of them, so "default" decides its first 1<<18 ids in memory and
// the rest through the spill, "inMemory" never spills and "spill" spills
// past 4096 (its merges at the end of each Transformer are timed too).
func BenchmarkExplode(b *testing.B) {
	p, err := odata.Split(v1Page(999))
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]Record, len(p.Records))
	for i, r := range p.Records {
		if recs[i], err = DecodeRecord(v1, r.Raw); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]string, 1<<20)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-fde0-4fc4-9e0c-%012x", uint32(i)*2654435761, i)
	}
	extractedAt := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		seen int
	}{{"default", 0}, {"inMemory", -1}, {"spill", 1 << 12}} {
		b.Run(c.name, func(b *testing.B) {
			var tr *Transformer
			done := func() {
				if tr == nil {
					return
				}
				for _, bt := range tr.Finish() {
					bt.Record.Release()
				}
				if tr.Superseded() != 0 {
					b.Fatalf("%d superseded", tr.Superseded())
				}
				tr.Release()
			}
			next, users := len(ids), 0
			b.ReportAllocs()
			for b.Loop() {
				if next+len(recs) > len(ids) {
					done()
					tr = New(Options{Key: testKey, RunID: "bench", SeenInMemory: c.seen})
					next = 0
				}
				seq := int64(next / len(recs))
				for j := range recs {
					rec := recs[j]
					rec.ID = ids[next]
					next++
					load, err := tr.decide(&rec, RecordRef{Seq: seq, Index: j}, 0)
					if err != nil || !load {
						b.Fatalf("record %d: load %t, %v", j, load, err)
					}
					for _, bt := range tr.addUser(nil, &rec, extractedAt) {
						bt.Record.Release()
					}
				}
				users += len(recs)
			}
			b.StopTimer()
			done()
			b.ReportMetric(float64(users)/b.Elapsed().Seconds(), "users/s")
		})
	}
}
