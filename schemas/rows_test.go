package schemas

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The appenders grow the builders' buffers themselves and then append
// unchecked: every value must come back, whether the builder was reserved
// for the rows, for fewer, or not at all, through strings far longer than
// the buffers hold and through NULLs, empty strings and invalid UTF-8.
func TestAppendersGrowBuilders(t *testing.T) {
	users, methods := sampleRows(300)
	for _, reserve := range []int{0, 1, 7, len(users)} {
		t.Run(fmt.Sprintf("reserve %d", reserve), func(t *testing.T) {
			ub := array.NewRecordBuilder(memory.NewGoAllocator(), UserRegistrationDetailsTable.Arrow())
			defer ub.Release()
			mb := array.NewRecordBuilder(memory.NewGoAllocator(), UserAuthMethodsTable.Arrow())
			defer mb.Release()
			if reserve > 0 {
				ub.Reserve(reserve)
				mb.Reserve(reserve)
				mb.Field(2).(*array.StringBuilder).ReserveData(reserve)
			}
			for i := range users {
				users[i].Append(ub)
				methods[i].Append(mb)
			}
			ur := ub.NewRecordBatch()
			defer ur.Release()
			mr := mb.NewRecordBatch()
			defer mr.Release()
			for i := range users {
				if got := userRowAt(ur, i); !equalUserRows(got, users[i]) {
					t.Fatalf("user row %d: got %+v, want %+v", i, got, users[i])
				}
				if got := methodRowAt(mr, i); got != methods[i] {
					t.Fatalf("method row %d: got %+v, want %+v", i, got, methods[i])
				}
			}
		})
	}
}

// sampleRows returns n rows of each of users and methods whose every
// column varies from row to row: NULLs, empty strings, invalid UTF-8,
// strings far longer than a builder's first buffers.
func sampleRows(n int) ([]UserRow, []MethodRow) {
	key := Key{Date: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Tenant: "tenant"}
	texts := []string{"", "a", "Ivan Dvořák", strings.Repeat("x", 5000), "\xff\xfe", strings.Repeat("é", 700), "push"}
	text := func(i int) string { return texts[i%len(texts)] + fmt.Sprint(i) }
	bools := []*bool{nil, ptr(true), ptr(false)}
	users := make([]UserRow, n)
	methods := make([]MethodRow, len(users))
	for i := range users {
		ts := time.Date(2026, 10, 21, 17, 58, 39, i*1000, time.UTC)
		u := UserRow{Key: key, UserID: text(i), UserPrincipalName: text(i + 1), Source: UserRegistrationDetails,
			AuthMethodCount: int64(i), ExtractedAt: ts, RunID: text(i + 2)}
		if i%4 != 0 {
			u.UserDisplayName, u.UserType, u.DefaultMfaMethod = ptr(text(i+3)), ptr(text(i+4)), ptr(text(i+5))
			u.LastUpdatedAt = &ts
		}
		switch i % 3 {
		case 1:
			u.SystemPreferredMethods = []string{}
		case 2:
			u.SystemPreferredMethods = []string{text(i), text(i + 6)}
		}
		u.IsAdmin, u.IsRegistered, u.IsEnabled, u.IsCapable = bools[i%3], bools[(i+1)%3], bools[(i+2)%3], bools[i%3]
		u.IsMfaRegistered, u.IsMfaCapable, u.IsSsprRegistered = bools[(i+1)%3], bools[(i+2)%3], bools[i%3]
		u.IsSsprEnabled, u.IsSsprCapable, u.IsPasswordlessCapable = bools[(i+1)%3], bools[(i+2)%3], bools[i%3]
		u.IsSystemPreferredAuthEnabled = bools[(i+1)%3]
		users[i] = u
		methods[i] = MethodRow{Key: key, UserID: text(i), UserPrincipalName: text(i + 1), Source: CredentialUserRegistrationDetails,
			AuthMethod: text(i + 2), MethodFamily: FamilyPhone, UsableForMFA: i%2 == 0, UsableForSSPR: i%3 == 0,
			IsKnownValue: i%5 == 0, RunID: text(i + 3)}
	}
	return users, methods
}

func optString(c arrow.Array, i int) *string {
	if c.IsNull(i) {
		return nil
	}
	return ptr(c.(*array.String).Value(i))
}

