package graphsim

import (
	"errors"
	"io"
	"net/http"
	"slices"
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
	const n = 20000
	got := map[faultKind]int{}
	for i := range int64(n) {
		got[decideFault(1, i+1, f)]++
	}
	for k, p := range want {
		if rate := float64(got[k]) / n; rate < p-0.02 || rate > p+0.02 {
			t.Errorf("fault %d: rate %.3f, want %.2f", k, rate, p)
		}
	}
	if k := decideFault(1, 1, Faults{Throttle: 5, Unavailable: 1}); k != faultThrottle {
		t.Errorf("probabilities over 1: got %d, want the first kind", k)
	}
}
