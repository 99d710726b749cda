package graphsim

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestPageLatency(t *testing.T) {
	const lat = 200 * time.Millisecond
	s := newServer(t, Options{Latency: lat})
	tok := accessToken(t, s, DefaultTenantID)
	tests := []struct{ name, url string }{
		{"v1.0 first page", s.URL() + v1Path + "?$top=10"},
		{"beta first page", s.URL() + betaPath + "?$top=10"},
		{"filtered", s.URL() + v1Path + "?$filter=" + url.QueryEscape("isAdmin eq true")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			r := get(t, s, tok, tt.url)
			took := time.Since(start)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			// The jitter takes off at most 20 %.
			if took < lat*8/10 {
				t.Errorf("page answered in %v, want at least %v", took, lat*8/10)
			}
		})
	}
}

// TestLatencySkipsErrors: only pages wait; with an hour of latency, errors
// and 429s still answer.
func TestLatencySkipsErrors(t *testing.T) {
	s := newServer(t, Options{Latency: time.Hour})
	tok := accessToken(t, s, DefaultTenantID)
	tests := []struct {
		name   string
		faults Faults
		query  string
		status int
	}{
		{"bad $top", Faults{}, "?$top=0", http.StatusBadRequest},
		{"injected 429", Faults{Throttle: 1}, "", http.StatusTooManyRequests},
		{"injected 503", Faults{Unavailable: 1}, "", http.StatusServiceUnavailable},
		{"injected 401", Faults{Unauthorized: 1}, "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.SetFaults(tt.faults)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+v1Path+tt.query, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := s.Client().Do(req)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if r := readResponse(t, res); r.status != tt.status {
				t.Errorf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
		})
	}
}

// TestLatencyCountsAtArrival: the limiter counts a request when it
// arrives, as Graph does, not once its page is built: while a slow page is
// being built, the tenant's only slot is taken.
func TestLatencyCountsAtArrival(t *testing.T) {
	s := newServer(t, Options{Latency: time.Hour,
		Limits: Limits{PerTenant: 1, PerTenantWindow: time.Minute, App: 100, AppWindow: time.Minute}})
	tok := accessToken(t, s, DefaultTenantID)
	leave := startSlow(t, s, tok, s.URL()+v1Path+"?$top=1")
	defer leave()
	// Were the slot taken only after the wait, this request would wait an
	// hour too and time out.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+v1Path+"?$top=2", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("second request: %v", err)
	}
	wantError(t, readResponse(t, res), http.StatusTooManyRequests, "TooManyRequests")
}

// startSlow sends a GET that the server is to hold (Options.Latency) and
// returns once the server has it. The function it returns makes the client
// leave and returns the client's error.
func startSlow(t *testing.T, s *Server, tok, url string) (leave func() error) {
	t.Helper()
	before := s.Stats().Requests
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	done := make(chan error, 1)
	go func() {
		res, err := s.Client().Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	for s.Stats().Requests == before {
		time.Sleep(5 * time.Millisecond)
	}
	return func() error {
		cancel()
		return <-done
	}
}

// TestLatencyEndsWithClient: a client that gives up ends the wait; the
// handler returns without serving the page.
func TestLatencyEndsWithClient(t *testing.T) {
	var log safeBuffer
	s := newServer(t, Options{Latency: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	tok := accessToken(t, s, DefaultTenantID)
	if err := startSlow(t, s, tok, s.URL()+v1Path+"?$top=3")(); err == nil {
		t.Fatal("the client got its page although it left an hour early")
	}
	// The request is logged when its handler returns.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "path="+v1Path) {
		if time.Now().After(deadline) {
			t.Fatal("the handler still waits 10 s after its client left")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := s.Stats(); st.Pages != 0 || st.Requests != 1 {
		t.Errorf("stats %+v, want 1 request and no page served", st)
	}
}

func TestPageLatencyJitter(t *testing.T) {
	const lat = time.Second
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for i := range 1000 {
		d := newDraw(1, DefaultTenantID, v1Path, i)
		got := pageLatency(lat, d)
		if got != pageLatency(lat, d) {
			t.Fatalf("draw %x: latency differs between two calls", d)
		}
		lo, hi = min(lo, got), max(hi, got)
	}
	if lo < 800*time.Millisecond || hi > 1200*time.Millisecond || hi-lo < 300*time.Millisecond {
		t.Errorf("latencies span [%v, %v], want most of [800ms, 1.2s]", lo, hi)
	}
	if got := pageLatency(0, 1); got != 0 {
		t.Errorf("no latency configured, got %v", got)
	}
}
