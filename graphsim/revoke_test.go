package graphsim

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestRevokeTokens: a token issued before RevokeTokens is refused although
// it has not expired; one issued after works.
func TestRevokeTokens(t *testing.T) {
	s := newServer(t, Options{})
	id := s.Users(DefaultTenantID, testDay)[0].ID
	old := accessToken(t, s, DefaultTenantID)
	if r := get(t, s, old, s.URL()+v1Path+"/"+id); r.status != http.StatusOK {
		t.Fatalf("before revocation: %d %s", r.status, r.body)
	}
	s.RevokeTokens()
	msg := wantError(t, get(t, s, old, s.URL()+v1Path+"?$top=5"), http.StatusUnauthorized, "InvalidAuthenticationToken")
	if msg != "Access token has expired or is not yet valid." {
		t.Errorf("message %q", msg)
	}
	fresh := accessToken(t, s, DefaultTenantID)
	if r := get(t, s, fresh, s.URL()+v1Path+"?$top=5"); r.status != http.StatusOK {
		t.Fatalf("token issued after the revocation: %d %s", r.status, r.body)
	}
	if st := s.Stats(); st.RefusedTokens != 1 || st.Faults.Unauthorized != 0 {
		t.Errorf("stats %+v, want one refused token", st)
	}
}

// TestTokenExpiresWithClock: a 6-minute token, which azidentity caches
// (it refreshes only within 5 minutes of expiry), expires when the
// simulated clock moves 7 minutes, without changing the data day.
func TestTokenExpiresWithClock(t *testing.T) {
	clock := NewClock(time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC))
	s := newServer(t, Options{Now: clock.Now, TokenLifetime: 6 * time.Minute})
	cred := secretCredential(t, s, DefaultTenantID, DefaultClientID, DefaultClientSecret)
	token := func() string {
		tok, err := cred.GetToken(context.Background(), graphScopes)
		if err != nil {
			t.Fatal(err)
		}
		return tok.Token
	}
	tok := token()
	before := get(t, s, tok, s.URL()+v1Path+"?$top=5")
	if before.status != http.StatusOK {
		t.Fatalf("fresh token: %d %s", before.status, before.body)
	}
	clock.Advance(7 * time.Minute)
	if again := token(); again != tok {
		t.Fatal("azidentity did not reuse its cached 6-minute token; the test would not reach an expired token")
	}
	if st := s.Stats(); st.TokenRequests != 1 {
		t.Fatalf("%d token requests, want 1", st.TokenRequests)
	}
	wantError(t, get(t, s, tok, s.URL()+v1Path+"?$top=5"), http.StatusUnauthorized, "InvalidAuthenticationToken")
	if st := s.Stats(); st.RefusedTokens != 1 {
		t.Errorf("RefusedTokens %d, want 1", st.RefusedTokens)
	}
	fresh := accessToken(t, s, DefaultTenantID)
	after := get(t, s, fresh, s.URL()+v1Path+"?$top=5")
	if after.status != http.StatusOK || string(after.body) != string(before.body) {
		t.Errorf("after 7 minutes the first page changed (status %d): the data day moved", after.status)
	}
}
