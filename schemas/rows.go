package schemas

import (
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// Key identifies one slice of the warehouse: a tenant's snapshot of a day.
type Key struct {
	// Date is the snapshot day; only its UTC year, month and day count.
	Date   time.Time
	Tenant string
}

// DateString is the snapshot day as YYYY-MM-DD.
func (k Key) DateString() string { return k.Date.UTC().Format(time.DateOnly) }

// UserRow is one row of user_registration_details. Pointers are NULL when nil.
type UserRow struct {
	Key
	UserID                       string
	UserPrincipalName            string
	UserDisplayName              *string
	Source                       Endpoint
	UserType                     *string
	IsAdmin                      *bool
	IsRegistered                 *bool
	IsEnabled                    *bool
	IsCapable                    *bool
	IsMfaRegistered              *bool
	IsMfaCapable                 *bool
	IsSsprRegistered             *bool
	IsSsprEnabled                *bool
	IsSsprCapable                *bool
	IsPasswordlessCapable        *bool
	IsSystemPreferredAuthEnabled *bool
	DefaultMfaMethod             *string
	SystemPreferredMethods       []string // nil is NULL; empty is []
	LastUpdatedAt                *time.Time
	AuthMethodCount              int64
	ExtractedAt                  time.Time
	RunID                        string
}

// MethodRow is one row of user_auth_methods.
type MethodRow struct {
	Key
	UserID            string
	UserPrincipalName string
	Source            Endpoint
	AuthMethod        string
	MethodFamily      MethodFamily
	UsableForMFA      bool
	UsableForSSPR     bool
	IsKnownValue      bool
	RunID             string
}

// RejectRow is one row of rejected_records.
type RejectRow struct {
	Key
	Source       Endpoint
	PageSeq      int64
	RecordIndex  int64
	ReasonCode   string
	ReasonDetail string
	UserID       *string
	RawJSON      string
	RunID        string
}

// The appenders below write a row into a RecordBuilder made from the
// table's Arrow schema, column by column in schema order. The schema test
// round-trips each of them, so a column added to a table and not here fails.
//
// The transformer builds users and methods (millions of rows a run) with
// UserBuilder and MethodBuilder (rows_builder.go), which write the Arrow
// buffers themselves; these appenders are the reference they are tested
// against, and what tests and sinks use to build rows by hand. The users'
// and methods' appenders go through the helpers below instead of the
// builders' Append: those check and grow
// the builder's buffers on every value, through calls Go does not inline.
// The helpers check capacity inline, grow as Append would (to powers of two),
// and then append unchecked. A string is copied into the builder, never
// kept, so it is passed as its bytes without a copy. Neither these nor
// Append check UTF-8; the decoder's strings are valid already.

// putString appends s to b.
func putString(b *array.StringBuilder, s string) {
	if b.Len() >= b.Cap() {
		b.Reserve(1)
	}
	if n := b.DataLen() + len(s); n > b.DataCap() {
		// Grows to the next power of two, as Append does: reserving only
		// len(s) more would copy the buffer again on every string, and
		// doubling the capacity would overshoot Append's by up to half.
		b.ReserveData(int(bitutil.NextPowerOf2(n)) - b.DataLen())
	}
	b.UnsafeAppend(unsafe.Slice(unsafe.StringData(s), len(s)))
}

func putBool(b *array.BooleanBuilder, v bool) {
	if b.Len() >= b.Cap() {
		b.Reserve(1)
	}
	b.UnsafeAppend(v)
}

func putTimestamp(b *array.TimestampBuilder, t time.Time) {
	if b.Len() >= b.Cap() {
		b.Reserve(1)
	}
	b.UnsafeAppend(arrow.Timestamp(t.UnixMicro()))
}

func putInt64(b *array.Int64Builder, v int64) {
	if b.Len() >= b.Cap() {
		b.Reserve(1)
	}
	b.UnsafeAppend(v)
}

func putKey(b *array.RecordBuilder, k Key) {
	db := b.Field(0).(*array.Date32Builder)
	if db.Len() >= db.Cap() {
		db.Reserve(1)
	}
	db.UnsafeAppend(arrow.Date32FromTime(k.Date.UTC()))
	putString(b.Field(1).(*array.StringBuilder), k.Tenant)
}

func putOptString(b array.Builder, s *string) {
	if s == nil {
		b.AppendNull()
		return
	}
	putString(b.(*array.StringBuilder), *s)
}

func putOptBool(b array.Builder, v *bool) {
	if v == nil {
		b.AppendNull()
		return
	}
	putBool(b.(*array.BooleanBuilder), *v)
}

func appendKey(b *array.RecordBuilder, k Key) {
	b.Field(0).(*array.Date32Builder).Append(arrow.Date32FromTime(k.Date.UTC()))
	b.Field(1).(*array.StringBuilder).Append(k.Tenant)
}

func appendOptString(b array.Builder, s *string) {
	if s == nil {
		b.AppendNull()
		return
	}
	b.(*array.StringBuilder).Append(*s)
}

// Append adds the row to b, a builder of UserRegistrationDetailsTable.
func (r *UserRow) Append(b *array.RecordBuilder) {
	putKey(b, r.Key)
	putString(b.Field(5).(*array.StringBuilder), string(r.Source))
	putString(b.Field(23).(*array.StringBuilder), r.RunID)
	r.AppendVarying(b)
}

// AppendVarying adds the row to b, a builder of
// UserRegistrationDetailsTable, but for its SliceConstants columns (Key,
// Source, RunID): a ConstantColumns fills them when the batch is cut.
func (r *UserRow) AppendVarying(b *array.RecordBuilder) {
	putString(b.Field(2).(*array.StringBuilder), r.UserID)
	putString(b.Field(3).(*array.StringBuilder), r.UserPrincipalName)
	putOptString(b.Field(4), r.UserDisplayName)
	putOptString(b.Field(6), r.UserType)
	for i, v := range [...]*bool{r.IsAdmin, r.IsRegistered, r.IsEnabled, r.IsCapable, r.IsMfaRegistered,
		r.IsMfaCapable, r.IsSsprRegistered, r.IsSsprEnabled, r.IsSsprCapable, r.IsPasswordlessCapable,
		r.IsSystemPreferredAuthEnabled} {
		putOptBool(b.Field(7+i), v)
	}
	putOptString(b.Field(18), r.DefaultMfaMethod)
	lb := b.Field(19).(*array.ListBuilder)
	if r.SystemPreferredMethods == nil {
		lb.AppendNull()
	} else {
		lb.Append(true)
		vb := lb.ValueBuilder().(*array.StringBuilder)
		for _, m := range r.SystemPreferredMethods {
			putString(vb, m)
		}
	}
	if r.LastUpdatedAt == nil {
		b.Field(20).AppendNull()
	} else {
		putTimestamp(b.Field(20).(*array.TimestampBuilder), *r.LastUpdatedAt)
	}
	putInt64(b.Field(21).(*array.Int64Builder), r.AuthMethodCount)
	putTimestamp(b.Field(22).(*array.TimestampBuilder), r.ExtractedAt)
}

// Append adds the row to b, a builder of UserAuthMethodsTable.
func (r *MethodRow) Append(b *array.RecordBuilder) {
	putKey(b, r.Key)
	putString(b.Field(4).(*array.StringBuilder), string(r.Source))
	putString(b.Field(10).(*array.StringBuilder), r.RunID)
	r.AppendVarying(b)
}

// AppendVarying adds the row to b, a builder of UserAuthMethodsTable, but
// for its SliceConstants columns, as UserRow.AppendVarying does.
func (r *MethodRow) AppendVarying(b *array.RecordBuilder) {
	putString(b.Field(2).(*array.StringBuilder), r.UserID)
	putString(b.Field(3).(*array.StringBuilder), r.UserPrincipalName)
	putString(b.Field(5).(*array.StringBuilder), r.AuthMethod)
	putString(b.Field(6).(*array.StringBuilder), string(r.MethodFamily))
	putBool(b.Field(7).(*array.BooleanBuilder), r.UsableForMFA)
	putBool(b.Field(8).(*array.BooleanBuilder), r.UsableForSSPR)
	putBool(b.Field(9).(*array.BooleanBuilder), r.IsKnownValue)
}

// Append adds the row to b, a builder of RejectedRecordsTable.
func (r *RejectRow) Append(b *array.RecordBuilder) {
	appendKey(b, r.Key)
	b.Field(2).(*array.StringBuilder).Append(string(r.Source))
	b.Field(3).(*array.Int64Builder).Append(r.PageSeq)
	b.Field(4).(*array.Int64Builder).Append(r.RecordIndex)
	b.Field(5).(*array.StringBuilder).Append(r.ReasonCode)
	b.Field(6).(*array.StringBuilder).Append(r.ReasonDetail)
	appendOptString(b.Field(7), r.UserID)
	b.Field(8).(*array.StringBuilder).Append(r.RawJSON)
	b.Field(9).(*array.StringBuilder).Append(r.RunID)
}
