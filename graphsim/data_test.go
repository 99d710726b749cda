package graphsim

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDeterministicPages: same Seed and day, byte-identical pages (apart
// from the host in next links); another Seed, other data.
func TestDeterministicPages(t *testing.T) {
	pages := func(seed int64) [][]byte {
		s := newServer(t, Options{Seed: seed})
		tok := accessToken(t, s, DefaultTenantID)
		var out [][]byte
		url := s.URL() + v1Path + "?$top=50"
		for range 3 {
			r := get(t, s, tok, url)
			out = append(out, bytes.ReplaceAll(r.body, []byte(s.URL()), []byte("https://graphsim")))
			url = string(regexp.MustCompile(`"@odata.nextLink":"([^"]+)"`).FindSubmatch(r.body)[1])
		}
		return out
	}
	a, b, other := pages(3), pages(3), pages(4)
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Errorf("page %d differs between two servers with the same seed", i+1)
		}
		if bytes.Equal(a[i], other[i]) {
			t.Errorf("page %d is the same for another seed", i+1)
		}
	}
}

// TestEvolution: the next day differs a little, the way a directory does.
func TestEvolution(t *testing.T) {
	s := newServer(t, Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: 5000}}})
	today := s.Users(DefaultTenantID, testDay)
	tomorrow := s.Users(DefaultTenantID, testDay.AddDate(0, 0, 1))
	if len(tomorrow) < len(today) || len(tomorrow) > len(today)+10 {
		t.Fatalf("population %d -> %d, want slow growth", len(today), len(tomorrow))
	}
	before := map[string]User{}
	for _, u := range today {
		before[u.ID] = u
	}
	gained, changed := 0, 0
	for _, u := range tomorrow {
		b, ok := before[u.ID]
		if !ok {
			continue
		}
		if !slices.Equal(b.MethodsRegistered, u.MethodsRegistered) {
			changed++
			if len(u.MethodsRegistered) > len(b.MethodsRegistered) {
				gained++
			}
			if !u.LastUpdatedDateTime.After(b.LastUpdatedDateTime) || dayNumber(u.LastUpdatedDateTime) != dayNumber(testDay)+1 {
				t.Errorf("%s changed methods but lastUpdatedDateTime %v -> %v", u.ID, b.LastUpdatedDateTime, u.LastUpdatedDateTime)
			}
		} else if !u.LastUpdatedDateTime.Equal(b.LastUpdatedDateTime) {
			t.Errorf("%s: same methods, lastUpdatedDateTime %v -> %v", u.ID, b.LastUpdatedDateTime, u.LastUpdatedDateTime)
		}
	}
	if gained == 0 || changed > len(today)/50 {
		t.Errorf("%d users changed methods, %d gained; want a few, some gaining", changed, gained)
	}

	mfa := func(us []User) float64 {
		n := 0
		for _, u := range us {
			if u.IsMfaRegistered {
				n++
			}
		}
		return float64(n) / float64(len(us))
	}
	early, late := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := s.Users(DefaultTenantID, early)
	if len(first) != 5000 || len(s.Users(DefaultTenantID, late)) <= 5000 {
		t.Errorf("population on %v is %d (want Tenant.Users), later %d (want more)", early, len(first), len(s.Users(DefaultTenantID, late)))
	}
	if a, b := mfa(first), mfa(s.Users(DefaultTenantID, late)); b <= a+0.1 {
		t.Errorf("MFA registration %.2f in 2024, %.2f in 2026; want a rise", a, b)
	}
}

var upnPattern = regexp.MustCompile(`^[a-z-]+\.[a-z-]+\.\d+(_partner\.example#EXT#)?@0b1e7a7e\.example\.com$`)

// TestUserConsistency checks every user against graphsim's own table of
// what each method counts for (TestCatalogAgreesWithGraphsim holds the
// pipeline's catalog to the same table).
func TestUserConsistency(t *testing.T) {
	s := newServer(t, Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: 5000}}})
	users := s.Users(DefaultTenantID, testDay)
	endOfDay := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	var unknown, none, guests, admins int
	for i, u := range users {
		if i > 0 && users[i-1].ID >= u.ID {
			t.Fatalf("users not sorted by unique ID at %d", i)
		}
		var mfa, sspr, passwordless bool
		for _, m := range u.MethodsRegistered {
			if m == unknownMethod {
				unknown++
			}
			e := vocabulary[vocabIndex(m)]
			mfa, sspr, passwordless = mfa || e.mfa, sspr || e.sspr, passwordless || e.passwordless
		}
		if u.IsMfaRegistered != mfa || u.IsMfaCapable != mfa || u.IsSsprRegistered != sspr ||
			u.IsSsprCapable != (sspr && u.IsSsprEnabled) || u.IsPasswordlessCapable != passwordless {
			t.Errorf("%s: flags inconsistent with methods %v: %+v", u.ID, u.MethodsRegistered, u)
		}
		if len(u.SystemPreferredAuthenticationMethods) > 0 && (!u.IsSystemPreferredAuthenticationMethodEnabled || !mfa) {
			t.Errorf("%s: system-preferred %v without MFA or policy", u.ID, u.SystemPreferredAuthenticationMethods)
		}
		if u.UserPreferredMethodForSecondaryAuthentication != "" && !mfa {
			t.Errorf("%s: preferred %q without an MFA method", u.ID, u.UserPreferredMethodForSecondaryAuthentication)
		}
		if !upnPattern.MatchString(u.UserPrincipalName) || (u.UserType == "guest") != strings.Contains(u.UserPrincipalName, "#EXT#") {
			t.Errorf("%s: UPN %q for a %s", u.ID, u.UserPrincipalName, u.UserType)
		}
		if !u.LastUpdatedDateTime.Before(endOfDay) || u.LastUpdatedDateTime.Nanosecond()%100 != 0 {
			t.Errorf("%s: lastUpdatedDateTime %v", u.ID, u.LastUpdatedDateTime)
		}
		if len(u.MethodsRegistered) == 0 {
			none++
		}
		if u.UserType == "guest" {
			guests++
		}
		if u.IsAdmin {
			admins++
		}
	}
	if unknown == 0 || unknown > 50 || none == 0 || guests < 100 || guests > 500 || admins < 50 || admins > 300 {
		t.Errorf("%d users: %d with an unknown method, %d without methods, %d guests, %d admins",
			len(users), unknown, none, guests, admins)
	}
	// Users hands out copies: changing them does not change the server.
	users[0].MethodsRegistered = append(users[0].MethodsRegistered[:0], "changed")
	if again := s.Users(DefaultTenantID, testDay); slices.Contains(again[0].MethodsRegistered, "changed") {
		t.Error("Users returned the server's own slices")
	}
	if s.Users("99999999-9999-4999-8999-999999999999", testDay) != nil {
		t.Error("Users of an unknown tenant is not nil")
	}
}

