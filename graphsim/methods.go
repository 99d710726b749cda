package graphsim

import "slices"

// unknownMethod is a method value the schemas catalog does not know, served
// to a few users so that drift handling downstream has something to handle.
const unknownMethod = "qrCodePin"

// vocabEntry describes how one v1.0 method value is drawn and how it shows up
// in the other vocabularies Graph uses.
type vocabEntry struct {
	value string
	// weight is the share of users who take part in registration at all and
	// register this method at some point.
	weight float64
	// removal is the share of registrations later removed, keepDays the
	// longest time (days) such a registration lasts.
	removal  float64
	keepDays uint64
	// beta is the credentialUserRegistrationDetails name; "" means the beta
	// report has no name for it and omits it.
	beta string
	// sysPref is the value systemPreferredAuthenticationMethods uses,
	// sysRank its strength (lower is preferred); "" means never system-preferred.
	sysPref string
	sysRank int
	// secondary lists the userPreferredMethodForSecondaryAuthentication values
	// this method allows.
	secondary []string
	// mfa, sspr and passwordless say what the method counts for in the
	// report's isMfaRegistered, isSsprRegistered and isPasswordlessCapable.
	// They are graphsim's own table, written from Microsoft's
	// documentation (see vocabulary), not looked up in the schemas
	// catalog the client uses: a wrong catalog entry then fails
	// TestCatalogAgreesWithGraphsim instead of being served back to it.
	mfa, sspr, passwordless bool
	// campaign marks the methods an MFA rollout campaign asks users to
	// register (see campaign.go).
	campaign bool
}

// vocabulary is in the order methodsRegistered lists values. The weights
// follow the shape of public Entra registration statistics: Authenticator
// and phone dominate, passkeys are rising, security questions are rare.
//
// What each method counts for (mfa, sspr, passwordless) follows
// Microsoft Learn, "Authentication methods in Microsoft Entra ID" (the
// table of which method serves sign-in, MFA and SSPR) and "Passwordless
// authentication options": Authenticator push and passwordless sign-in,
// phone (SMS and voice, any of the three numbers) and OATH codes
// (software and hardware) serve both MFA and SSPR; FIDO2 keys, passkeys
// and Windows Hello for Business serve MFA and passwordless sign-in but
// not SSPR; email and security questions serve SSPR only; a Temporary
// Access Pass satisfies MFA during onboarding but not SSPR; QR code
// (qrCodePin, frontline workers) is a single-factor primary sign-in,
// counting for neither.
var vocabulary = []vocabEntry{
	{value: "microsoftAuthenticatorPush", weight: 0.62, removal: 0.04, keepDays: 400, mfa: true, sspr: true, campaign: true,
		beta: "appNotification", sysPref: "push", sysRank: 3, secondary: []string{"push"}},
	{value: "mobilePhone", weight: 0.55, removal: 0.04, keepDays: 400, mfa: true, sspr: true, campaign: true,
		beta: "mobilePhone", sysPref: "sms", sysRank: 5, secondary: []string{"sms", "voiceMobile"}},
	{value: "email", weight: 0.30, removal: 0.03, keepDays: 400, sspr: true, beta: "email"},
	{value: "softwareOneTimePasscode", weight: 0.22, removal: 0.05, keepDays: 300, mfa: true, sspr: true,
		beta: "appCode", sysPref: "oath", sysRank: 4, secondary: []string{"oath"}},
	{value: "windowsHelloForBusiness", weight: 0.14, removal: 0.03, keepDays: 500, mfa: true, passwordless: true},
	{value: "microsoftAuthenticatorPasswordless", weight: 0.06, removal: 0.03, keepDays: 400, mfa: true, sspr: true,
		beta: "appNotification", sysPref: "push", sysRank: 3, passwordless: true},
	{value: "fido2", weight: 0.04, removal: 0.02, keepDays: 500, mfa: true,
		beta: "fido", sysPref: "fido2", sysRank: 1, passwordless: true},
	{value: "passKeyDeviceBound", weight: 0.05, removal: 0.02, keepDays: 500, mfa: true, campaign: true,
		beta: "fido", sysPref: "fido2", sysRank: 1, passwordless: true},
	{value: "passKeySynced", weight: 0.02, removal: 0.02, keepDays: 500, mfa: true, campaign: true,
		beta: "fido", sysPref: "fido2", sysRank: 1, passwordless: true},
	{value: "officePhone", weight: 0.05, removal: 0.05, keepDays: 300, mfa: true, sspr: true,
		beta: "officePhone", sysPref: "voiceOffice", sysRank: 7, secondary: []string{"voiceOffice"}},
	{value: "alternateMobilePhone", weight: 0.04, removal: 0.05, keepDays: 300, mfa: true, sspr: true,
		beta: "alternateMobilePhone", sysPref: "voiceAlternateMobile", sysRank: 6, secondary: []string{"voiceAlternateMobile"}},
	{value: "securityQuestion", weight: 0.05, removal: 0.05, keepDays: 300, sspr: true, beta: "securityQuestion"},
	// A Temporary Access Pass is issued for onboarding and soon deleted.
	{value: "temporaryAccessPass", weight: 0.03, removal: 0.9, keepDays: 8, mfa: true},
	{value: "hardwareOneTimePasscode", weight: 0.01, removal: 0.02, keepDays: 500, mfa: true, sspr: true,
		sysPref: "oath", sysRank: 4, secondary: []string{"oath"}},
	{value: unknownMethod, weight: 0.0023, removal: 0.02, keepDays: 300, beta: unknownMethod},
}

