package graphsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const (
	graphScope    = "https://graph.microsoft.com/.default"
	jwtBearerType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	tokenPrefix   = "gsim1."
)

// tenantOf resolves the {tenant} path segment, case-insensitively.
func (s *Server) tenantOf(r *http.Request) *tenantData {
	return s.tenants[strings.ToLower(r.PathValue("tenant"))]
}

func (s *Server) handleOpenID(w http.ResponseWriter, r *http.Request) {
	t := s.tenantOf(r)
	if t == nil {
		s.writeUnknownTenant(w, r)
		return
	}
	// The authority is whatever host the client used, so that the issuer
	// matches it exactly (MSAL compares scheme and host:port).
	base := "https://" + r.Host + "/" + t.ID
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"jwks_uri":                              "https://" + r.Host + "/" + t.ID + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"tenant_region_scope":                   nil,
		"cloud_instance_name":                   "microsoftonline.com",
		"msgraph_host":                          "graph.microsoft.com",
	})
}

// handleKeys serves an empty key set: graphsim issues opaque access tokens
// and no ID tokens, so there is nothing to verify with a public key.
func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request) {
	if s.tenantOf(r) == nil {
		s.writeUnknownTenant(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": []any{}})
}

func (s *Server) writeUnknownTenant(w http.ResponseWriter, r *http.Request) {
	s.writeAADError(w, r, http.StatusBadRequest, "invalid_tenant", 90002,
		fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.",
			r.PathValue("tenant")))
}

// handleToken is the client-credentials token endpoint. It accepts a client
// secret (form or HTTP Basic) or a client assertion JWT whose iss and sub are
// the client id; the assertion's signature is NOT verified (graphsim has no
// registered certificate to verify it with).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	s.tokenRequests.Add(1)
	t := s.tenantOf(r)
	if t == nil {
		s.writeUnknownTenant(w, r)
		return
	}
	if r.Method != http.MethodPost {
		s.writeAADError(w, r, http.StatusMethodNotAllowed, "invalid_request", 900561,
			"The endpoint only accepts POST requests.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.writeAADError(w, r, http.StatusBadRequest, "invalid_request", 900144,
			"The request body must be a form (application/x-www-form-urlencoded) of at most 64 KiB.")
		return
	}
	f := r.PostForm
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		s.writeAADError(w, r, http.StatusBadRequest, "unsupported_grant_type", 70003,
			fmt.Sprintf("The app requested an unsupported grant type '%s'; graphsim supports client_credentials only.", gt))
		return
	}
	if !s.authenticateClient(w, r, t) {
		return
	}
	if !hasScope(f.Get("scope"), graphScope) {
		s.writeAADError(w, r, http.StatusBadRequest, "invalid_scope", 1002012,
			fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier; graphsim issues tokens for %s only.",
				f.Get("scope"), graphScope))
		return
	}
	// f.Get("claims") (a claims challenge) is accepted and has no effect:
	// every token graphsim issues satisfies every challenge.
	lifetime := int64(s.opts.TokenLifetime / time.Second)
	w.Header().Set("Cache-Control", "no-store, no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     lifetime,
		"ext_expires_in": lifetime,
		"access_token":   s.mintToken(t.ID, s.opts.Now().Add(s.opts.TokenLifetime)),
	})
}

// authenticateClient checks the client id and secret or assertion, writing
// the error response when they fail. Secrets never appear in a response.
func (s *Server) authenticateClient(w http.ResponseWriter, r *http.Request, t *tenantData) bool {
	f := r.PostForm
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if id, sec, ok := r.BasicAuth(); ok {
		clientID, secret = id, sec
	}
	if assertion := f.Get("client_assertion"); assertion != "" {
		if f.Get("client_assertion_type") != jwtBearerType {
			s.writeAADError(w, r, http.StatusBadRequest, "invalid_request", 50027,
				"client_assertion_type must be "+jwtBearerType+".")
			return false
		}
		iss, sub, err := assertionSubject(assertion)
		if err != nil || iss != sub || (clientID != "" && clientID != iss) {
			s.writeAADError(w, r, http.StatusUnauthorized, "invalid_client", 700023,
				"Client assertion is not a JWT whose iss and sub both equal the client id.")
			return false
		}
		clientID = iss
		secret = ""
	} else if secret == "" {
		s.writeAADError(w, r, http.StatusUnauthorized, "invalid_client", 7000216,
			"'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
		return false
	}
	if clientID != s.opts.ClientID {
		s.writeAADError(w, r, http.StatusUnauthorized, "invalid_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, t.ID))
		return false
	}
	if f.Get("client_assertion") == "" && subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) != 1 {
		s.writeAADError(w, r, http.StatusUnauthorized, "invalid_client", 7000215,
			fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID))
		return false
	}
	return true
}

