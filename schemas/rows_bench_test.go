package schemas

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BenchmarkAppend measures appending a batch of 1000 rows to a fresh
// builder reserved for them (rows, and the string bytes of the batch
// before) as the transformer reserves its batches, and cutting it: "users"
// and "methods" as the transformer does (AppendVarying, the constant
// columns filled at the cut), "users-Append" and "methods-Append" every
// column per row, "users-Builder" and "methods-Builder" through
// UserBuilder and MethodBuilder, which the transformer uses now.
func BenchmarkAppend(b *testing.B) {
	const n = 1000
	key := Key{Date: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Tenant: "0b1e7a7e-5c1d-4c0e-9d7b-2f1a6a1c0de1"}
	ts := time.Date(2026, 10, 21, 17, 58, 39, 96623000, time.UTC)
	user := UserRow{Key: key, UserID: "0dd60e05-30de-46ef-a99d-ca7b2234a483",
		UserPrincipalName: "ivan.dvorak.774724@0b1e7a7e.example.com", UserDisplayName: ptr("Ivan Dvořák"),
		Source: UserRegistrationDetails, UserType: ptr("member"), IsAdmin: ptr(false), IsSsprRegistered: ptr(true),
		IsSsprEnabled: ptr(true), IsSsprCapable: ptr(true), IsMfaRegistered: ptr(true), IsMfaCapable: ptr(true),
		IsPasswordlessCapable: ptr(false), IsSystemPreferredAuthEnabled: ptr(true), DefaultMfaMethod: ptr("voiceMobile"),
		SystemPreferredMethods: []string{"push"}, LastUpdatedAt: &ts, AuthMethodCount: 2, ExtractedAt: ts,
		RunID: "20261201T163438Z-7b14a2"}
	method := MethodRow{Key: key, UserID: user.UserID, UserPrincipalName: user.UserPrincipalName,
		Source: UserRegistrationDetails, AuthMethod: "mobilePhone", MethodFamily: FamilyPhone, UsableForMFA: true,
		UsableForSSPR: true, IsKnownValue: true, RunID: user.RunID}
	consts := NewConstantColumns(nil, SliceConstants{Key: key, Source: UserRegistrationDetails, RunID: user.RunID})
	defer consts.Release()
	for _, c := range []struct {
		name   string
		table  *Table
		append func(*array.RecordBuilder)
		cut    func(*array.RecordBuilder) arrow.RecordBatch
	}{
		{"users", UserRegistrationDetailsTable, user.AppendVarying, consts.NewRecordBatch},
		{"methods", UserAuthMethodsTable, method.AppendVarying, consts.NewRecordBatch},
		{"users-Append", UserRegistrationDetailsTable, user.Append, (*array.RecordBuilder).NewRecordBatch},
		{"methods-Append", UserAuthMethodsTable, method.Append, (*array.RecordBuilder).NewRecordBatch},
	} {
		b.Run(c.name, func(b *testing.B) {
			rb := array.NewRecordBuilder(memory.NewGoAllocator(), c.table.Arrow())
			defer rb.Release()
			data := make([]int, len(rb.Fields()))
			b.ReportAllocs()
			for b.Loop() {
				for i, f := range rb.Fields() {
					if data[i] < 0 {
						continue // a constant column AppendVarying leaves empty
					}
					f.Reserve(n)
					if sb, ok := f.(*array.StringBuilder); ok {
						sb.ReserveData(data[i])
					}
				}
				for range n {
					c.append(rb)
				}
				for i, f := range rb.Fields() {
					if f.Len() == 0 {
						data[i] = -1
					} else if sb, ok := f.(*array.StringBuilder); ok {
						data[i] = sb.DataLen()
					}
				}
				c.cut(rb).Release()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
	// The builders the transformer uses: the same rows, batches of n.
	b.Run("users-Builder", func(b *testing.B) {
		ub := NewUserBuilder(memory.NewGoAllocator(), consts)
		defer ub.Release()
		b.ReportAllocs()
		for b.Loop() {
			for range n {
				ub.Add(&user)
			}
			ub.NewRecordBatch().Release()
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("methods-Builder", func(b *testing.B) {
		mb := NewMethodBuilder(memory.NewGoAllocator(), consts)
		defer mb.Release()
		b.ReportAllocs()
		for b.Loop() {
			for range n {
				mb.Add(&method)
			}
			mb.NewRecordBatch().Release()
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
