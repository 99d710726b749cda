package extract

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// CredentialOptions say how to authenticate to Entra ID. The zero value
// reads everything from the AZURE_* environment variables, as azidentity's
// EnvironmentCredential does:
//
//	AZURE_CLIENT_ID                     the app (client) id
//	AZURE_CLIENT_SECRET                 a client secret, or
//	AZURE_CLIENT_CERTIFICATE_PATH       a PEM or PKCS#12 certificate with its key
//	AZURE_CLIENT_CERTIFICATE_PASSWORD   (optional) its password, or
//	AZURE_FEDERATED_TOKEN_FILE          a workload identity token file
//	AZURE_AUTHORITY_HOST                (optional) the authority, default https://login.microsoftonline.com/
type CredentialOptions struct {
	ClientID        string
	ClientSecret    string
	CertificatePath string
	CertificatePass string
	FederatedToken  string // path of a workload identity token file
	AuthorityHost   string
	// HTTPClient carries token requests; nil uses the default transport,
	// which trusts the system roots plus SSL_CERT_FILE.
	HTTPClient *http.Client
	// Getenv reads the environment; nil means os.Getenv. Tests set it.
	Getenv func(string) string
}

// publicAuthorities are Microsoft's own clouds, where instance discovery
// works; any other authority host (a private cloud, a simulator) gets it
// switched off.
var publicAuthorities = []string{
	"login.microsoftonline.com", "login.microsoftonline.us",
	"login.chinacloudapi.cn", "login.partner.microsoftonline.cn",
}

// NewCredential returns an azidentity credential for tenant: client secret,
// certificate or workload identity, whichever the options (or environment)
// provide, in that order. A missing client id or secret is reported with
// the variable to set; the secret itself never appears in an error.
func NewCredential(tenant string, o CredentialOptions) (azcore.TokenCredential, error) {
	env := o.Getenv
	if env == nil {
		env = os.Getenv
	}
	pick := func(v, name string) string {
		if v != "" {
			return v
		}
		return env(name)
	}
	clientID := pick(o.ClientID, "AZURE_CLIENT_ID")
	secret := pick(o.ClientSecret, "AZURE_CLIENT_SECRET")
	certPath := pick(o.CertificatePath, "AZURE_CLIENT_CERTIFICATE_PATH")
	certPass := pick(o.CertificatePass, "AZURE_CLIENT_CERTIFICATE_PASSWORD")
	tokenFile := pick(o.FederatedToken, "AZURE_FEDERATED_TOKEN_FILE")
	authority := pick(o.AuthorityHost, "AZURE_AUTHORITY_HOST")

	if tenant == "" {
		return nil, fmt.Errorf("%w: no tenant id: set AZURE_TENANT_ID", ErrCredential)
	}
	if clientID == "" {
		return nil, fmt.Errorf("%w: no client id: set AZURE_CLIENT_ID", ErrCredential)
	}
	client := azcore.ClientOptions{}
	if authority != "" {
		if !strings.HasSuffix(authority, "/") {
			authority += "/"
		}
		client.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: authority}
	}
	if o.HTTPClient != nil {
		client.Transport = o.HTTPClient
	}
	noDiscovery := authority != "" && !isPublicAuthority(authority)

	switch {
	case secret != "":
		return azidentity.NewClientSecretCredential(tenant, clientID, secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: client, DisableInstanceDiscovery: noDiscovery})
	case certPath != "":
		data, err := os.ReadFile(certPath)
		if err != nil {
			return nil, fmt.Errorf("%w: reading AZURE_CLIENT_CERTIFICATE_PATH: %w", ErrCredential, err)
		}
		certs, key, err := azidentity.ParseCertificates(data, []byte(certPass))
		if err != nil {
			return nil, fmt.Errorf("%w: parsing certificate %s: %w", ErrCredential, certPath, err)
		}
		return azidentity.NewClientCertificateCredential(tenant, clientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: client, DisableInstanceDiscovery: noDiscovery})
	case tokenFile != "":
		return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: client, ClientID: clientID, TenantID: tenant, TokenFilePath: tokenFile,
			DisableInstanceDiscovery: noDiscovery})
	}
	return nil, fmt.Errorf("%w: no client credential: set AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE", ErrCredential)
}

func isPublicAuthority(authority string) bool {
	host := strings.TrimPrefix(strings.TrimPrefix(authority, "https://"), "http://")
	host, _, _ = strings.Cut(host, "/")
	for _, p := range publicAuthorities {
		if strings.EqualFold(host, p) {
			return true
		}
	}
	return false
}

// classifyTokenError decides whether a failure to get a token is the
// credential's fault (wrong secret, unknown app or tenant: permanent) or the
// authority's or the network's (a timeout, a 5xx, a 429: transient, retried
// like any Graph request). A token refresh that fails on a network blip
// after an hour of paging must not lose the run.
func classifyTokenError(err error) error {
	var ae *azidentity.AuthenticationFailedError
	if errors.As(err, &ae) && ae.RawResponse != nil {
		switch st := ae.RawResponse.StatusCode; {
		case st == http.StatusTooManyRequests || st >= 500:
			return &TransportError{Op: "get token", Err: fmt.Errorf("authority answered HTTP %d", st)}
		}
		return fmt.Errorf("%w: %w", ErrCredential, err)
	}
	if errors.As(err, &ae) {
		return fmt.Errorf("%w: %w", ErrCredential, err)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) {
		return &TransportError{Op: "get token", Err: stripURL(err)}
	}
	return fmt.Errorf("%w: %w", ErrCredential, err)
}

// IsCredentialError reports whether err came from getting a token rather
// than from Graph.
func IsCredentialError(err error) bool {
	if errors.Is(err, ErrCredential) {
		return true
	}
	var ae *azidentity.AuthenticationFailedError
	return errors.As(err, &ae)
}

// tokenClaimsRefresh is a claims challenge asking for a token issued from
// now on; azidentity skips its cache for a request that carries claims,
// which is how a 401 forces a fresh token.
func tokenClaimsRefresh(nowUnix int64) string {
	return fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, nowUnix)
}
