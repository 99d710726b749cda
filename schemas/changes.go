package schemas

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// ChangeKind names one kind of row of registration_changes. Every kind is a
// set difference between a tenant's consecutive snapshots: what the current
// one has that the previous lacks, or the other way round.
type ChangeKind string

const (
	ChangeAppeared      ChangeKind = "appeared"       // the user is in this snapshot, not in the previous
	ChangeDisappeared   ChangeKind = "disappeared"    // in the previous snapshot, not in this one
	ChangeMethodAdded   ChangeKind = "method_added"   // (user, auth_method) new in this snapshot
	ChangeMethodRemoved ChangeKind = "method_removed" // (user, auth_method) gone since the previous
)

// ChangeFlag is a user state whose flips registration_changes records as
// <Name>_gained and <Name>_lost: a user with the flag true now and not
// before (absent or false or NULL), or the other way round.
type ChangeFlag struct {
	Name string
	// V1, Beta are the user_registration_details column holding the state
	// in each report; "" when the report lacks it.
	V1, Beta string
}

// ChangeFlags lists the tracked states.
func ChangeFlags() []ChangeFlag {
	return []ChangeFlag{
		{"mfa_registered", "is_mfa_registered", "is_mfa_registered"},
		{"sspr_registered", "is_sspr_registered", "is_registered"},
		{"passwordless_capable", "is_passwordless_capable", ""},
		{"admin", "is_admin", ""},
	}
}

// Gained and Lost are the change kinds of the flag's flips.
func (f ChangeFlag) Gained() ChangeKind { return ChangeKind(f.Name + "_gained") }
func (f ChangeFlag) Lost() ChangeKind   { return ChangeKind(f.Name + "_lost") }

// ChangeKinds lists every kind, in the order the documentation gives them.
func ChangeKinds() []ChangeKind {
	kinds := []ChangeKind{ChangeAppeared, ChangeDisappeared, ChangeMethodAdded, ChangeMethodRemoved}
	for _, f := range ChangeFlags() {
		kinds = append(kinds, f.Gained(), f.Lost())
	}
	return kinds
}

// RegistrationChangesTable: per user, what changed since the tenant's
// previous snapshot.
var RegistrationChangesTable = newTable("registration_changes",
	"Per user, what changed since the tenant's previous snapshot: each kind is a set difference between the two snapshots. The first snapshot of a tenant has none.",
	[]string{ColTenantID, "change", "user_id"},
	Column{Name: "previous_snapshot_date", Type: arrow.FixedWidthTypes.Date32, Description: "The snapshot compared against: the tenant's newest earlier one (days between the two were missed)."},
	Column{Name: "user_id", Type: str, Description: "User object id, as in user_registration_details."},
	Column{Name: "user_principal_name", Type: str, Description: "userPrincipalName in this snapshot; in the previous one for a user no longer present."},
	Column{Name: "change", Type: str, Description: "appeared, disappeared, method_added, method_removed, or <state>_gained / <state>_lost for mfa_registered, sspr_registered, passwordless_capable, admin."},
	Column{Name: "auth_method", Type: str, Nullable: true, Description: "method_added and method_removed: the value as Graph sent it; NULL otherwise."},
	Column{Name: "method_family", Type: str, Nullable: true, Description: "method_added and method_removed: the method's family; NULL otherwise."},
	Column{Name: "run_id", Type: str, Description: runIDDesc},
)

// ChangeRow is one row of registration_changes.
type ChangeRow struct {
	Key
	PreviousDate      arrow.Date32
	UserID            string
	UserPrincipalName string
	Change            ChangeKind
	AuthMethod        *string
	MethodFamily      *MethodFamily
	RunID             string
}

// Append adds the row to b, a builder of RegistrationChangesTable.
func (r *ChangeRow) Append(b *array.RecordBuilder) {
	appendKey(b, r.Key)
	b.Field(2).(*array.Date32Builder).Append(r.PreviousDate)
	b.Field(3).(*array.StringBuilder).Append(r.UserID)
	b.Field(4).(*array.StringBuilder).Append(r.UserPrincipalName)
	b.Field(5).(*array.StringBuilder).Append(string(r.Change))
	appendOptString(b.Field(6), r.AuthMethod)
	if r.MethodFamily == nil {
		b.Field(7).AppendNull()
	} else {
		b.Field(7).(*array.StringBuilder).Append(string(*r.MethodFamily))
	}
	b.Field(8).(*array.StringBuilder).Append(r.RunID)
}
