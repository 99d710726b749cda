package schemas

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
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

func appendOptBool(b array.Builder, v *bool) {
	if v == nil {
		b.AppendNull()
		return
	}
	b.(*array.BooleanBuilder).Append(*v)
}

func appendTimestamp(b array.Builder, t time.Time) {
	b.(*array.TimestampBuilder).Append(arrow.Timestamp(t.UnixMicro()))
}

// Append adds the row to b, a builder of UserRegistrationDetailsTable.
func (r *UserRow) Append(b *array.RecordBuilder) {
	appendKey(b, r.Key)
	b.Field(2).(*array.StringBuilder).Append(r.UserID)
	b.Field(3).(*array.StringBuilder).Append(r.UserPrincipalName)
	appendOptString(b.Field(4), r.UserDisplayName)
	b.Field(5).(*array.StringBuilder).Append(string(r.Source))
	appendOptString(b.Field(6), r.UserType)
	for i, v := range []*bool{r.IsAdmin, r.IsRegistered, r.IsEnabled, r.IsCapable, r.IsMfaRegistered,
		r.IsMfaCapable, r.IsSsprRegistered, r.IsSsprEnabled, r.IsSsprCapable, r.IsPasswordlessCapable,
		r.IsSystemPreferredAuthEnabled} {
		appendOptBool(b.Field(7+i), v)
	}
	appendOptString(b.Field(18), r.DefaultMfaMethod)
	lb := b.Field(19).(*array.ListBuilder)
	if r.SystemPreferredMethods == nil {
		lb.AppendNull()
	} else {
		lb.Append(true)
		vb := lb.ValueBuilder().(*array.StringBuilder)
		for _, m := range r.SystemPreferredMethods {
			vb.Append(m)
		}
	}
	if r.LastUpdatedAt == nil {
		b.Field(20).AppendNull()
	} else {
		appendTimestamp(b.Field(20), *r.LastUpdatedAt)
	}
	b.Field(21).(*array.Int64Builder).Append(r.AuthMethodCount)
	appendTimestamp(b.Field(22), r.ExtractedAt)
	b.Field(23).(*array.StringBuilder).Append(r.RunID)
}

// Append adds the row to b, a builder of UserAuthMethodsTable.
func (r *MethodRow) Append(b *array.RecordBuilder) {
	appendKey(b, r.Key)
	b.Field(2).(*array.StringBuilder).Append(r.UserID)
	b.Field(3).(*array.StringBuilder).Append(r.UserPrincipalName)
	b.Field(4).(*array.StringBuilder).Append(string(r.Source))
	b.Field(5).(*array.StringBuilder).Append(r.AuthMethod)
	b.Field(6).(*array.StringBuilder).Append(string(r.MethodFamily))
	b.Field(7).(*array.BooleanBuilder).Append(r.UsableForMFA)
	b.Field(8).(*array.BooleanBuilder).Append(r.UsableForSSPR)
	b.Field(9).(*array.BooleanBuilder).Append(r.IsKnownValue)
	b.Field(10).(*array.StringBuilder).Append(r.RunID)
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