// assertionSubject returns the iss and sub claims of a JWT without checking
// its signature.
func assertionSubject(jwt string) (iss, sub string, err error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", "", errors.New("not a compact JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", "", err
	}
	var c struct{ Iss, Sub string }
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", "", err
	}
	return c.Iss, c.Sub, nil
}

func hasScope(scope, want string) bool {
	for _, s := range strings.Fields(scope) {
		if strings.EqualFold(s, want) {
			return true
		}
	}
	return false
}

// writeAADError writes an error the way the Microsoft identity platform
// does: a flat OAuth error body whose description starts with AADSTSnnnn.
func (s *Server) writeAADError(w http.ResponseWriter, r *http.Request, status int, code string, aadsts int, desc string) {
	trace := s.nextID()
	corr := r.Header.Get("client-request-id")
	if corr == "" {
		corr = s.nextID()
	}
	now := s.opts.Now().UTC()
	writeJSON(w, status, map[string]any{
		"error": code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			aadsts, desc, trace, corr, now.Format("2006-01-02 15:04:05Z")),
		"error_codes":    []int{aadsts},
		"timestamp":      now.Format("2006-01-02 15:04:05Z"),
		"trace_id":       trace,
		"correlation_id": corr,
	})
}

// tokenClaims is what an access token carries. The token is opaque to
// clients: base64url(JSON claims) and an HMAC over it with a per-server key,
// so the report handlers verify it without keeping state.
type tokenClaims struct {
	Tenant   string `json:"tid"`
	ClientID string `json:"appid"`
	Expires  int64  `json:"exp"`
	Nonce    string `json:"jti"`
	// Revocations is how many times RevokeTokens had been called when the
	// token was issued; a later call revokes it.
	Revocations int64 `json:"rev"`
}

var (
	errTokenInvalid = errors.New("access token validation failure")
	errTokenExpired = errors.New("access token expired")
	errTokenRevoked = errors.New("access token revoked")
)

// RevokeTokens revokes every access token issued so far, as an admin who
// revokes the app's sessions or a Continuous Access Evaluation event
// does: report requests with such a token answer 401
// InvalidAuthenticationToken ("Access token has expired or is not yet
// valid.") although the token has not expired, and are counted in
// Stats.RefusedTokens. Tokens issued after the call work. Safe to call
// while serving.
func (s *Server) RevokeTokens() { s.revocations.Add(1) }

func (s *Server) mintToken(tenant string, exp time.Time) string {
	c, _ := json.Marshal(tokenClaims{Tenant: tenant, ClientID: s.opts.ClientID, Expires: exp.Unix(), Nonce: s.nextID(),
		Revocations: s.revocations.Load()})
	payload := base64.RawURLEncoding.EncodeToString(c)
	return tokenPrefix + payload + "." + base64.RawURLEncoding.EncodeToString(s.tokenMAC(payload))
}

func (s *Server) tokenMAC(payload string) []byte {
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// verifyToken checks an access token's signature, tenant, expiry and
// revocation.
func (s *Server) verifyToken(tok string) (*tenantData, error) {
	rest, ok := strings.CutPrefix(tok, tokenPrefix)
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return nil, errTokenInvalid
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, s.tokenMAC(payload)) {
		return nil, errTokenInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, errTokenInvalid
	}
	var c tokenClaims
	if err := json.Unmarshal(raw, &c); err != nil || c.ClientID != s.opts.ClientID {
		return nil, errTokenInvalid
	}
	t := s.tenants[c.Tenant]
	if t == nil {
		return nil, errTokenInvalid
	}
	if !s.opts.Now().Before(time.Unix(c.Expires, 0)) {
		return nil, errTokenExpired
	}
	if c.Revocations < s.revocations.Load() {
		return nil, errTokenRevoked
	}
	return t, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only graphsim's own maps and structs get here; they always marshal.
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}
