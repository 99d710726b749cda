package schemas

import (
	"github.com/apache/arrow-go/v18/arrow/array"
)

// SummaryFlag is one of the registration states the daily summary counts
// and shares: the same state in either report (see SummaryFlags).
type SummaryFlag struct {
	// Name is the summary's column stem: mfa_registered gives the
	// mfa_registered and mfa_registered_share columns.
	Name string
	// V1, Beta are the user_registration_details column that holds the
	// state in each report; "" when the report lacks it (the count is then
	// NULL for that report's snapshots).
	V1, Beta    string
	Description string
}

// SummaryFlags lists the counted states in column order.
func SummaryFlags() []SummaryFlag {
	return []SummaryFlag{
		{"mfa_registered", "is_mfa_registered", "is_mfa_registered", "Users registered for MFA."},
		{"mfa_capable", "is_mfa_capable", "", "Users registered for MFA with a method allowed by policy (v1.0 only)."},
		{"sspr_registered", "is_sspr_registered", "is_registered", "Users registered for self-service password reset."},
		{"sspr_enabled", "is_sspr_enabled", "is_enabled", "Users enabled for self-service password reset."},
		{"sspr_capable", "is_sspr_capable", "is_capable", "Users registered and enabled for self-service password reset."},
		{"passwordless_capable", "is_passwordless_capable", "", "Users with a passwordless method allowed by policy (v1.0 only)."},
	}
}

// SummaryFamilyColumn is the daily summary's column of users with at least
// one method of family f.
func SummaryFamilyColumn(f MethodFamily) string { return "users_" + string(f) }

// summaryColumns builds registration_daily_summary's columns from
// SummaryFlags and MethodFamilies, so a new family or state is one edit.
func summaryColumns() []Column {
	i64 := func(name, desc string, nullable bool) Column {
		return Column{Name: name, Type: int64Type, Nullable: nullable, Description: desc}
	}
	cols := []Column{
		{Name: "source", Type: str, Description: sourceDesc},
		i64("users", "Users in the snapshot (rows of user_registration_details).", false),
		i64("members", "Users whose user_type is member; NULL for the beta report, which has no user_type.", true),
		i64("guests", "Users whose user_type is guest; NULL for the beta report.", true),
	}
	for _, f := range SummaryFlags() {
		cols = append(cols,
			i64(f.Name, f.Description+" NULL when the snapshot's report lacks the state.", f.Beta == ""),
			Column{Name: f.Name + "_share", Type: float64T, Nullable: true,
				Description: f.Name + " / users, from 0 to 1; NULL when there are no users or the report lacks the state."})
	}
	cols = append(cols,
		i64("admins", "Users with is_admin; NULL for the beta report.", true),
		i64("admins_without_mfa", "Admins not registered for MFA; NULL for the beta report.", true),
		i64("users_without_methods", "Users with no registered method (auth_method_count = 0).", false),
		i64("method_rows", "Rows of user_auth_methods in the snapshot.", false),
	)
	for _, f := range MethodFamilies() {
		cols = append(cols, i64(SummaryFamilyColumn(f), "Users with at least one method of family "+string(f)+".", false))
	}
	return append(cols, Column{Name: "run_id", Type: str, Description: runIDDesc})
}

// RegistrationDailySummaryTable: one row per (snapshot_date, tenant_id).
var RegistrationDailySummaryTable = newTable("registration_daily_summary",
	"One row per snapshot: users, counts and shares of MFA, SSPR and passwordless registration, admins without MFA, users per method family.",
	[]string{ColTenantID},
	summaryColumns()...,
)

// SummaryRow is the one row of registration_daily_summary of a slice.
// Counts of states the report lacks are nil.
type SummaryRow struct {
	Key
	Source              Endpoint
	Users               int64
	Members, Guests     *int64
	Flags               []*int64 // in SummaryFlags order
	Admins              *int64
	AdminsWithoutMFA    *int64
	UsersWithoutMethods int64
	MethodRows          int64
	Families            []int64 // in MethodFamilies order
	RunID               string
}

func appendOptInt(b array.Builder, v *int64) {
	if v == nil {
		b.AppendNull()
		return
	}
	b.(*array.Int64Builder).Append(*v)
}

// Append adds the row to b, a builder of RegistrationDailySummaryTable.
func (r *SummaryRow) Append(b *array.RecordBuilder) {
	appendKey(b, r.Key)
	i := 2
	next := func() array.Builder { i++; return b.Field(i - 1) }
	next().(*array.StringBuilder).Append(string(r.Source))
	next().(*array.Int64Builder).Append(r.Users)
	appendOptInt(next(), r.Members)
	appendOptInt(next(), r.Guests)
	for k := range SummaryFlags() {
		var v *int64
		if k < len(r.Flags) {
			v = r.Flags[k]
		}
		appendOptInt(next(), v)
		share := next()
		if v == nil || r.Users == 0 {
			share.AppendNull()
		} else {
			share.(*array.Float64Builder).Append(float64(*v) / float64(r.Users))
		}
	}
	appendOptInt(next(), r.Admins)
	appendOptInt(next(), r.AdminsWithoutMFA)
	next().(*array.Int64Builder).Append(r.UsersWithoutMethods)
	next().(*array.Int64Builder).Append(r.MethodRows)
	for k := range MethodFamilies() {
		var v int64
		if k < len(r.Families) {
			v = r.Families[k]
		}
		next().(*array.Int64Builder).Append(v)
	}
	next().(*array.StringBuilder).Append(r.RunID)
}
