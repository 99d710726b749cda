package graphsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestFaults(t *testing.T) {
	tests := []struct {
		name   string
		faults Faults
		check  func(t *testing.T, res *http.Response, err error)
		count  func(FaultCounts) int64
	}{
		{"throttle", Faults{Throttle: 1}, func(t *testing.T, res *http.Response, err error) {
			r := readResponse(t, mustDo(t, res, err))
			wantError(t, r, http.StatusTooManyRequests, "TooManyRequests")
			if r.header.Get("Retry-After") != "1" {
				t.Errorf("Retry-After %q, want 1", r.header.Get("Retry-After"))
			}
		}, func(c FaultCounts) int64 { return c.Throttle }},
		{"unavailable", Faults{Unavailable: 1}, func(t *testing.T, res *http.Response, err error) {
			wantError(t, readResponse(t, mustDo(t, res, err)), http.StatusServiceUnavailable, "ServiceUnavailable")
		}, func(c FaultCounts) int64 { return c.Unavailable }},
		{"unauthorized", Faults{Unauthorized: 1}, func(t *testing.T, res *http.Response, err error) {
			wantError(t, readResponse(t, mustDo(t, res, err)), http.StatusUnauthorized, "InvalidAuthenticationToken")
		}, func(c FaultCounts) int64 { return c.Unauthorized }},
		{"reset", Faults{Reset: 1}, func(t *testing.T, res *http.Response, err error) {
			if err == nil {
				_, err = io.ReadAll(res.Body)
				res.Body.Close()
			}
			if err == nil {
				t.Error("reset connection: the client saw no error")
			}
		}, func(c FaultCounts) int64 { return c.Reset }},
		{"truncate", Faults{Truncate: 1}, func(t *testing.T, res *http.Response, err error) {
			res = mustDo(t, res, err)
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200 with a short body", res.StatusCode)
			}
			if _, err := io.ReadAll(res.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("read: %v, want unexpected EOF", err)
			}
		}, func(c FaultCounts) int64 { return c.Truncate }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{})
			tok := accessToken(t, s, DefaultTenantID)
			s.SetFaults(tt.faults)
			// Several requests: some faults vary by request number.
			const n = 4
			for range n {
				req, _ := http.NewRequest(http.MethodGet, s.URL()+v1Path, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := s.Client().Do(req)
				tt.check(t, res, err)
			}
			if got := tt.count(s.Stats().Faults); got != n {
				t.Errorf("fault count %d, want %d", got, n)
			}
			s.SetFaults(Faults{})
			if r := get(t, s, tok, s.URL()+v1Path); r.status != http.StatusOK {
				t.Errorf("after SetFaults(Faults{}): %d %s", r.status, r.body)
			}
		})
	}
}

func mustDo(t *testing.T, res *http.Response, err error) *http.Response {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestFaultsDeterministic(t *testing.T) {
	faults := Faults{Throttle: 0.2, Unavailable: 0.2, Unauthorized: 0.1}
	statuses := func(seed int64) []int {
		s := newServer(t, Options{Seed: seed, Faults: faults})
		tok := accessToken(t, s, DefaultTenantID)
		var out []int
		for range 30 {
			out = append(out, get(t, s, tok, s.URL()+v1Path+"?$top=1").status)
		}
		return out
	}
	a, b := statuses(7), statuses(7)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different faults:\n%v\n%v", a, b)
	}
	for _, want := range []int{200, 401, 429, 503} {
		if !slices.Contains(a, want) {
			t.Errorf("30 requests at these rates never answered %d: %v", want, a)
		}
	}
}

