package schemas

// MethodFamily is credreg's one vocabulary for authentication methods across
// both reports, which name the same method differently ("fido" in the beta
// report, "fido2" in v1.0; "appNotification" and "microsoftAuthenticatorPush").
type MethodFamily string

const (
	FamilyAuthenticatorApp    MethodFamily = "authenticator_app"
	FamilyPhone               MethodFamily = "phone"
	FamilyEmail               MethodFamily = "email"
	FamilySecurityQuestion    MethodFamily = "security_question"
	FamilySoftwareOTP         MethodFamily = "software_otp"
	FamilyHardwareOTP         MethodFamily = "hardware_otp"
	FamilyPasskey             MethodFamily = "passkey"
	FamilyWindowsHello        MethodFamily = "windows_hello"
	FamilyPlatformCredential  MethodFamily = "platform_credential"
	FamilyTemporaryAccessPass MethodFamily = "temporary_access_pass"
	FamilyAppPassword         MethodFamily = "app_password"
	FamilyCertificate         MethodFamily = "certificate"
	FamilyExternal            MethodFamily = "external"
	// FamilyUnknown is the family of values the catalog does not know and of
	// Graph's own placeholder "unknownFutureValue".
	FamilyUnknown MethodFamily = "unknown"
)

// MethodFamilies lists every family in a fixed order (the daily summary's
// column order).
func MethodFamilies() []MethodFamily {
	return []MethodFamily{FamilyAuthenticatorApp, FamilyPhone, FamilyEmail, FamilySecurityQuestion,
		FamilySoftwareOTP, FamilyHardwareOTP, FamilyPasskey, FamilyWindowsHello, FamilyPlatformCredential,
		FamilyTemporaryAccessPass, FamilyAppPassword, FamilyCertificate, FamilyExternal, FamilyUnknown}
}

// Method is one catalog entry.
type Method struct {
	Value  string
	Family MethodFamily
	// UsableForMFA: the method can satisfy a second factor.
	UsableForMFA bool
	// UsableForSSPR: the method can verify a self-service password reset.
	UsableForSSPR bool
}

// catalog is a policy table built from Microsoft's documentation of both
// reports. The two reports' docs disagree with each other, so the list is
// open: values missing here still load, with IsKnownValue false.
var catalog = func() map[string]Method {
	m := map[string]Method{}
	add := func(f MethodFamily, mfa, sspr bool, values ...string) {
		for _, v := range values {
			m[v] = Method{Value: v, Family: f, UsableForMFA: mfa, UsableForSSPR: sspr}
		}
	}
	// Authenticator app: beta names, then v1.0 names.
	add(FamilyAuthenticatorApp, true, true,
		"appNotification", "appCode", "appNotificationCode", "appNotificationAndCode",
		"microsoftAuthenticatorPush", "microsoftAuthenticatorPasswordless")
	add(FamilyPhone, true, true,
		"mobilePhone", "mobileSMS", "mobilePhoneAndSMS", "alternateMobilePhone", "officePhone")
	add(FamilyEmail, false, true, "email")
	add(FamilySecurityQuestion, false, true, "securityQuestion")
	add(FamilySoftwareOTP, true, true, "softwareOneTimePasscode")
	add(FamilyHardwareOTP, true, true, "hardwareOneTimePasscode")
	add(FamilyPasskey, true, false,
		"fido", "fido2", "passKeyDeviceBound", "passKeyDeviceBoundAuthenticator",
		"passKeyDeviceBoundWindowsHello", "passKeySynced")
	add(FamilyWindowsHello, true, false, "windowsHelloForBusiness")
	add(FamilyPlatformCredential, true, false, "macOsSecureEnclaveKey")
	add(FamilyTemporaryAccessPass, true, false, "temporaryAccessPass")
	// An app password is a legacy workaround for clients without MFA
	// support, not a second factor.
	add(FamilyAppPassword, false, false, "appPassword")
	add(FamilyCertificate, true, false, "x509CertificateMultiFactor")
	add(FamilyCertificate, false, false, "x509CertificateSingleFactor")
	add(FamilyExternal, true, false, "externalAuthMethod")
	add(FamilyUnknown, false, false, "unknownFutureValue")
	return m
}()

// LookupMethod returns the catalog entry of a method value exactly as Graph
// sent it (case-sensitive, as Graph's enums are). An unknown value yields a
// Method of FamilyUnknown, usable for nothing, and known == false: the value
// is kept, flagged, and counted, never dropped.
func LookupMethod(value string) (m Method, known bool) {
	m, known = catalog[value]
	if !known {
		return Method{Value: value, Family: FamilyUnknown}, false
	}
	return m, true
}
