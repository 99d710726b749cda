package graphsim

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestFilter(t *testing.T) {
	s := newServer(t, Options{})
	tok := accessToken(t, s, DefaultTenantID)
	users := listingOrder(s, DefaultTenantID, testDay)
	some := users[len(users)/3]
	quoted := ""
	for _, u := range users {
		if strings.Contains(u.UserDisplayName, "'") {
			quoted = u.UserDisplayName
			break
		}
	}
	if quoted == "" {
		t.Fatal("no display name with a quote in the tenant")
	}
	has := func(list []string, v string) bool { return slices.Contains(list, v) }
	tests := []struct {
		name, path, filter string
		want               func(u User) bool
	}{
		{"upn eq, other case", v1Path, "userPrincipalName eq '" + strings.ToUpper(some.UserPrincipalName) + "'",
			func(u User) bool { return u.ID == some.ID }},
		{"display name eq with escaped quote", v1Path, "userDisplayName eq '" + strings.ReplaceAll(quoted, "'", "''") + "'",
			func(u User) bool { return u.UserDisplayName == quoted }},
		{"startswith upn", v1Path, "startswith(userPrincipalName,'MA')",
			func(u User) bool { return strings.HasPrefix(u.UserPrincipalName, "ma") }},
		{"startswith display name", v1Path, "startswith(userDisplayName, 'zo')",
			func(u User) bool { return strings.HasPrefix(strings.ToLower(u.UserDisplayName), "zo") }},
		{"isAdmin", v1Path, "isAdmin eq true", func(u User) bool { return u.IsAdmin }},
		{"isMfaCapable false", v1Path, "isMfaCapable eq false", func(u User) bool { return !u.IsMfaCapable }},
		{"isMfaRegistered", v1Path, "isMfaRegistered eq true", func(u User) bool { return u.IsMfaRegistered }},
		{"isPasswordlessCapable", v1Path, "isPasswordlessCapable eq true", func(u User) bool { return u.IsPasswordlessCapable }},
		{"isSsprCapable", v1Path, "isSsprCapable eq true", func(u User) bool { return u.IsSsprCapable }},
		{"isSsprEnabled", v1Path, "isSsprEnabled eq false", func(u User) bool { return !u.IsSsprEnabled }},
		{"isSsprRegistered", v1Path, "isSsprRegistered eq true", func(u User) bool { return u.IsSsprRegistered }},
		{"system preferred", v1Path, "isSystemPreferredAuthenticationMethodEnabled eq false",
			func(u User) bool { return !u.IsSystemPreferredAuthenticationMethodEnabled }},
		{"userType guest", v1Path, "userType eq 'Guest'", func(u User) bool { return u.UserType == "guest" }},
		{"methodsRegistered any", v1Path, "methodsRegistered/any(x:x eq 'email')",
			func(u User) bool { return has(u.MethodsRegistered, "email") }},
		{"unknown method value", v1Path, "methodsRegistered/any(m: m eq 'qrCodePin')",
			func(u User) bool { return has(u.MethodsRegistered, "qrCodePin") }},
		{"and, keywords in upper case", v1Path, "isMfaRegistered EQ TRUE AND (userType eq 'member' and isAdmin eq false)",
			func(u User) bool { return u.IsMfaRegistered && u.UserType == "member" && !u.IsAdmin }},
		{"beta isRegistered", betaPath, "isRegistered eq true", func(u User) bool { return u.IsSsprRegistered }},
		{"beta isEnabled", betaPath, "isEnabled eq false", func(u User) bool { return !u.IsSsprEnabled }},
		{"beta isCapable", betaPath, "isCapable eq true", func(u User) bool { return u.IsSsprCapable }},
		{"beta isMfaRegistered", betaPath, "isMfaRegistered eq false", func(u User) bool { return !u.IsMfaRegistered }},
		{"beta authMethods typed", betaPath, "authMethods/any(t:t eq microsoft.graph.registrationAuthMethod'appNotification')",
			func(u User) bool { return has(u.BetaAuthMethods(), "appNotification") }},
		{"beta authMethods fido and upn", betaPath, "authMethods/any(t:t eq 'fido') and startswith(userPrincipalName,'a')",
			func(u User) bool {
				return has(u.BetaAuthMethods(), "fido") && strings.HasPrefix(u.UserPrincipalName, "a")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			for _, u := range users {
				if tt.want(u) {
					want = append(want, u.ID)
				}
			}
			if len(want) == 0 || len(want) == len(users) {
				t.Fatalf("filter selects %d of %d users; pick one that tells something", len(want), len(users))
			}
			l := listAll(t, s, tok, s.URL()+tt.path+"?$top=999&$filter="+url.QueryEscape(tt.filter))
			if got := ids(t, l.records); !slices.Equal(got, want) {
				t.Errorf("got %d users, want %d", len(got), len(want))
			}
		})
	}
}