func TestDecideFaultRates(t *testing.T) {
	f := Faults{Throttle: 0.1, Unavailable: 0.2, Reset: 0.05, Truncate: 0.05, Unauthorized: 0.1}
	want := map[faultKind]float64{noFault: 0.5, faultThrottle: 0.1, faultUnavailable: 0.2,
		faultReset: 0.05, faultTruncate: 0.05, faultUnauthorized: 0.1}
	// Targets of one listing differ only in their skip tokens, and a
	// retried target only in its occurrence: both must spread evenly.
	tests := []struct {
		name string
		draw func(i int) draw
	}{
		{"distinct targets", func(i int) draw {
			return newDraw(1, DefaultTenantID, fmt.Sprintf("%s?$top=999&$skiptoken=AQAAA%07d", v1Path, i), 0)
		}},
		{"one target retried", func(i int) draw { return newDraw(1, DefaultTenantID, v1Path+"?$top=999", i) }},
		{"one target, many tenants", func(i int) draw {
			return newDraw(1, fmt.Sprintf("%08x-0000-4000-8000-000000000000", i), v1Path, 0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 20000
			got := map[faultKind]int{}
			for i := range n {
				got[decideFault(tt.draw(i), f)]++
			}
			for k, p := range want {
				if rate := float64(got[k]) / n; rate < p-0.02 || rate > p+0.02 {
					t.Errorf("fault %d: rate %.3f, want %.2f", k, rate, p)
				}
			}
		})
	}
	if k := decideFault(newDraw(1, DefaultTenantID, v1Path, 0), Faults{Throttle: 5, Unavailable: 1}); k != faultThrottle {
		t.Errorf("probabilities over 1: got %d, want the first kind", k)
	}
}

func TestDrawKey(t *testing.T) {
	base := newDraw(1, DefaultTenantID, v1Path+"?$top=5", 0)
	tests := []struct {
		name string
		d    draw
		same bool
	}{
		{"same inputs", newDraw(1, DefaultTenantID, v1Path+"?$top=5", 0), true},
		{"other seed", newDraw(2, DefaultTenantID, v1Path+"?$top=5", 0), false},
		{"other tenant", newDraw(1, "5d2c6a3e-1f4b-4e8a-9c7d-0a1b2c3d4e5f", v1Path+"?$top=5", 0), false},
		{"other query", newDraw(1, DefaultTenantID, v1Path+"?$top=6", 0), false},
		{"query encoded otherwise", newDraw(1, DefaultTenantID, v1Path+"?%24top=5", 0), false},
		{"retry", newDraw(1, DefaultTenantID, v1Path+"?$top=5", 1), false},
		// The separator keeps tenant and target from running into each other.
		{"shifted boundary", newDraw(1, DefaultTenantID+"/", "v1.0/reports/authenticationMethods/userRegistrationDetails?$top=5", 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.d == base) != tt.same {
				t.Errorf("draw %x vs %x: same = %v, want %v", tt.d, base, tt.d == base, tt.same)
			}
		})
	}
}

// outcome is what a client saw of one report request, fine enough to tell
// every fault and its variant apart. A request that never left the client
// (a TLS handshake timing out on a loaded machine) is sent again: the
// server did not see it, so it is no try.
func outcome(s *Server, tok, url string) string {
	for range 5 {
		var sent atomic.Bool
		trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) { sent.Store(i.Err == nil) }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := s.Client().Do(req)
		switch {
		case err != nil && !sent.Load():
			continue
		case err != nil:
			// A reset can overtake the headers on a loaded machine.
			return "reset"
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Sprintf("%d truncated after %d bytes", res.StatusCode, len(body))
		case err != nil:
			return "reset"
		}
		return fmt.Sprintf("%d Retry-After=%q %d bytes", res.StatusCode, res.Header.Get("Retry-After"), len(body))
	}
	return "never sent"
}

// TestFaultsIgnoreInterleaving: two servers with the same seed, one driven
// target by target, the other by eight goroutines taking targets in
// reverse order, fault every (target, occurrence) the same way.
func TestFaultsIgnoreInterleaving(t *testing.T) {
	faults := Faults{Throttle: 0.1, Unavailable: 0.1, Reset: 0.05, Truncate: 0.1, Unauthorized: 0.05}
	const targets, tries = 40, 3
	path := func(i int) string {
		return []string{v1Path, betaPath}[i%2] + "?$top=" + strconv.Itoa(1+i/2)
	}
	type key struct{ target, try int }
	run := func(concurrent bool) map[key]string {
		s := newServer(t, Options{Seed: 11, Faults: faults})
		tok := accessToken(t, s, DefaultTenantID)
		out := map[key]string{}
		var mu sync.Mutex
		// A client retries a target only after the previous try answered,
		// so tries of one target stay in order; only targets interleave.
		drive := func(i int) {
			for try := range tries {
				o := outcome(s, tok, s.URL()+path(i))
				mu.Lock()
				out[key{i, try}] = o
				mu.Unlock()
			}
		}
		if !concurrent {
			for i := range targets {
				drive(i)
			}
			return out
		}
		todo := make(chan int, targets)
		for i := targets - 1; i >= 0; i-- {
			todo <- i
		}
		close(todo)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for i := range todo {
					drive(i)
				}
			})
		}
		wg.Wait()
		return out
	}
	sequential, concurrent := run(false), run(true)
	faulted := 0
	for k, want := range sequential {
		if got := concurrent[k]; got != want {
			t.Errorf("target %s, try %d: %q in order, %q interleaved", path(k.target), k.try, want, got)
		}
		if !strings.HasPrefix(want, "200 Retry-After=\"\"") {
			faulted++
		}
	}
	// 120 requests at a total fault rate of 0.4: a σ of about 0.045.
	if rate := float64(faulted) / float64(len(sequential)); rate < 0.25 || rate > 0.55 {
		t.Errorf("fault rate %.2f over %d requests, want about 0.4", rate, len(sequential))
	}
	retried := 0
	for i := range targets {
		if sequential[key{i, 0}] != sequential[key{i, 1}] || sequential[key{i, 1}] != sequential[key{i, 2}] {
			retried++
		}
	}
	if retried == 0 {
		t.Error("every target met the same outcome on each try: retries do not draw afresh")
	}
}
