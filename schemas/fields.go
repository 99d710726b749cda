package schemas

import (
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
)

// FieldKind is what a user field holds: its JSON type in Graph's record,
// the checks the data contract runs on it, and its column type.
type FieldKind uint8

const (
	// KindString is a JSON string; a STRING column.
	KindString FieldKind = iota + 1
	// KindBool is a JSON boolean; a BOOLEAN column.
	KindBool
	// KindMethodList is the array of registered methods: its values are
	// exploded into user_auth_methods, without repeats, and the column holds
	// how many there are (INTEGER).
	KindMethodList
	// KindStringList is an array of strings kept as sent; a REPEATED STRING
	// column (list<string> in Arrow).
	KindStringList
	// KindTimestamp is an RFC 3339 string; a TIMESTAMP column in UTC.
	KindTimestamp
)

// arrowType is the column type of a kind.
func (k FieldKind) arrowType() arrow.DataType {
	switch k {
	case KindString:
		return str
	case KindBool:
		return boolean
	case KindMethodList:
		return int64Type
	case KindStringList:
		return stringList
	case KindTimestamp:
		return tsUTC
	}
	panic(fmt.Sprintf("schemas: no column type for field kind %d", k))
}

// UserField is one column of user_registration_details after the
// partition keys, with the Graph property that fills it in each report.
// A field both reports lack (V1 and Beta "") is filled by credreg itself.
type UserField struct {
	// Column is the column's name.
	Column string
	Kind   FieldKind
	// Nullable columns are NULL when Graph sends null or nothing. A Graph
	// string that is not nullable is required: a record without it is
	// rejected (id, userPrincipalName). A method list sent as null holds
	// no methods.
	Nullable    bool
	Description string
	// V1 and Beta are the property's name in the v1.0 report
	// (userRegistrationDetails) and the beta one
	// (credentialUserRegistrationDetails), exactly as Graph spells them;
	// "" where the report lacks it.
	V1, Beta string
	// Values are the documented values of an enum-like string (or string
	// list). Graph's enums evolve, so another value is not an error: it
	// loads unchanged and is counted as drift. nil for a property that is
	// no enum.
	Values []string
	// Fallback marks a property that fills the column of the field before
	// it when that one is absent, null or "". It adds no column.
	Fallback bool
}

// Name is the field's property name in the endpoint's report, "" when the
// report lacks it.
func (f *UserField) Name(e Endpoint) string {
	switch e {
	case UserRegistrationDetails:
		return f.V1
	case CredentialUserRegistrationDetails:
		return f.Beta
	}
	return ""
}

// Graph reports whether the field comes from Graph (either report).
func (f *UserField) Graph() bool { return f.V1 != "" || f.Beta != "" }

// column is the field's column; it is not meaningful for a fallback.
func (f *UserField) column() Column {
	return Column{Name: f.Column, Type: f.Kind.arrowType(), Nullable: f.Nullable, Description: f.Description}
}

// userDefaultAuthenticationMethod is Graph's enum of that name: the values
// of userPreferredMethodForSecondaryAuthentication and, as documented, of
// systemPreferredAuthenticationMethods. unknownFutureValue is Graph's
// placeholder and counts as documented, as in the method catalog.
var userDefaultAuthenticationMethod = []string{
	"push", "oath", "voiceMobile", "voiceAlternateMobile", "voiceOffice", "sms", "none", "unknownFutureValue",
}