func TestFilterUnsupported(t *testing.T) {
	s := newServer(t, Options{})
	tok := accessToken(t, s, DefaultTenantID)
	tests := []struct{ path, filter, names string }{
		{v1Path, "isAdmin ne true", "'ne'"},
		{v1Path, "isAdmin eq true or isMfaRegistered eq true", "'or'"},
		{v1Path, "contains(userPrincipalName,'a')", "'contains'"},
		{v1Path, "endswith(userDisplayName,'a')", "'endswith'"},
		{v1Path, "not (isAdmin eq true)", "'not'"},
		{v1Path, "department eq 'x'", "'department'"},
		{v1Path, "isAdmin eq 'true'", "isAdmin"},
		{v1Path, "userPrincipalName eq true", "userPrincipalName"},
		{v1Path, "methodsRegistered eq 'email'", "methodsRegistered"},
		{v1Path, "methodsRegistered/all(x:x eq 'email')", "methodsRegistered"},
		{v1Path, "startswith(userType,'m')", "startswith"},
		{v1Path, "isAdmin eq 1", "1"},
		{v1Path, "userPrincipalName eq 'unclosed", "position"},
		{v1Path, "isAdmin eq", "isAdmin"},
		{v1Path, "(isAdmin eq true", "\")\""},
		{v1Path, "", "filter"},
		{v1Path, "authMethods/any(t:t eq 'email')", "'authMethods'"},
		{betaPath, "userType eq 'member'", "'userType'"},
		{betaPath, "isAdmin eq true", "'isAdmin'"},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			msg := wantError(t, get(t, s, tok, s.URL()+tt.path+"?$filter="+url.QueryEscape(tt.filter)),
				http.StatusBadRequest, "Request_UnsupportedQuery")
			if !strings.Contains(msg, tt.names) {
				t.Errorf("message %q does not name %s", msg, tt.names)
			}
		})
	}
}

// FuzzParseFilter: any $filter either compiles to a predicate that runs or
// fails with a filterError; it never panics.
func FuzzParseFilter(f *testing.F) {
	for _, seed := range []string{
		"isAdmin eq true", "userPrincipalName eq 'a''b'", "startswith(userDisplayName,'zo')",
		"methodsRegistered/any(x:x eq 'email') and (isMfaRegistered eq false)",
		"authMethods/any(t:t eq microsoft.graph.registrationAuthMethod'fido')",
		"isAdmin eq true or x", "((", "'", "startswith(", "methodsRegistered/any(x:",
	} {
		f.Add(seed)
	}
	users := newTenantData(1, Tenant{ID: DefaultTenantID, Users: 20}).users(dayNumber(testDay))
	f.Fuzz(func(t *testing.T, src string) {
		for _, rep := range reports {
			pred, err := parseFilter(rep, src)
			if err != nil {
				var fe *filterError
				if !errors.As(err, &fe) || fe.msg == "" {
					t.Fatalf("%q: error %v is not a filterError with a message", src, err)
				}
				continue
			}
			for i := range users {
				pred(&users[i])
			}
		}
	})
}
