package schemas

import (
	"slices"
	"testing"
)

func TestVocabulary(t *testing.T) {
	cases := []struct {
		table, column string
		// some values it must hold; none means no vocabulary
		has []string
	}{
		{UserAuthMethodsTable.Name, "auth_method", []string{"fido2", "microsoftAuthenticatorPush", "unknownFutureValue", "x509CertificateSingleFactor"}},
		{UserAuthMethodsTable.Name, "method_family", []string{"authenticator_app", "unknown"}},
		{UserRegistrationDetailsTable.Name, "user_type", []string{"member", "guest"}},
		// both entries of the column: the v1.0 property's and the beta
		// extra's values
		{UserRegistrationDetailsTable.Name, "default_mfa_method", []string{"push", "sms", "mobilePhone", "softwareOneTimePasscode"}},
		{UserRegistrationDetailsTable.Name, "system_preferred_methods", []string{"push", "sms", "voiceMobile"}},
		{UserRegistrationDetailsTable.Name, "user_display_name", nil},
		{UserRegistrationDetailsTable.Name, "user_id", nil},
		{UserAuthMethodsTable.Name, "user_type", nil},
		{RejectedRecordsTable.Name, "reason_code", nil},
	}
	for _, tc := range cases {
		got := Vocabulary(tc.table, tc.column)
		if tc.has == nil {
			if got != nil {
				t.Errorf("Vocabulary(%s, %s) = %v, want none", tc.table, tc.column, got)
			}
			continue
		}
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("Vocabulary(%s, %s) = %v, want sorted without repeats", tc.table, tc.column, got)
		}
		for _, v := range tc.has {
			if !slices.Contains(got, v) {
				t.Errorf("Vocabulary(%s, %s) lacks %q: %v", tc.table, tc.column, v, got)
			}
		}
		if slices.Contains(got, "") {
			t.Errorf("Vocabulary(%s, %s) holds the empty string", tc.table, tc.column)
		}
	}
	// the caller's own copy
	a := Vocabulary(UserRegistrationDetailsTable.Name, "user_type")
	a[0] = "changed"
	if b := Vocabulary(UserRegistrationDetailsTable.Name, "user_type"); b[0] == "changed" {
		t.Error("Vocabulary returned shared storage")
	}
}