// userFields is the one table of user_registration_details' fields: its
// columns after the partition keys, in order, and what fills each. The
// Arrow and BigQuery schemas of the table and transform's decoder (names,
// types, required fields, documented values) are derived from it; graphsim
// keeps its own description of Graph's records, to check it against.
//
// To add a field (seven edits, five of them one line): its entry here; a
// field in UserRow and its line in UserRow.Append; a field in
// transform.Record, its field variable in transform/fields.go and its
// lines in transform/record.go (decoded.record, userRow). Then bump
// Version and refresh the golden file. graphsim learns the property in
// its own words: it is the independent check of this table. Unexported and
// read through UserFields, so no caller can change it under the others.
var userFields = [...]UserField{
	{Column: "user_id", Kind: KindString, V1: "id", Beta: "id",
		Description: "User object id (Graph `id`)."},
	{Column: "user_principal_name", Kind: KindString, V1: "userPrincipalName", Beta: "userPrincipalName",
		Description: "userPrincipalName: the sign-in name."},
	{Column: "user_display_name", Kind: KindString, Nullable: true, V1: "userDisplayName", Beta: "userDisplayName",
		Description: "userDisplayName; NULL when Graph sent none."},
	{Column: "source", Kind: KindString, Description: sourceDesc},
	{Column: "user_type", Kind: KindString, Nullable: true, V1: "userType",
		Values:      []string{"member", "guest", "unknownFutureValue"},
		Description: "member, guest, … (v1.0 only)."},
	{Column: "is_admin", Kind: KindBool, Nullable: true, V1: "isAdmin", Description: "v1.0 only."},
	{Column: "is_registered", Kind: KindBool, Nullable: true, Beta: "isRegistered", Description: "beta only: registered for SSPR."},
	{Column: "is_enabled", Kind: KindBool, Nullable: true, Beta: "isEnabled", Description: "beta only: enabled for SSPR."},
	{Column: "is_capable", Kind: KindBool, Nullable: true, Beta: "isCapable", Description: "beta only: registered and enabled for SSPR."},
	{Column: "is_mfa_registered", Kind: KindBool, Nullable: true, V1: "isMfaRegistered", Beta: "isMfaRegistered", Description: "Both reports."},
	{Column: "is_mfa_capable", Kind: KindBool, Nullable: true, V1: "isMfaCapable", Description: "v1.0 only."},
	{Column: "is_sspr_registered", Kind: KindBool, Nullable: true, V1: "isSsprRegistered", Description: "v1.0 only."},
	{Column: "is_sspr_enabled", Kind: KindBool, Nullable: true, V1: "isSsprEnabled", Description: "v1.0 only."},
	{Column: "is_sspr_capable", Kind: KindBool, Nullable: true, V1: "isSsprCapable", Description: "v1.0 only."},
	{Column: "is_passwordless_capable", Kind: KindBool, Nullable: true, V1: "isPasswordlessCapable", Description: "v1.0 only."},
	{Column: "is_system_preferred_auth_enabled", Kind: KindBool, Nullable: true, V1: "isSystemPreferredAuthenticationMethodEnabled",
		Description: "v1.0 only: isSystemPreferredAuthenticationMethodEnabled."},
	{Column: "default_mfa_method", Kind: KindString, Nullable: true, V1: "userPreferredMethodForSecondaryAuthentication",
		Values:      userDefaultAuthenticationMethod,
		Description: "userPreferredMethodForSecondaryAuthentication (v1.0) or defaultMfaMethod (beta); NULL when Graph sent none or \"\"."},
	// defaultMfaMethod is an extra of the beta version of the v1.0 report.
	{Column: "default_mfa_method", Kind: KindString, Nullable: true, V1: "defaultMfaMethod", Fallback: true,
		Values: []string{"none", "mobilePhone", "alternateMobilePhone", "officePhone",
			"microsoftAuthenticatorPush", "softwareOneTimePasscode", "unknownFutureValue"}},
	{Column: "system_preferred_methods", Kind: KindStringList, Nullable: true, V1: "systemPreferredAuthenticationMethods",
		Values:      userDefaultAuthenticationMethod,
		Description: "systemPreferredAuthenticationMethods (v1.0 only)."},
	{Column: "last_updated_at", Kind: KindTimestamp, Nullable: true, V1: "lastUpdatedDateTime",
		Description: "lastUpdatedDateTime (v1.0 only), UTC, microseconds."},
	{Column: "auth_method_count", Kind: KindMethodList, V1: "methodsRegistered", Beta: "authMethods",
		Description: "Number of methods the user has registered (rows in user_auth_methods)."},
	{Column: "extracted_at", Kind: KindTimestamp, Description: "When the page holding the user was received."},
	{Column: "run_id", Kind: KindString, Description: runIDDesc},
}

// NumUserFields is how many entries UserFields has, a constant for arrays
// indexed by field.
const NumUserFields = len(userFields)

// UserFields returns a copy of the table of user_registration_details'
// fields (see userFields): its columns after the partition keys, in order,
// and the Graph properties that fill each. The copy is the caller's own,
// Values included.
func UserFields() []UserField {
	out := userFields
	for i := range out {
		out[i].Values = slices.Clone(out[i].Values)
	}
	return out[:]
}

// userColumns are user_registration_details' columns after the keys.
func userColumns() []Column {
	var cols []Column
	for i := range userFields {
		if f := &userFields[i]; !f.Fallback {
			cols = append(cols, f.column())
		}
	}
	return cols
}
