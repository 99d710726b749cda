package graphsim

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var graphTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$`)

func TestPaging(t *testing.T) {
	s := newServer(t, Options{})
	tok := accessToken(t, s, DefaultTenantID)
	users := listingOrder(s, DefaultTenantID, testDay)
	for _, path := range []string{v1Path, betaPath} {
		t.Run(path, func(t *testing.T) {
			first := get(t, s, tok, s.URL()+path+"?$top=100")
			if ct := first.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || !strings.Contains(ct, "odata.metadata=minimal") {
				t.Errorf("Content-Type %q", ct)
			}
			l := listAll(t, s, tok, s.URL()+path+"?$top=100")
			if got := ids(t, l.records); !slices.Equal(got, userIDs(users)) {
				t.Fatalf("listing has %d records, want the %d users in the listing order", len(got), len(users))
			}
			wantEmpty := l.pages / 4
			if l.emptyPages != wantEmpty || l.pages != (len(users)+99)/100+wantEmpty {
				t.Errorf("%d pages, %d empty; want every 4th of %d pages empty", l.pages, l.emptyPages, l.pages)
			}
			for _, link := range l.links {
				if !strings.HasPrefix(link, s.URL()+path+"?$top=100&$skiptoken=") {
					t.Fatalf("next link %q does not keep the query on this server", link)
				}
			}
			for i, rec := range l.records {
				checkRecord(t, path, rec, users[i])
			}
		})
	}
	if st := s.Stats(); st.Pages == 0 || st.EmptyPages == 0 || st.Requests < st.Pages {
		t.Errorf("stats %+v", st)
	}
}

// checkRecord compares one record with the ground truth, property by property.
func checkRecord(t *testing.T, path string, raw json.RawMessage, u User) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	strs := func(v any) []string {
		var out []string
		for _, x := range v.([]any) {
			out = append(out, x.(string))
		}
		return out
	}
	var want map[string]any
	if path == betaPath {
		reg, en, capable, mfa := u.BetaFlags()
		want = map[string]any{"id": u.ID, "userPrincipalName": u.UserPrincipalName, "userDisplayName": u.UserDisplayName,
			"isRegistered": reg, "isEnabled": en, "isCapable": capable, "isMfaRegistered": mfa}
		if got := strs(m["authMethods"]); !slices.Equal(got, u.BetaAuthMethods()) {
			t.Errorf("%s authMethods %v, want %v", u.ID, got, u.BetaAuthMethods())
		}
		delete(m, "authMethods")
	} else {
		want = map[string]any{"id": u.ID, "userPrincipalName": u.UserPrincipalName, "userDisplayName": u.UserDisplayName,
			"userType": u.UserType, "isAdmin": u.IsAdmin, "isSsprRegistered": u.IsSsprRegistered,
			"isSsprEnabled": u.IsSsprEnabled, "isSsprCapable": u.IsSsprCapable, "isMfaRegistered": u.IsMfaRegistered,
			"isMfaCapable": u.IsMfaCapable, "isPasswordlessCapable": u.IsPasswordlessCapable,
			"isSystemPreferredAuthenticationMethodEnabled":  u.IsSystemPreferredAuthenticationMethodEnabled,
			"userPreferredMethodForSecondaryAuthentication": u.UserPreferredMethodForSecondaryAuthentication}
		ts, _ := m["lastUpdatedDateTime"].(string)
		parsed, err := time.Parse(time.RFC3339Nano, ts)
		if !graphTime.MatchString(ts) || err != nil || !parsed.Equal(u.LastUpdatedDateTime) {
			t.Errorf("%s lastUpdatedDateTime %q, want %v with 7 fractional digits", u.ID, ts, u.LastUpdatedDateTime)
		}
		if got := strs(m["methodsRegistered"]); !slices.Equal(got, u.MethodsRegistered) {
			t.Errorf("%s methodsRegistered %v, want %v", u.ID, got, u.MethodsRegistered)
		}
		if got := strs(m["systemPreferredAuthenticationMethods"]); !slices.Equal(got, u.SystemPreferredAuthenticationMethods) {
			t.Errorf("%s systemPreferredAuthenticationMethods %v, want %v", u.ID, got, u.SystemPreferredAuthenticationMethods)
		}
		delete(m, "lastUpdatedDateTime")
		delete(m, "methodsRegistered")
		delete(m, "systemPreferredAuthenticationMethods")
	}
	if len(m) != len(want) {
		t.Errorf("%s has properties %v, want %v", u.ID, keysOf(m), keysOf(want))
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s %s = %v, want %v", u.ID, k, m[k], v)
		}
	}
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestPagingEdges(t *testing.T) {
	tests := []struct {
		name       string
		users      int
		emptyEvery int
		top        int
		wantPages  int
	}{
		{"no users", 0, 0, 10, 1},
		{"exact multiple has no trailing page", 100, -1, 25, 4}, // population on UsersOn is exactly Users
		{"empty pages disabled", 100, -1, 10, 10},
		{"every page but one empty", 100, 1, 50, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			day := time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC)
			s := newServer(t, Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: tt.users, UsersOn: day}},
				EmptyPageEvery: tt.emptyEvery, Now: func() time.Time { return day }})
			l := listAll(t, s, accessToken(t, s, DefaultTenantID), s.URL()+v1Path+"?$top="+strconv.Itoa(tt.top))
			if len(l.records) != tt.users || l.pages != tt.wantPages {
				t.Errorf("%d records in %d pages, want %d in %d", len(l.records), l.pages, tt.users, tt.wantPages)
			}
		})
	}
}

func TestSkipToken(t *testing.T) {
	s := newServer(t, Options{})
	twin := newServer(t, Options{})
	stranger := newServer(t, Options{Seed: 2})
	tok := accessToken(t, s, DefaultTenantID)
	first := listAll(t, s, tok, s.URL()+v1Path+"?$top=300")
	link := first.links[0]
	skip := link[strings.Index(link, "$skiptoken=")+len("$skiptoken="):]
	flipped := []byte(skip)
	flipped[len(flipped)/2] ^= 1
	strangerLink := listAll(t, stranger, accessToken(t, stranger, DefaultTenantID), stranger.URL()+v1Path+"?$top=300").links[0]
	tests := []struct {
		name, url string
		ok        bool
	}{
		{"as sent", link, true},
		{"same seed, other server", strings.Replace(link, s.URL(), twin.URL(), 1), true},
		{"tampered", strings.Replace(link, skip, string(flipped), 1), false},
		{"truncated", strings.Replace(link, skip, skip[:len(skip)-2], 1), false},
		{"garbage", s.URL() + v1Path + "?$top=300&$skiptoken=abc", false},
		{"other $top", strings.Replace(link, "$top=300", "$top=200", 1), false},
		{"other report", strings.Replace(link, v1Path, betaPath, 1), false},
		{"other seed", strings.Replace(strangerLink, stranger.URL(), s.URL(), 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := s
			if strings.HasPrefix(tt.url, twin.URL()) {
				srv = twin
			}
			r := get(t, srv, accessToken(t, srv, DefaultTenantID), tt.url)
			if tt.ok {
				if r.status != http.StatusOK {
					t.Errorf("status %d: %s", r.status, r.body)
				}
				return
			}
			wantError(t, r, http.StatusBadRequest, "Directory_ExpiredPageToken")
		})
	}
}

// TestConcurrentListings: listings in parallel (sharing the day cache, the
// limiter and the counters) each see the whole tenant.
func TestConcurrentListings(t *testing.T) {
	s := newServer(t, Options{})
	tok := accessToken(t, s, DefaultTenantID)
	want := userIDs(listingOrder(s, DefaultTenantID, testDay))
	var wg sync.WaitGroup
	results := make([][]string, 4)
	for i := range results {
		wg.Go(func() {
			path := []string{v1Path, betaPath}[i%2]
			results[i] = ids(t, listAll(t, s, tok, s.URL()+path+"?$top=250").records)
		})
	}
	wg.Wait()
	for i, got := range results {
		if !slices.Equal(got, want) {
			t.Errorf("listing %d: %d records, want %d", i, len(got), len(want))
		}
	}
}

// FuzzPageToken: no $skiptoken a client can send panics the decoder, and
// only tokens the server signed decode.
func FuzzPageToken(f *testing.F) {
	s := &Server{pageKey: []byte("fuzz")}
	qh := []byte("12345678")
	f.Add(s.encodePageToken(pageToken{page: 2, offset: 100, day: 20000}, qh))
	f.Add("")
	f.Add("AQAAAAIAAAAC")
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := s.decodePageToken(raw, qh)
		if err != nil {
			return
		}
		if again := s.encodePageToken(tok, qh); again != raw {
			t.Fatalf("decoded %q, which encodes back as %q", raw, again)
		}
	})
}
