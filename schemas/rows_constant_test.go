package schemas

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// appendReference is the per-row path ConstantColumns replaces: every
// column of every row through RecordBuilder's own Append methods, not
// through Append or AppendVarying, so that it shares no code with them.
func appendReference(b *array.RecordBuilder, c SliceConstants) {
	date := arrow.Date32FromTime(c.Date.UTC())
	for i, f := range b.Schema().Fields() {
		switch f.Name {
		case ColSnapshotDate:
			b.Field(i).(*array.Date32Builder).Append(date)
		case ColTenantID:
			b.Field(i).(*array.StringBuilder).Append(c.Tenant)
		case "source":
			b.Field(i).(*array.StringBuilder).Append(string(c.Source))
		case "run_id":
			b.Field(i).(*array.StringBuilder).Append(c.RunID)
		}
	}
}

// Batches of rows added with AppendVarying and cut by ConstantColumns
// equal those of the per-row path, whatever their sizes (0, 1, odd, many,
// the same size again, which reuses the kept columns, and another size,
// which replaces them), in both tables from one ConstantColumns, and stay
// intact after it makes others and is released.
func TestConstantColumnsMatchPerRowAppend(t *testing.T) {
	users, methods := sampleRows(300)
	for _, c := range []SliceConstants{
		{Key: Key{Date: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Tenant: "0b1e7a7e-5c1d-4c0e-9d7b-2f1a6a1c0de1"},
			Source: UserRegistrationDetails, RunID: "20261201T163438Z-7b14a2"},
		// A day before 1970 (a negative date32), given in another zone; no tenant, no run.
		{Key: Key{Date: time.Date(1969, 12, 31, 23, 0, 0, 0, time.FixedZone("x", -3600))}, Source: CredentialUserRegistrationDetails},
		{Key: Key{Date: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Tenant: strings.Repeat("ü", 3000)},
			Source: UserRegistrationDetails, RunID: "\xff"},
	} {
		t.Run(fmt.Sprintf("tenant %.8q", c.Tenant), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			cc := NewConstantColumns(mem, c)
			var kept []arrow.RecordBatch
			defer func() {
				for _, r := range kept {
					r.Release()
				}
			}()
			var want []arrow.RecordBatch
			defer func() {
				for _, r := range want {
					r.Release()
				}
			}()
			for _, tab := range []*Table{UserRegistrationDetailsTable, UserAuthMethodsTable} {
				b := array.NewRecordBuilder(mem, tab.Arrow())
				ref := array.NewRecordBuilder(mem, tab.Arrow())
				next := 0
				for _, n := range []int{7, 7, 1, 0, 1, 300, 300, 2, 7} {
					for i := range n {
						row := (next + i) % len(users)
						if tab == UserRegistrationDetailsTable {
							users[row].AppendVarying(b)
							users[row].AppendVarying(ref)
						} else {
							methods[row].AppendVarying(b)
							methods[row].AppendVarying(ref)
						}
						appendReference(ref, c)
					}
					next += n
					kept = append(kept, cc.NewRecordBatch(b))
					want = append(want, ref.NewRecordBatch())
				}
				b.Release()
				ref.Release()
			}
			cc.Release()
			for i := range want {
				got := kept[i]
				if !got.Schema().Equal(want[i].Schema()) || got.NumRows() != want[i].NumRows() {
					t.Fatalf("batch %d: %d rows of %v, want %d of %v", i, got.NumRows(), got.Schema(), want[i].NumRows(), want[i].Schema())
				}
				for j, col := range got.Columns() {
					if !array.Equal(col, want[i].Column(j)) {
						t.Fatalf("batch %d of %d rows: column %s differs:\n got %v\nwant %v", i, got.NumRows(),
							got.Schema().Field(j).Name, col, want[i].Column(j))
					}
					if col.NullN() != 0 && IsConstantColumn(got.Schema().Field(j).Name) {
						t.Fatalf("batch %d: constant column %s has %d NULLs", i, got.Schema().Field(j).Name, col.NullN())
					}
				}
				if !array.RecordEqual(got, want[i]) {
					t.Fatalf("batch %d differs", i)
				}
			}
		})
	}
}

// Append still writes every column, so that its callers (tests, tools)
// need no ConstantColumns: its rows read back as they went in.
func TestAppendWritesConstantColumns(t *testing.T) {
	users, methods := sampleRows(5)
	ub := array.NewRecordBuilder(memory.NewGoAllocator(), UserRegistrationDetailsTable.Arrow())
	defer ub.Release()
	mb := array.NewRecordBuilder(memory.NewGoAllocator(), UserAuthMethodsTable.Arrow())
	defer mb.Release()
	for i := range users {
		users[i].Append(ub)
		methods[i].Append(mb)
	}
	ur, mr := ub.NewRecordBatch(), mb.NewRecordBatch()
	defer ur.Release()
	defer mr.Release()
	for i := range users {
		if got := userRowAt(ur, i); !equalUserRows(got, users[i]) {
			t.Fatalf("user row %d: got %+v, want %+v", i, got, users[i])
		}
		if got := methodRowAt(mr, i); got != methods[i] {
			t.Fatalf("method row %d: got %+v, want %+v", i, got, methods[i])
		}
	}
}

// A constant column that holds rows was appended with Append, not
// AppendVarying: a programming error, which must not make a batch of
// columns of different lengths, or of the wrong values.
func TestConstantColumnsRejectsFullRows(t *testing.T) {
	users, _ := sampleRows(2)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), UserRegistrationDetailsTable.Arrow())
	defer b.Release()
	users[0].Append(b)
	users[1].AppendVarying(b)
	cc := NewConstantColumns(nil, SliceConstants{Key: users[0].Key})
	defer cc.Release()
	defer func() {
		if recover() == nil {
			t.Error("no panic on a builder whose constant columns hold rows")
		}
	}()
	cc.NewRecordBatch(b).Release()
}

func TestRepeatBytes(t *testing.T) {
	for _, unit := range []string{"a", "ab", "tenant-0b1e7a7e", "\x00\x01\x02\x03"} {
		for _, n := range []int{0, 1, 2, 3, 5, 8, 1000, 1025} {
			dst := make([]byte, n*len(unit))
			repeatBytes(dst, []byte(unit))
			if want := strings.Repeat(unit, n); string(dst) != want {
				t.Fatalf("%d copies of %q: got %q", n, unit, dst)
			}
		}
	}
}

// Batches of one size share their constant columns' memory (what keeps
// a slice's full batches from holding one copy each); another size gets
// its own.
func TestConstantColumnsShareBatchesOfOneSize(t *testing.T) {
	users, _ := sampleRows(7)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), UserRegistrationDetailsTable.Arrow())
	defer b.Release()
	cc := NewConstantColumns(nil, SliceConstants{Key: users[0].Key, Source: UserRegistrationDetails, RunID: "r"})
	defer cc.Release()
	cut := func(n int) arrow.RecordBatch {
		for i := range n {
			users[i].AppendVarying(b)
		}
		return cc.NewRecordBatch(b)
	}
	values := func(r arrow.RecordBatch) *memory.Buffer {
		return r.Column(r.Schema().FieldIndices(ColTenantID)[0]).Data().Buffers()[2]
	}
	first, second, other := cut(7), cut(7), cut(3)
	defer first.Release()
	defer second.Release()
	defer other.Release()
	if values(first) != values(second) {
		t.Error("two batches of 7 rows hold a tenant_id each")
	}
	if values(other) == values(first) {
		t.Error("a batch of 3 rows shares the tenant_id of 7")
	}
}