func TestBetaVocabulary(t *testing.T) {
	tests := []struct {
		v1   []string
		beta []string
	}{
		{nil, []string{}},
		{[]string{"microsoftAuthenticatorPush", "softwareOneTimePasscode"}, []string{"appNotification", "appCode"}},
		{[]string{"fido2", "passKeyDeviceBound", "passKeySynced"}, []string{"fido"}},
		{[]string{"mobilePhone", "officePhone", "alternateMobilePhone", "email", "securityQuestion"},
			[]string{"mobilePhone", "officePhone", "alternateMobilePhone", "email", "securityQuestion"}},
		{[]string{"windowsHelloForBusiness", "temporaryAccessPass", "hardwareOneTimePasscode"}, []string{}},
		{[]string{"qrCodePin", "email"}, []string{"qrCodePin", "email"}},
	}
	for _, tt := range tests {
		if got := (User{MethodsRegistered: tt.v1}).BetaAuthMethods(); !slices.Equal(got, tt.beta) || got == nil {
			t.Errorf("BetaAuthMethods(%v) = %#v, want %#v", tt.v1, got, tt.beta)
		}
	}
	u := User{IsSsprRegistered: true, IsSsprEnabled: false, IsSsprCapable: false, IsMfaRegistered: true}
	if reg, en, capable, mfa := u.BetaFlags(); !reg || en || capable || !mfa {
		t.Errorf("BetaFlags = %v %v %v %v", reg, en, capable, mfa)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"tenant id not a GUID", Options{Tenants: []Tenant{{ID: "contoso.onmicrosoft.com", Users: 1}}}},
		{"tenant twice", Options{Tenants: []Tenant{{ID: DefaultTenantID}, {ID: strings.ToUpper(DefaultTenantID)}}}},
		{"negative users", Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: -1}}}},
		{"bad address", Options{Addr: "127.0.0.1:notaport"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.opts)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
		})
	}
	s := newServer(t, Options{Tenants: nil, Limits: Limits{Disabled: true}})
	if got := s.Tenants(); len(got) != 1 || got[0].ID != DefaultTenantID {
		t.Errorf("Tenants() = %+v", got)
	}
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") || strings.HasSuffix(s.URL(), "/") {
		t.Errorf("URL() = %q", s.URL())
	}
	if !bytes.HasPrefix(s.CACertPEM(), []byte("-----BEGIN CERTIFICATE-----")) {
		t.Errorf("CACertPEM() = %q", s.CACertPEM())
	}
}

// BenchmarkUsers100k generates a fresh day of a 100,000-user tenant.
func BenchmarkUsers100k(b *testing.B) {
	td := newTenantData(1, Tenant{ID: DefaultTenantID, Users: 100000})
	d := dayNumber(testDay)
	for b.Loop() {
		td.users(d)
	}
}

// UsersOn anchors the population: exactly Users on that day, growing
// before it (in the history window) and after it, flat before the window.
func TestUsersOnAnchorsThePopulation(t *testing.T) {
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	s := newServer(t, Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: 5000, UsersOn: day}}})
	if n := len(s.Users(DefaultTenantID, day)); n != 5000 {
		t.Errorf("%d users on the anchor day, want 5000", n)
	}
	if n := len(s.Users(DefaultTenantID, day.AddDate(0, 0, -30))); n >= 5000 || n < 4800 {
		t.Errorf("%d users 30 days before the anchor day, want a little fewer than 5000", n)
	}
	early, earlier := len(s.Users(DefaultTenantID, day.AddDate(0, 0, -historyDays-1))), len(s.Users(DefaultTenantID, day.AddDate(0, 0, -historyDays-200)))
	if early != earlier || early >= 5000 {
		t.Errorf("%d users before the history window, %d 200 days earlier: want a flat population below 5000", early, earlier)
	}
	if n := len(s.Users(DefaultTenantID, day.AddDate(0, 0, 100))); n <= 5000 {
		t.Errorf("%d users 100 days later: no growth", n)
	}
}

func TestTenantIDs(t *testing.T) {
	seen := map[string]bool{}
	for i := range 300 {
		id := TenantID(i)
		if len(id) != len(DefaultTenantID) || seen[id] {
			t.Fatalf("TenantID(%d) = %q: wrong length or repeated", i, id)
		}
		seen[id] = true
	}
	if TenantID(0) != DefaultTenantID || TenantID(1) != "0b1e7a7e-5c1d-4c0e-9d7b-2f1a6a000001" {
		t.Errorf("TenantID(0), (1) = %s, %s", TenantID(0), TenantID(1))
	}
}
