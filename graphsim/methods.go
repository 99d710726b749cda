package graphsim

import (
	"slices"

	"github.com/credreg/credreg/schemas"
)

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
	// passwordless marks methods that make a user passwordless capable.
	passwordless bool
}

// vocabulary is in the order methodsRegistered lists values. The weights
// follow the shape of public Entra registration statistics: Authenticator
// and phone dominate, passkeys are rising, security questions are rare.
var vocabulary = []vocabEntry{
	{value: "microsoftAuthenticatorPush", weight: 0.62, removal: 0.04, keepDays: 400,
		beta: "appNotification", sysPref: "push", sysRank: 3, secondary: []string{"push"}},
	{value: "mobilePhone", weight: 0.55, removal: 0.04, keepDays: 400,
		beta: "mobilePhone", sysPref: "sms", sysRank: 5, secondary: []string{"sms", "voiceMobile"}},
	{value: "email", weight: 0.30, removal: 0.03, keepDays: 400, beta: "email"},
	{value: "softwareOneTimePasscode", weight: 0.22, removal: 0.05, keepDays: 300,
		beta: "appCode", sysPref: "oath", sysRank: 4, secondary: []string{"oath"}},
	{value: "windowsHelloForBusiness", weight: 0.14, removal: 0.03, keepDays: 500, passwordless: true},
	{value: "microsoftAuthenticatorPasswordless", weight: 0.06, removal: 0.03, keepDays: 400,
		beta: "appNotification", sysPref: "push", sysRank: 3, passwordless: true},
	{value: "fido2", weight: 0.04, removal: 0.02, keepDays: 500,
		beta: "fido", sysPref: "fido2", sysRank: 1, passwordless: true},
	{value: "passKeyDeviceBound", weight: 0.05, removal: 0.02, keepDays: 500,
		beta: "fido", sysPref: "fido2", sysRank: 1, passwordless: true},
	{value: "passKeySynced", weight: 0.02, removal: 0.02, keepDays: 500,
		beta: "fido", sysPref: "fido2", sysRank: 1, passwordless: true},
	{value: "officePhone", weight: 0.05, removal: 0.05, keepDays: 300,
		beta: "officePhone", sysPref: "voiceOffice", sysRank: 7, secondary: []string{"voiceOffice"}},
	{value: "alternateMobilePhone", weight: 0.04, removal: 0.05, keepDays: 300,
		beta: "alternateMobilePhone", sysPref: "voiceAlternateMobile", sysRank: 6, secondary: []string{"voiceAlternateMobile"}},
	{value: "securityQuestion", weight: 0.05, removal: 0.05, keepDays: 300, beta: "securityQuestion"},
	// A Temporary Access Pass is issued for onboarding and soon deleted.
	{value: "temporaryAccessPass", weight: 0.03, removal: 0.9, keepDays: 8},
	{value: "hardwareOneTimePasscode", weight: 0.01, removal: 0.02, keepDays: 500,
		sysPref: "oath", sysRank: 4, secondary: []string{"oath"}},
	{value: unknownMethod, weight: 0.0023, removal: 0.02, keepDays: 300, beta: unknownMethod},
}

// vocabUsable is the catalog entry of each vocabulary value, looked up once.
var vocabUsable = func() []schemas.Method {
	out := make([]schemas.Method, len(vocabulary))
	for i, e := range vocabulary {
		out[i], _ = schemas.LookupMethod(e.value)
	}
	return out
}()

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
// methods, using the schemas catalog for what a method is usable for so that
// the simulator and the pipeline agree on the definitions.
func deriveFlags(u *User, vocabIdx []int, prefPick uint64, prefBlank bool) {
	var secondary []string
	bestRank, best := 1<<30, ""
	for _, vi := range vocabIdx {
		e := &vocabulary[vi]
		u.IsMfaRegistered = u.IsMfaRegistered || vocabUsable[vi].UsableForMFA
		u.IsSsprRegistered = u.IsSsprRegistered || vocabUsable[vi].UsableForSSPR
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
