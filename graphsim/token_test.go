package graphsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

type aadError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
}

// aadErrorOf extracts the AAD error body an azidentity error carries.
func aadErrorOf(t *testing.T, err error) (int, aadError) {
	t.Helper()
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil {
		t.Fatalf("error %v is not an AuthenticationFailedError with a response", err)
	}
	body, err := io.ReadAll(afe.RawResponse.Body)
	if err != nil {
		t.Fatal(err)
	}
	var e aadError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("AAD error body %s: %v", body, err)
	}
	return afe.RawResponse.StatusCode, e
}

func TestClientSecretCredential(t *testing.T) {
	s := newServer(t, Options{})
	tests := []struct {
		name, tenant, clientID, secret string
		wantStatus                     int
		wantError                      string
		wantCode                       int
	}{
		{"valid", DefaultTenantID, DefaultClientID, DefaultClientSecret, 0, "", 0},
		{"tenant id in upper case", strings.ToUpper(DefaultTenantID), DefaultClientID, DefaultClientSecret, 0, "", 0},
		{"bad secret", DefaultTenantID, DefaultClientID, "not-the-secret", 401, "invalid_client", 7000215},
		{"unknown client id", DefaultTenantID, "11111111-2222-3333-4444-555555555555", DefaultClientSecret, 401, "invalid_client", 700016},
		{"unknown tenant", "99999999-9999-4999-8999-999999999999", DefaultClientID, DefaultClientSecret, 400, "invalid_tenant", 90002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := secretCredential(t, s, tt.tenant, tt.clientID, tt.secret).GetToken(context.Background(), graphScopes)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if time.Until(tok.ExpiresOn) < 50*time.Minute {
					t.Errorf("token expires %v, want about an hour from now", tok.ExpiresOn)
				}
				if r := get(t, s, tok.Token, s.URL()+v1Path+"?$top=1"); r.status != http.StatusOK {
					t.Errorf("report with the token: %d %s", r.status, r.body)
				}
				return
			}
			if err == nil {
				t.Fatal("GetToken succeeded, want an error")
			}
			status, e := aadErrorOf(t, err)
			if status != tt.wantStatus || e.Error != tt.wantError || len(e.Codes) != 1 || e.Codes[0] != tt.wantCode ||
				!strings.HasPrefix(e.Description, "AADSTS") {
				t.Errorf("got %d %+v, want %d %s AADSTS%d", status, e, tt.wantStatus, tt.wantError, tt.wantCode)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error reveals the secret: %v", err)
			}
		})
	}
}