// betaName is the beta report's name of a v1.0 method value.
func betaName(v1 string) string {
	for i := range vocabulary {
		if vocabulary[i].value == v1 {
			return vocabulary[i].beta
		}
	}
	return ""
}

// BetaAuthMethods returns u's registrations in the vocabulary of the beta
// credentialUserRegistrationDetails report, in methodsRegistered order, each
// value once. Methods the beta report has no name for are omitted.
func (u User) BetaAuthMethods() []string {
	out := []string{}
	for _, m := range u.MethodsRegistered {
		b := betaName(m)
		if b != "" && !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

// BetaFlags returns u's booleans as the beta report defines them: the first
// three are about self-service password reset (registered, enabled by policy,
// both), the last about multifactor authentication.
func (u User) BetaFlags() (isRegistered, isEnabled, isCapable, isMfaRegistered bool) {
	return u.IsSsprRegistered, u.IsSsprEnabled, u.IsSsprCapable, u.IsMfaRegistered
}

// deriveFlags sets every property of u that follows from its registered
// methods, by graphsim's own table (vocabEntry.mfa, sspr, passwordless).
func deriveFlags(u *User, vocabIdx []int, prefPick uint64, prefBlank bool) {
	var secondary []string
	bestRank, best := 1<<30, ""
	for _, vi := range vocabIdx {
		e := &vocabulary[vi]
		u.IsMfaRegistered = u.IsMfaRegistered || e.mfa
		u.IsSsprRegistered = u.IsSsprRegistered || e.sspr
		u.IsPasswordlessCapable = u.IsPasswordlessCapable || e.passwordless
		if e.sysPref != "" && e.sysRank < bestRank {
			bestRank, best = e.sysRank, e.sysPref
		}
		secondary = append(secondary, e.secondary...)
	}
	// Every MFA method in the simulated tenant is allowed by policy.
	u.IsMfaCapable = u.IsMfaRegistered
	u.IsSsprCapable = u.IsSsprEnabled && u.IsSsprRegistered
	u.SystemPreferredAuthenticationMethods = []string{}
	if u.IsSystemPreferredAuthenticationMethodEnabled && best != "" {
		u.SystemPreferredAuthenticationMethods = []string{best}
	}
	if len(secondary) > 0 && !prefBlank {
		u.UserPreferredMethodForSecondaryAuthentication = secondary[prefPick%uint64(len(secondary))]
	}
}
