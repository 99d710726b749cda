package graphsim

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		tenant   string
		ms       int
		wantOK   bool
		wantWait time.Duration
	}
	tests := []struct {
		name  string
		lim   Limits
		steps []step
	}{
		{"per tenant, sliding window", Limits{}, []step{
			{"a", 0, true, 0}, {"a", 1000, true, 0}, {"a", 2000, true, 0}, {"a", 3000, true, 0}, {"a", 4000, true, 0},
			{"a", 5000, false, 5 * time.Second},
			// refusals take no slot: the first admission still frees at 10 s
			{"a", 6000, false, 4 * time.Second}, {"a", 9999, false, time.Millisecond},
			{"a", 10000, true, 0},
			{"a", 10500, false, 500 * time.Millisecond},
			{"b", 10500, true, 0}, // another tenant has its own budget
		}},
		{"across tenants", Limits{PerTenant: 5, App: 3}, []step{
			{"a", 0, true, 0}, {"b", 100, true, 0}, {"c", 200, true, 0},
			{"d", 300, false, 9700 * time.Millisecond},
			{"d", 10000, true, 0},
		}},
		{"both exceeded: the longer wait", Limits{PerTenant: 1, PerTenantWindow: 3 * time.Second, App: 2, AppWindow: 10 * time.Second}, []step{
			{"a", 0, true, 0}, {"b", 1000, true, 0},
			{"b", 2000, false, 8 * time.Second}, // the app slot of 0 s frees at 10 s, the tenant one at 4 s
		}},
		{"disabled", Limits{PerTenant: 1, Disabled: true}, []step{
			{"a", 0, true, 0}, {"a", 1, true, 0}, {"a", 2, true, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(tt.lim)
			for i, st := range tt.steps {
				wait, ok := l.admit(st.tenant, at(st.ms))
				if ok != st.wantOK || wait != st.wantWait {
					t.Fatalf("step %d (%s at %d ms): ok %v wait %v; want %v %v", i, st.tenant, st.ms, ok, wait, st.wantOK, st.wantWait)
				}
			}
		})
	}
}

// TestThrottleHTTP: the 6th quick request of a tenant is refused with
// Retry-After, and waiting that long is enough.
func TestThrottleHTTP(t *testing.T) {
	const other = "5d2c6a3e-1f4b-4e8a-9c7d-0a1b2c3d4e5f"
	s := newServer(t, Options{
		Tenants: []Tenant{{ID: DefaultTenantID, Users: 10}, {ID: other, Users: 10}},
		// Windows long enough that a loaded machine still sends 6 requests
		// in one, short enough to keep the test quick.
		Limits: Limits{PerTenant: 5, PerTenantWindow: time.Second, App: 7, AppWindow: time.Second},
	})
	tok := accessToken(t, s, DefaultTenantID)
	for i := range 5 {
		if r := get(t, s, tok, s.URL()+v1Path); r.status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
		}
	}
	r := get(t, s, tok, s.URL()+v1Path)
	wantError(t, r, http.StatusTooManyRequests, "TooManyRequests")
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || retry < 1 {
		t.Fatalf("Retry-After %q, want whole seconds >= 1", r.header.Get("Retry-After"))
	}
	// The other tenant has its own budget until the app-wide limit (7).
	otherTok := accessToken(t, s, other)
	for i, want := range []int{200, 200, 429} {
		if r := get(t, s, otherTok, s.URL()+betaPath); r.status != want {
			t.Fatalf("other tenant, request %d: %d, want %d", i+1, r.status, want)
		}
	}
	time.Sleep(time.Duration(retry) * time.Second)
	if r := get(t, s, tok, s.URL()+v1Path); r.status != http.StatusOK {
		t.Fatalf("after Retry-After: %d %s", r.status, r.body)
	}
	if st := s.Stats(); st.Throttled != 2 || st.Requests != 10 {
		t.Errorf("stats %+v, want 2 throttled of 10", st)
	}
}
