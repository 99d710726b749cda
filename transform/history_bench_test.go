package transform

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/schemas"
)

// BenchmarkHistory measures what History costs a large tenant: a previous
// snapshot of n GUID users (CREDREG_HISTORY_USERS, default 1,000,000)
// loaded into a Previous, then n current users streamed through History
// (a tenth of each side only on that side, flags flipping, methods added
// and removed), then the gone users and Finish. It reports the live heap
// (after a GC) at the fullest moment and the peak HeapInuse sampled every
// few milliseconds, both in MiB; run it with -benchtime=1x.
func BenchmarkHistory(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("CREDREG_HISTORY_USERS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	inMemory := 0
	if s := os.Getenv("CREDREG_HISTORY_INMEMORY"); s != "" {
		inMemory, _ = strconv.Atoi(s)
	}
	for b.Loop() {
		live, peak := benchHistoryOnce(b, n, inMemory)
		b.ReportMetric(live, "live-MiB")
		b.ReportMetric(peak, "peak-heap-MiB")
	}
}

func benchID(i int) string { return fmt.Sprintf("%08x-1234-4abc-8def-%012x", uint32(i)*2654435761, i) }

func benchHistoryOnce(b *testing.B, n, inMemory int) (liveMiB, peakMiB float64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	})
	var live uint64
	checkpoint := func() {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		live = max(live, m.HeapInuse)
	}

	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	mem := memory.NewGoAllocator()
	userSchema := arrow.NewSchema([]arrow.Field{{Name: "user_id", Type: arrow.BinaryTypes.String},
		{Name: "user_principal_name", Type: arrow.BinaryTypes.String},
		{Name: "is_mfa_registered", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "is_admin", Type: arrow.FixedWidthTypes.Boolean}}, nil)
	methodSchema := arrow.NewSchema([]arrow.Field{{Name: "user_id", Type: arrow.BinaryTypes.String},
		{Name: "auth_method", Type: arrow.BinaryTypes.String}}, nil)
	methods := []string{"email", "mobilePhone", "microsoftAuthenticatorPush", "fido2", "softwareOneTimePasscode"}
	const chunk = 1 << 16
	// The previous snapshot: users 0..n-1 minus every tenth (joined since).
	p := NewPrevious(day.AddDate(0, 0, -1), "prev", schemas.UserRegistrationDetails)
	p.InMemory = inMemory
	defer p.Release()
	// The pipeline reads the users' file, then the methods' file.
	batches := func(methods bool, fn func(bd *array.RecordBuilder, i int)) {
		schema, add := userSchema, p.AddUsers
		if methods {
			schema, add = methodSchema, p.AddMethods
		}
		bd := array.NewRecordBuilder(mem, schema)
		defer bd.Release()
		flush := func() {
			rec := bd.NewRecordBatch()
			if err := add(rec); err != nil {
				b.Fatal(err)
			}
			rec.Release()
		}
		for i := range n {
			fn(bd, i)
			if bd.Field(0).Len() >= chunk {
				flush()
			}
		}
		flush()
	}
	prevUser := func(i int) bool { return i%10 != 9 }
	batches(false, func(ub *array.RecordBuilder, i int) {
		if !prevUser(i) {
			return
		}
		ub.Field(0).(*array.StringBuilder).Append(benchID(i))
		ub.Field(1).(*array.StringBuilder).Append("u" + strconv.Itoa(i) + "@example.com")
		ub.Field(2).(*array.BooleanBuilder).Append(i%3 == 0)
		ub.Field(3).(*array.BooleanBuilder).Append(i%50 == 0)
	})
	batches(true, func(mb *array.RecordBuilder, i int) {
		if !prevUser(i) {
			return
		}
		for k := range i % 3 {
			mb.Field(0).(*array.StringBuilder).Append(benchID(i))
			mb.Field(1).(*array.StringBuilder).Append(methods[(i+k)%len(methods)])
		}
	})
	checkpoint()

	key := schemas.Key{Date: day, Tenant: "t"}
	h := NewHistory(HistoryOptions{Key: key, RunID: "r", Previous: p})
	defer h.Release()
	var changes int64
	drop := func(out []Batch) []Batch {
		for _, bt := range out {
			changes += bt.Record.NumRows()
			bt.Record.Release()
		}
		return out[:0]
	}
	var out []Batch
	tr, fa := true, false
	cur := make([]string, 0, 4)
	for i := range n {
		if i%10 == 4 { // left since
			continue
		}
		u := schemas.UserRow{Key: key, UserID: benchID(i), UserPrincipalName: "u" + strconv.Itoa(i) + "@example.com",
			Source: schemas.UserRegistrationDetails, IsMfaRegistered: &fa, IsAdmin: &fa}
		if i%3 == 0 || i%97 == 0 {
			u.IsMfaRegistered = &tr
		}
		cur = cur[:0]
		for k := range (i + i/1000) % 3 {
			cur = append(cur, methods[(i+k)%len(methods)])
		}
		out = drop(h.user(out, &u, cur))
		if i == n/2 {
			checkpoint()
		}
	}
	checkpoint()
	// The gone users' names, as the pipeline reads them again.
	ub := array.NewRecordBuilder(mem, userSchema)
	for i := range n {
		if prevUser(i) {
			ub.Field(0).(*array.StringBuilder).Append(benchID(i))
			ub.Field(1).(*array.StringBuilder).Append("u" + strconv.Itoa(i) + "@example.com")
			ub.Field(2).(*array.BooleanBuilder).AppendNull()
			ub.Field(3).(*array.BooleanBuilder).AppendNull()
		}
		if ub.Field(0).Len() >= chunk || i == n-1 {
			rec := ub.NewRecordBatch()
			gone, err := h.Gone(rec)
			if err != nil {
				b.Fatal(err)
			}
			drop(gone)
			rec.Release()
		}
	}
	ub.Release()
	if err := h.Join(func(bt Batch) error { drop([]Batch{bt}); return nil }); err != nil {
		b.Fatal(err)
	}
	drop(h.Finish())
	checkpoint()
	close(stop)
	wg.Wait()
	if changes == 0 {
		b.Fatal("no change rows")
	}
	const mib = 1 << 20
	return float64(live-min(live, base)) / mib, float64(peak.Load()-min(peak.Load(), base)) / mib
}
