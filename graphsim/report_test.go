package graphsim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBearer(t *testing.T) {
	var clock atomic.Int64
	clock.Store(testDay.UnixNano())
	s := newServer(t, Options{Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	other := newServer(t, Options{})
	valid := accessToken(t, s, DefaultTenantID)
	payload, sig, _ := strings.Cut(strings.TrimPrefix(valid, tokenPrefix), ".")
	forged := tokenPrefix + strings.Replace(payload, payload[:4], "AAAA", 1) + "." + sig
	tests := []struct {
		name, header string
		wantMessage  string
	}{
		{"missing", "", "Access token is empty."},
		{"basic scheme", "Basic " + valid, "Access token validation failed."},
		{"garbage", "Bearer not-a-token", "Access token validation failed."},
		{"forged claims", "Bearer " + forged, "Access token validation failed."},
		{"from another server", "Bearer " + accessToken(t, other, DefaultTenantID), "Access token validation failed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, s.URL()+v1Path, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			res, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r := readResponse(t, res)
			if msg := wantError(t, r, http.StatusUnauthorized, "InvalidAuthenticationToken"); msg != tt.wantMessage {
				t.Errorf("message %q, want %q", msg, tt.wantMessage)
			}
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		if r := get(t, s, valid, s.URL()+v1Path+"?$top=1"); r.status != http.StatusOK {
			t.Fatalf("before expiry: %d %s", r.status, r.body)
		}
		clock.Add(int64(time.Hour))
		msg := wantError(t, get(t, s, valid, s.URL()+v1Path+"?$top=1"), http.StatusUnauthorized, "InvalidAuthenticationToken")
		if msg != "Access token has expired or is not yet valid." {
			t.Errorf("message %q", msg)
		}
	})
}

func TestTop(t *testing.T) {
	s := newServer(t, Options{})
	tok := accessToken(t, s, DefaultTenantID)
	total := len(s.Users(DefaultTenantID, testDay))
	tests := []struct {
		query   string
		records int // 0: want 400
	}{
		{"", defaultTop},
		{"?$count=true", defaultTop},
		{"?$top=1", 1},
		{"?$top=999", 999},
		{"?%24top=7", 7},
		{"?$top=0", 0},
		{"?$top=1000", 0},
		{"?$top=-1", 0},
		{"?$top=abc", 0},
		{"?$top=+5", 0},
		{"?$top=", 0},
		{"?$top=5&$top=6", 0},
	}
	if total <= 999 {
		t.Fatalf("tenant has %d users; the test needs more than 999", total)
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := get(t, s, tok, s.URL()+v1Path+tt.query)
			if tt.records == 0 {
				if r.status != http.StatusBadRequest {
					t.Fatalf("status %d, want 400: %s", r.status, r.body)
				}
				return
			}
			var p pageBody
			if r.status != http.StatusOK || json.Unmarshal(r.body, &p) != nil {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if len(p.Value) != tt.records || p.NextLink == "" {
				t.Errorf("%d records, next link %q; want %d and a next link", len(p.Value), p.NextLink, tt.records)
			}
		})
	}
	msg := wantError(t, get(t, s, tok, s.URL()+v1Path+"?$top=1000"), http.StatusBadRequest, "Request_UnsupportedQuery")
	if msg != "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive." {
		t.Errorf("message %q", msg)
	}
}

func TestNonPremiumTenant(t *testing.T) {
	const basic = "5d2c6a3e-1f4b-4e8a-9c7d-0a1b2c3d4e5f"
	s := newServer(t, Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: 10}, {ID: basic, Users: 10, NonPremium: true}}})
	tok := accessToken(t, s, basic)
	msg := wantError(t, get(t, s, tok, s.URL()+v1Path), http.StatusForbidden, "Authentication_RequestFromNonPremiumTenantOrB2CTenant")
	if msg != "Tenant is not a B2C tenant and doesn't have premium license" {
		t.Errorf("message %q", msg)
	}
	if r := get(t, s, tok, s.URL()+betaPath); r.status != http.StatusOK {
		t.Errorf("beta report for a non-premium tenant: %d %s", r.status, r.body)
	}
	// The token decides the tenant: the premium tenant's token reads its own users.
	l := listAll(t, s, accessToken(t, s, DefaultTenantID), s.URL()+v1Path)
	if got, want := ids(t, l.records), userIDs(listingOrder(s, DefaultTenantID, testDay)); !slices.Equal(got, want) {
		t.Errorf("premium tenant listing %v, want %v", got, want)
	}
}

func TestIntercept(t *testing.T) {
	var mu sync.Mutex
	var calls []int
	s := newServer(t, Options{Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
		mu.Lock()
		calls = append(calls, n)
		mu.Unlock()
		if n != 3 {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"value":[{"id":"fixture"}]}`))
		return true
	}})
	tok := accessToken(t, s, DefaultTenantID)
	get(t, s, "", s.URL()+v1Path) // rejected before Intercept, but counted
	statuses := []int{}
	var bodies []string
	for range 3 {
		r := get(t, s, tok, s.URL()+v1Path+"?$top=1")
		statuses = append(statuses, r.status)
		bodies = append(bodies, string(r.body))
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(calls, []int{2, 3, 4}) {
		t.Errorf("Intercept saw n = %v, want [2 3 4]", calls)
	}
	if bodies[1] != `{"value":[{"id":"fixture"}]}` || strings.Contains(bodies[0], "fixture") || statuses[2] != 200 {
		t.Errorf("responses %v %q", statuses, bodies)
	}
	if st := s.Stats(); st.Requests != 4 || st.Pages != 2 {
		t.Errorf("stats %+v, want 4 requests and 2 pages", st)
	}
}

func TestUnknownRoutes(t *testing.T) {
	s := newServer(t, Options{})
	tok := accessToken(t, s, DefaultTenantID)
	wantError(t, get(t, s, tok, s.URL()+"/v1.0/users"), http.StatusNotFound, "Request_ResourceNotFound")
	req, _ := http.NewRequest(http.MethodPost, s.URL()+v1Path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, readResponse(t, res), http.StatusMethodNotAllowed, "Request_BadRequest")
}