// TestClaimsForcesNewToken pins the behavior credreg relies on to refresh
// after a 401: azidentity serves a cached token until asked with Claims.
func TestClaimsForcesNewToken(t *testing.T) {
	s := newServer(t, Options{})
	cred := secretCredential(t, s, DefaultTenantID, DefaultClientID, DefaultClientSecret)
	ctx := context.Background()
	first, err := cred.GetToken(ctx, graphScopes)
	if err != nil {
		t.Fatal(err)
	}
	cached, err := cred.GetToken(ctx, graphScopes)
	if err != nil {
		t.Fatal(err)
	}
	if cached.Token != first.Token || s.Stats().TokenRequests != 1 {
		t.Fatalf("second GetToken: same token %v, token requests %d; want the cached token and 1 request",
			cached.Token == first.Token, s.Stats().TokenRequests)
	}
	claims := `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
	fresh, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: graphScopes.Scopes, Claims: claims})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Token == first.Token || s.Stats().TokenRequests != 2 {
		t.Fatalf("GetToken with Claims: new token %v, token requests %d; want a new token from a 2nd request",
			fresh.Token != first.Token, s.Stats().TokenRequests)
	}
	after, err := cred.GetToken(ctx, graphScopes)
	if err != nil {
		t.Fatal(err)
	}
	if after.Token != fresh.Token || s.Stats().TokenRequests != 2 {
		t.Errorf("GetToken after the refresh: got the fresh token %v, token requests %d; want the fresh token from the cache",
			after.Token == fresh.Token, s.Stats().TokenRequests)
	}
}

func TestClientCertificateCredential(t *testing.T) {
	s := newServer(t, Options{})
	key, err := rsa.GenerateKey(rand.Reader, 1024) // small: only MSAL signs with it
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "credreg"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	for _, tt := range []struct {
		name, clientID string
		ok             bool
	}{
		{"registered client", DefaultClientID, true},
		{"unknown client", "11111111-2222-3333-4444-555555555555", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := azidentity.NewClientCertificateCredential(DefaultTenantID, tt.clientID, []*x509.Certificate{cert}, key,
				&azidentity.ClientCertificateCredentialOptions{ClientOptions: credOptions(s), DisableInstanceDiscovery: true})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(context.Background(), graphScopes)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if r := get(t, s, tok.Token, s.URL()+betaPath+"?$top=1"); r.status != http.StatusOK {
					t.Errorf("report with the token: %d %s", r.status, r.body)
				}
				return
			}
			if status, e := aadErrorOf(t, err); status != 401 || e.Error != "invalid_client" {
				t.Errorf("got %d %+v, want 401 invalid_client", status, e)
			}
		})
	}
}

func fakeJWT(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(claims)) + "." + enc([]byte("not-checked"))
}

// TestTokenEndpoint covers what azidentity never sends.
func TestTokenEndpoint(t *testing.T) {
	s := newServer(t, Options{})
	valid := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {DefaultClientID},
		"client_secret": {DefaultClientSecret}, "scope": {"https://graph.microsoft.com/.default openid offline_access profile"},
	}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vals := range valid {
			f[key] = vals
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	assertion := with("client_secret", "")
	assertion.Set("client_assertion_type", jwtBearerType)
	assertion.Set("client_assertion", fakeJWT(`{"iss":"`+DefaultClientID+`","sub":"`+DefaultClientID+`"}`))
	badAssertion := with("client_secret", "")
	badAssertion.Set("client_assertion_type", jwtBearerType)
	badAssertion.Set("client_assertion", fakeJWT(`{"iss":"`+DefaultClientID+`","sub":"someone-else"}`))
	tests := []struct {
		name      string
		method    string
		form      url.Values
		basic     bool
		tenant    string
		status    int
		wantError string
	}{
		{"secret in form", "POST", valid, false, DefaultTenantID, 200, ""},
		{"claims field", "POST", with("claims", `{"access_token":{"xms_cc":{"values":["cp1"]}}}`), false, DefaultTenantID, 200, ""},
		{"secret by HTTP Basic", "POST", with("client_secret", ""), true, DefaultTenantID, 200, ""},
		{"client assertion", "POST", assertion, false, DefaultTenantID, 200, ""},
		{"assertion sub differs", "POST", badAssertion, false, DefaultTenantID, 401, "invalid_client"},
		{"no secret", "POST", with("client_secret", ""), false, DefaultTenantID, 401, "invalid_client"},
		{"wrong secret", "POST", with("client_secret", "guess"), false, DefaultTenantID, 401, "invalid_client"},
		{"no scope", "POST", with("scope", ""), false, DefaultTenantID, 400, "invalid_scope"},
		{"other resource", "POST", with("scope", "https://management.azure.com/.default"), false, DefaultTenantID, 400, "invalid_scope"},
		{"password grant", "POST", with("grant_type", "password"), false, DefaultTenantID, 400, "unsupported_grant_type"},
		{"GET", "GET", valid, false, DefaultTenantID, 405, "invalid_request"},
		{"unknown tenant", "POST", valid, false, "99999999-9999-4999-8999-999999999999", 400, "invalid_tenant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, s.URL()+"/"+tt.tenant+"/oauth2/v2.0/token", strings.NewReader(tt.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.basic {
				req.SetBasicAuth(DefaultClientID, DefaultClientSecret)
			}
			res, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				var e aadError
				if err := json.Unmarshal(body, &e); err != nil || e.Error != tt.wantError || !strings.HasPrefix(e.Description, "AADSTS") {
					t.Errorf("body %s, want AAD error %s", body, tt.wantError)
				}
				if strings.Contains(string(body), DefaultClientSecret) || strings.Contains(string(body), "guess") {
					t.Errorf("error body reveals the secret: %s", body)
				}
				return
			}
			var tok struct {
				TokenType    string `json:"token_type"`
				ExpiresIn    int    `json:"expires_in"`
				ExtExpiresIn int    `json:"ext_expires_in"`
				AccessToken  string `json:"access_token"`
			}
			if err := json.Unmarshal(body, &tok); err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 || tok.ExtExpiresIn != 3600 || tok.AccessToken == "" {
				t.Errorf("token response %s", body)
			}
		})
	}
}

func TestOpenIDConfiguration(t *testing.T) {
	s := newServer(t, Options{})
	r := get(t, s, "", s.URL()+"/"+DefaultTenantID+"/v2.0/.well-known/openid-configuration")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var cfg map[string]any
	if err := json.Unmarshal(r.body, &cfg); err != nil {
		t.Fatal(err)
	}
	base := s.URL() + "/" + DefaultTenantID
	for k, want := range map[string]string{
		"issuer":                 base + "/v2.0",
		"authorization_endpoint": base + "/oauth2/v2.0/authorize",
		"token_endpoint":         base + "/oauth2/v2.0/token",
		"jwks_uri":               base + "/discovery/v2.0/keys",
	} {
		if cfg[k] != want {
			t.Errorf("%s = %v, want %s", k, cfg[k], want)
		}
	}
	if v, ok := cfg["tenant_region_scope"]; !ok || v != nil {
		t.Errorf("tenant_region_scope = %v (present %v), want null", v, ok)
	}
	if keys := get(t, s, "", cfg["jwks_uri"].(string)); keys.status != 200 {
		t.Errorf("jwks_uri: %d", keys.status)
	}

	r = get(t, s, "", s.URL()+"/99999999-9999-4999-8999-999999999999/v2.0/.well-known/openid-configuration")
	var e aadError
	if r.status != 400 || json.Unmarshal(r.body, &e) != nil || e.Error != "invalid_tenant" || !strings.HasPrefix(e.Description, "AADSTS90002: Tenant '99999999") {
		t.Errorf("unknown tenant: %d %s", r.status, r.body)
	}
}

// TestLogsHoldNoSecrets runs a token request and a report page with debug
// logging and looks for the secret and the token in the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	var buf safeBuffer
	s := newServer(t, Options{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	tok := accessToken(t, s, DefaultTenantID)
	get(t, s, tok, s.URL()+v1Path+"?$top=5")
	secretCredential(t, s, DefaultTenantID, DefaultClientID, "wrong-secret").GetToken(context.Background(), graphScopes)
	log := buf.String()
	if !strings.Contains(log, v1Path) {
		t.Fatalf("debug log does not show requests: %s", log)
	}
	for _, secret := range []string{DefaultClientSecret, "wrong-secret", tok} {
		if strings.Contains(log, secret) {
			t.Errorf("log contains a secret: %s", log)
		}
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
