package extract

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/credreg/credreg/schemas"
)

// sendTimes is what the throttle's windows hold for tenant, oldest first,
// free slots left out; the tenant's and the app's must agree.
func sendTimes(t *testing.T, th *Throttle, tenant string) []time.Time {
	t.Helper()
	th.mu.Lock()
	defer th.mu.Unlock()
	collect := func(w *window) []time.Time {
		var out []time.Time
		for _, at := range w.times {
			if !at.IsZero() {
				out = append(out, at)
			}
		}
		slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
		return out
	}
	ts, app := collect(th.tenants[tenant].win), collect(th.app)
	if !slices.EqualFunc(ts, app, time.Time.Equal) {
		t.Fatalf("tenant window %v, app window %v", ts, app)
	}
	return ts
}

// Graph counts a request when it arrives, so the throttle counts it when
// it is written, not when the slot was granted: here a slow token fetch
// lies between the two.
func TestSlotCountsTheWrite(t *testing.T) {
	g := newGraphStub(t, func(w http.ResponseWriter, r *http.Request, n int) { reply(w, 200, `{"value":[]}`) })
	th := NewThrottle(Limits{PerTenant: 5, PerTenantWindow: 10 * time.Second})
	cred := &tokenCred{delay: 300 * time.Millisecond}
	cl := g.client(t, ClientOptions{Credential: cred, Throttle: th})
	granted := time.Now() // no earlier than the slot: the window is empty
	if _, err := cl.FetchPage(context.Background(), cl.ReportURL(schemas.UserRegistrationDetails, ""), false); err != nil {
		t.Fatal(err)
	}
	sent := sendTimes(t, th, "t1")
	if len(sent) != 1 {
		t.Fatalf("%d sends counted, want 1", len(sent))
	}
	// The request cannot be written before the token is there.
	if tokenAt := *cred.returned.Load(); sent[0].Before(tokenAt) {
		t.Errorf("counted %v after the slot was granted, %v before the token was there: the grant, not the write",
			sent[0].Sub(granted), tokenAt.Sub(sent[0]))
	}
}

// A request written on a keep-alive connection the server has closed is
// written again, by Go's transport, on a new connection; the throttle
// counts the second write, which is the one Graph receives.
func TestSlotCountsTheRewriteOnADeadConnection(t *testing.T) {
	var (
		mu      sync.Mutex
		seen    = map[string]bool{} // connections that served a request
		closed  bool
		closeAt time.Time
	)
	g := newGraphStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		reused := seen[r.RemoteAddr]
		seen[r.RemoteAddr] = true
		kill := reused && !closed
		closed = closed || kill
		mu.Unlock()
		if !kill {
			reply(w, 200, `{"value":[]}`)
			return
		}
		// The request is read and the connection dies without an answer,
		// as when a keep-alive timeout meets a request on its way. The
		// pause puts the rewrite clearly after the first write.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		closeAt = time.Now()
		mu.Unlock()
		conn.Close()
	})
	th := NewThrottle(Limits{PerTenant: 10, PerTenantWindow: 10 * time.Second})
	cl := g.client(t, ClientOptions{Throttle: th})
	// The connection is usually reused by the second request; a transport
	// that has not put it back in its pool yet dials another, so try a few.
	for i := 1; i <= 5; i++ {
		if _, err := cl.FetchPage(context.Background(), cl.ReportURL(schemas.UserRegistrationDetails, ""), false); err != nil {
			t.Fatalf("request %d: %v (the transport should have retried on a new connection)", i, err)
		}
		mu.Lock()
		done, at := closed, closeAt
		mu.Unlock()
		if !done {
			continue
		}
		sent := sendTimes(t, th, "t1")
		if len(sent) != i {
			t.Fatalf("%d sends counted for %d requests: a rewrite must move its slot, not take another", len(sent), i)
		}
		if last := sent[len(sent)-1]; last.Before(at) {
			t.Errorf("the rewritten request is counted %v before the dead connection closed: at its first write", at.Sub(last))
		}
		if got, want := g.n.Load(), int64(i+1); got != want {
			t.Errorf("server saw %d requests, want %d (one written twice)", got, want)
		}
		return
	}
	t.Fatal("the transport never reused a connection in 5 requests")
}