func optBool(c arrow.Array, i int) *bool {
	if c.IsNull(i) {
		return nil
	}
	return ptr(c.(*array.Boolean).Value(i))
}

func userRowAt(r arrow.RecordBatch, i int) UserRow {
	str := func(c int) string { return r.Column(c).(*array.String).Value(i) }
	b := func(c int) *bool { return optBool(r.Column(c), i) }
	u := UserRow{Key: Key{Date: r.Column(0).(*array.Date32).Value(i).ToTime(), Tenant: str(1)},
		UserID: str(2), UserPrincipalName: str(3), UserDisplayName: optString(r.Column(4), i),
		Source: Endpoint(str(5)), UserType: optString(r.Column(6), i), IsAdmin: b(7), IsRegistered: b(8),
		IsEnabled: b(9), IsCapable: b(10), IsMfaRegistered: b(11), IsMfaCapable: b(12), IsSsprRegistered: b(13),
		IsSsprEnabled: b(14), IsSsprCapable: b(15), IsPasswordlessCapable: b(16),
		IsSystemPreferredAuthEnabled: b(17), DefaultMfaMethod: optString(r.Column(18), i),
		AuthMethodCount: r.Column(21).(*array.Int64).Value(i),
		ExtractedAt:     r.Column(22).(*array.Timestamp).Value(i).ToTime(arrow.Microsecond), RunID: str(23)}
	if l := r.Column(19).(*array.List); !l.IsNull(i) {
		from, to := l.ValueOffsets(i)
		u.SystemPreferredMethods = []string{}
		for j := from; j < to; j++ {
			u.SystemPreferredMethods = append(u.SystemPreferredMethods, l.ListValues().(*array.String).Value(int(j)))
		}
	}
	if c := r.Column(20); !c.IsNull(i) {
		ts := c.(*array.Timestamp).Value(i).ToTime(arrow.Microsecond)
		u.LastUpdatedAt = &ts
	}
	return u
}

func methodRowAt(r arrow.RecordBatch, i int) MethodRow {
	str := func(c int) string { return r.Column(c).(*array.String).Value(i) }
	b := func(c int) bool { return r.Column(c).(*array.Boolean).Value(i) }
	return MethodRow{Key: Key{Date: r.Column(0).(*array.Date32).Value(i).ToTime(), Tenant: str(1)},
		UserID: str(2), UserPrincipalName: str(3), Source: Endpoint(str(4)), AuthMethod: str(5),
		MethodFamily: MethodFamily(str(6)), UsableForMFA: b(7), UsableForSSPR: b(8), IsKnownValue: b(9), RunID: str(10)}
}

func equalUserRows(a, b UserRow) bool {
	eqS := func(x, y *string) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	eqB := func(x, y *bool) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	eqT := func(x, y *time.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(*y)) }
	bx := []*bool{a.IsAdmin, a.IsRegistered, a.IsEnabled, a.IsCapable, a.IsMfaRegistered, a.IsMfaCapable,
		a.IsSsprRegistered, a.IsSsprEnabled, a.IsSsprCapable, a.IsPasswordlessCapable, a.IsSystemPreferredAuthEnabled}
	by := []*bool{b.IsAdmin, b.IsRegistered, b.IsEnabled, b.IsCapable, b.IsMfaRegistered, b.IsMfaCapable,
		b.IsSsprRegistered, b.IsSsprEnabled, b.IsSsprCapable, b.IsPasswordlessCapable, b.IsSystemPreferredAuthEnabled}
	for i := range bx {
		if !eqB(bx[i], by[i]) {
			return false
		}
	}
	return a.Key.Date.Equal(b.Key.Date) && a.Tenant == b.Tenant && a.UserID == b.UserID &&
		a.UserPrincipalName == b.UserPrincipalName && eqS(a.UserDisplayName, b.UserDisplayName) &&
		a.Source == b.Source && eqS(a.UserType, b.UserType) && eqS(a.DefaultMfaMethod, b.DefaultMfaMethod) &&
		(a.SystemPreferredMethods == nil) == (b.SystemPreferredMethods == nil) &&
		slices.Equal(a.SystemPreferredMethods, b.SystemPreferredMethods) && eqT(a.LastUpdatedAt, b.LastUpdatedAt) &&
		a.AuthMethodCount == b.AuthMethodCount && a.ExtractedAt.Equal(b.ExtractedAt) && a.RunID == b.RunID
}
