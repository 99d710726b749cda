package extract

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/schemas"
)

// A token Graph stops accepting in the middle of a listing, through the
// real azidentity credential: the refused page is fetched again with a
// fresh token, once, and the pages after it use the fresh token too.
// azidentity refetches a token with less than 5 minutes left before every
// request, so only a token it holds on to can go stale under it: one
// Graph revoked, or one whose lifetime passed while it was cached.
func TestStaleTokenIsRefreshedOnce(t *testing.T) {
	cases := []struct {
		name     string
		lifetime time.Duration
		// stale makes the token in use stale after the second page.
		stale func(s *graphsim.Server, clock *graphsim.Clock)
	}{
		{"revoked", time.Hour, func(s *graphsim.Server, _ *graphsim.Clock) { s.RevokeTokens() }},
		// Just over azidentity's 5 minutes, so it is cached and reused;
		// then Graph's clock passes its expiry while azidentity, going by
		// its own clock, still holds it valid.
		{"expired", 6 * time.Minute, func(_ *graphsim.Server, clock *graphsim.Clock) { clock.Advance(7 * time.Minute) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := graphsim.NewClock(testDay)
			var mu sync.Mutex
			var tokens []string // of the requests Graph accepted, in order
			// Two pages with the first token, two or more with the fresh one.
			s := newSim(t, graphsim.Options{Now: clock.Now, TokenLifetime: c.lifetime,
				Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 3500}},
				Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
					mu.Lock()
					tokens = append(tokens, r.Header.Get("Authorization"))
					mu.Unlock()
					return false
				}})
			cl := newTestClient(t, s, graphsim.DefaultClientSecret)
			ctx := context.Background()
			p := cl.Pages(schemas.UserRegistrationDetails, "")
			users := 0
			for {
				if p.Seq() == 2 {
					c.stale(s, clock)
				}
				page, err := p.Next(ctx)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("page %d: %v", p.Seq()+1, err)
				}
				users += len(page.Records)
			}
			if want := len(s.Users(graphsim.DefaultTenantID, testDay)); users != want {
				t.Errorf("%d users, want %d", users, want)
			}
			mu.Lock()
			defer mu.Unlock()
			if int64(len(tokens)) != p.Seq() || len(tokens) < 4 {
				t.Fatalf("Graph accepted %d requests for %d pages, want one each and at least 4", len(tokens), p.Seq())
			}
			// The first token was cached for the second page: without
			// that, nothing could go stale and the test would prove nothing.
			if tokens[2] == tokens[0] {
				t.Error("page 3 was read with the stale token")
			}
			for i, tok := range tokens {
				if want := map[bool]string{true: tokens[0], false: tokens[2]}[i < 2]; tok != want {
					t.Errorf("page %d: not the token wanted; the first two pages share one, the rest a fresh one", i+1)
				}
			}
			st, ss := cl.Stats(), s.Stats()
			if st.TokenRefreshes != 1 || ss.RefusedTokens != 1 || ss.TokenRequests != 2 {
				t.Errorf("%d refreshes, %d tokens refused, %d token requests; want 1, 1, 2",
					st.TokenRefreshes, ss.RefusedTokens, ss.TokenRequests)
			}
		})
	}
}
