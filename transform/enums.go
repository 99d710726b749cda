package transform

import "slices"

// userDefaultAuthenticationMethod is Graph's enum of that name, the values of
// userPreferredMethodForSecondaryAuthentication and, as documented, of
// systemPreferredAuthenticationMethods.
var userDefaultAuthenticationMethod = []string{
	"push", "oath", "voiceMobile", "voiceAlternateMobile", "voiceOffice", "sms", "none", "unknownFutureValue",
}

// knownValues are the documented values of the enum-like string properties
// of the v1.0 report (defaultMfaMethod is in its beta version). Graph's
// enums are evolvable, so a value missing here is not an error: it loads
// unchanged and is counted (Stats.UnknownValues), so that a report that
// grew is noticed. unknownFutureValue is Graph's documented placeholder and
// counts as known, as in the method catalog. The beta report's only
// enum-like property, authMethods, is classified by schemas.LookupMethod.
var knownValues = [numFields][]string{
	fUserType:               {"member", "guest", "unknownFutureValue"},
	fPreferredSecondary:     userDefaultAuthenticationMethod,
	fSystemPreferredMethods: userDefaultAuthenticationMethod,
	fDefaultMfa: {"none", "mobilePhone", "alternateMobilePhone", "officePhone",
		"microsoftAuthenticatorPush", "softwareOneTimePasscode", "unknownFutureValue"},
}

// unknownValues lists the undocumented values of a decoded record's
// enum-like properties, once each. "" is no value, not an unknown one.
func (d *fieldDecoder) unknownValues(userType, preferred, defaultMfa *string, systemPreferred []string) []UnknownValue {
	var out []UnknownValue
	check := func(f field, v string) {
		if v == "" || slices.Contains(knownValues[f], v) {
			return
		}
		u := UnknownValue{Field: d.rep.names[f], Value: v}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	for _, s := range [...]struct {
		f field
		v *string
	}{{fUserType, userType}, {fPreferredSecondary, preferred}, {fDefaultMfa, defaultMfa}} {
		if s.v != nil {
			check(s.f, *s.v)
		}
	}
	for _, v := range systemPreferred {
		check(fSystemPreferredMethods, v)
	}
	return out
}
