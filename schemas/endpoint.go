package schemas

import "fmt"

// Endpoint names one of the two Graph reports credreg reads. The value is the
// name used on the command line, in the raw zone and in the `source` column.
type Endpoint string

const (
	// UserRegistrationDetails is GET /v1.0/reports/authenticationMethods/userRegistrationDetails,
	// the current report (needs Entra ID P1 or P2).
	UserRegistrationDetails Endpoint = "userRegistrationDetails"
	// CredentialUserRegistrationDetails is GET /beta/reports/credentialUserRegistrationDetails,
	// the deprecated beta report of the original seed.
	CredentialUserRegistrationDetails Endpoint = "credentialUserRegistrationDetails"
)

// Endpoints lists every endpoint, the default first.
var Endpoints = []Endpoint{UserRegistrationDetails, CredentialUserRegistrationDetails}

// Path is the URL path of the report relative to the Graph base URL.
func (e Endpoint) Path() string {
	switch e {
	case UserRegistrationDetails:
		return "/v1.0/reports/authenticationMethods/userRegistrationDetails"
	case CredentialUserRegistrationDetails:
		return "/beta/reports/credentialUserRegistrationDetails"
	}
	return ""
}

// ParseEndpoint accepts an endpoint name exactly as the CLI documents it.
func ParseEndpoint(s string) (Endpoint, error) {
	for _, e := range Endpoints {
		if string(e) == s {
			return e, nil
		}
	}
	return "", fmt.Errorf("unknown endpoint %q (want %s or %s)", s, UserRegistrationDetails, CredentialUserRegistrationDetails)
}
