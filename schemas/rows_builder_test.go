package schemas

import (
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// UserBuilder's and MethodBuilder's batches equal, value by value, those
// of the per-row path (a RecordBuilder given AppendVarying, its constant
// columns appended per row): batches of 0, 1, odd, many and more than a
// byte of a bitmap rows, NULLs from the first row, NULLs first met deep in
// a batch (a validity bitmap made late), empty strings, strings longer than
// the buffers, empty and NULL lists; rows left unbatched at the end are
// freed by Release.
func TestBuildersMatchPerRowAppend(t *testing.T) {
	c := SliceConstants{Key: Key{Date: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Tenant: "0b1e7a7e"},
		Source: UserRegistrationDetails, RunID: "20261201T163438Z-7b14a2"}
	sample, methods := sampleRows(300)
	// rare: NULLs and NULL lists only at rows 19, 56, 93, ...: most batches
	// meet their first NULL past the first bytes of the bitmaps.
	rare, _ := sampleRows(300)
	for i := range rare {
		u := &rare[i]
		if i%37 == 19 {
			u.UserDisplayName, u.UserType, u.DefaultMfaMethod, u.LastUpdatedAt = nil, nil, nil, nil
			u.IsAdmin, u.IsSsprEnabled, u.SystemPreferredMethods = nil, nil, nil
			continue
		}
		ts := time.Date(2025, 1, 2, 3, 4, 5, i*1000, time.UTC)
		u.UserDisplayName, u.UserType, u.DefaultMfaMethod, u.LastUpdatedAt = ptr(""), ptr("member"), ptr(fmt.Sprint(i)), &ts
		u.IsAdmin, u.IsSsprEnabled = ptr(i%2 == 0), ptr(true)
		if u.SystemPreferredMethods == nil {
			u.SystemPreferredMethods = []string{""}
		}
	}
	sizes := []int{7, 7, 1, 0, 1, 300, 300, 2, 9, 64, 65, 8, 17}
	for _, users := range map[string][]UserRow{"sample": sample, "rare NULLs": rare} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		cc := NewConstantColumns(mem, c)
		ub, mb := NewUserBuilder(mem, cc), NewMethodBuilder(mem, cc)
		uref := array.NewRecordBuilder(mem, UserRegistrationDetailsTable.Arrow())
		mref := array.NewRecordBuilder(mem, UserAuthMethodsTable.Arrow())
		next := 0
		for k, n := range sizes {
			for i := range n {
				row := (next + i) % len(users)
				ub.Add(&users[row])
				users[row].AppendVarying(uref)
				appendReference(uref, c)
				mb.Add(&methods[row])
				methods[row].AppendVarying(mref)
				appendReference(mref, c)
			}
			next += n
			for _, p := range []struct {
				got, want arrow.RecordBatch
			}{{ub.NewRecordBatch(), uref.NewRecordBatch()}, {mb.NewRecordBatch(), mref.NewRecordBatch()}} {
				if !p.got.Schema().Equal(p.want.Schema()) || p.got.NumRows() != p.want.NumRows() {
					t.Fatalf("batch %d: %d rows of %v, want %d of %v", k, p.got.NumRows(), p.got.Schema(), p.want.NumRows(), p.want.Schema())
				}
				for j, col := range p.got.Columns() {
					want := p.want.Column(j)
					if !array.Equal(col, want) || col.NullN() != want.NullN() {
						t.Fatalf("batch %d of %d rows: column %s differs:\n got %v\nwant %v", k, n,
							p.got.Schema().Field(j).Name, col, want)
					}
				}
				if p.got.Schema().Equal(UserRegistrationDetailsTable.Arrow()) {
					for i := range n {
						if got, want := userRowAt(p.got, i), userRowAt(p.want, i); !equalUserRows(got, want) {
							t.Fatalf("batch %d row %d: got %+v, want %+v", k, i, got, want)
						}
					}
				}
				p.got.Release()
				p.want.Release()
			}
		}
		// Rows left in the builders when they are released are freed.
		ub.Add(&users[0])
		mb.Add(&methods[0])
		ub.Release()
		mb.Release()
		uref.Release()
		mref.Release()
		cc.Release()
		mem.AssertSize(t, 0)
	}
}

// A bitmap started late holds the rows before it as valid, whatever the
// row it starts at, and every byte of it is written, whatever the
// allocator's memory held before.
func TestValidityStartsLate(t *testing.T) {
	for start := range 20 {
		for n := start + 1; n < start+20; n++ {
			mem := &poisoned{memory.NewGoAllocator()}
			var v validity
			for row := range n {
				v.put(mem, row, row != start)
			}
			buf, nulls := v.finish(mem)
			if nulls != 1 || buf.Len() != (n+7)/8 {
				t.Fatalf("start %d, %d rows: %d nulls, %d bytes", start, n, nulls, buf.Len())
			}
			for row := range n {
				if got := buf.Bytes()[row>>3]&(1<<(row&7)) != 0; got != (row != start) {
					t.Fatalf("start %d, %d rows: row %d valid %t", start, n, row, got)
				}
			}
			if last := buf.Bytes()[(n-1)>>3]; n&7 != 0 && last>>(n&7) != 0 {
				t.Fatalf("start %d, %d rows: bits past the rows set: %08b", start, n, last)
			}
			buf.Release()
		}
	}
}

// poisoned hands out memory full of 0xAA, as a recycling allocator may.
type poisoned struct{ memory.Allocator }

func (p *poisoned) Allocate(n int) []byte {
	b := p.Allocator.Allocate(n)
	for i := range b {
		b[i] = 0xAA
	}
	return b
}

func (p *poisoned) Reallocate(n int, old []byte) []byte {
	b := p.Allocate(n)
	copy(b, old)
	p.Free(old)
	return b
}
