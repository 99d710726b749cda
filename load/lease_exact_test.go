package load

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credreg/credreg/schemas"
)

// exactStore is a bucket whose objects have versions (gs://, azblob://),
// as the lease tests reach it: every lease test of such a bucket is the
// same test, run against each.
type exactStore struct {
	// open opens a warehouse on the bucket as another process would; hook,
	// if not nil, sees each of its requests and may hold it.
	open func(t *testing.T, hook func(*http.Request, http.RoundTripper) (*http.Response, error)) *Warehouse
	// lease reads the lease object of key as the server holds it; false
	// when there is none.
	lease func(t *testing.T, key schemas.Key) (LeaseHolder, bool)
}

func (s exactStore) mustLease(t *testing.T, key schemas.Key) LeaseHolder {
	t.Helper()
	h, ok := s.lease(t, key)
	if !ok {
		t.Fatalf("no lease object for %s/%s", key.DateString(), key.Tenant)
	}
	return h
}

// Two writers that both read one stale lease, then both take it over:
// exactly one wins, and the other is told who holds it.
func testLeaseTakeoverRace(t *testing.T, s exactStore) {
	ctx := context.Background()
	key := schemas.Key{Date: day("2026-02-03"), Tenant: "tenant-g"}
	stale := leaseObject{bucket: s.open(t, nil).bucket, key: leaseDir + "/" + leaseName(key) + ".json", exact: true}
	if _, err := stale.create(ctx, LeaseHolder{RunID: "gone", Token: "gone", Expires: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	// Each writer's first read of the lease waits for the other's, so
	// that both decide to take over the same stale version.
	const writers = 2
	var mu sync.Mutex
	reads := 0
	bothRead := make(chan struct{})
	barrier := func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, leaseDir) {
			resp, err := next.RoundTrip(r)
			mu.Lock()
			if reads++; reads == writers {
				close(bothRead)
			}
			mu.Unlock()
			select {
			case <-bothRead:
			case <-time.After(10 * time.Second):
			}
			return resp, err
		}
		return next.RoundTrip(r)
	}
	leases := make([]*Lease, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		w := s.open(t, barrier)
		wg.Go(func() {
			leases[i], errs[i] = w.Lease(ctx, key, LeaseOptions{RunID: "run-" + string(rune('a'+i)), Timeout: time.Minute})
		})
	}
	wg.Wait()
	select {
	case <-bothRead:
	default:
		t.Fatal("the writers did not both read the stale lease before taking it over")
	}
	var winner *Lease
	for i, err := range errs {
		switch {
		case err == nil:
			if winner != nil {
				t.Fatalf("both writers took over the stale lease: %+v and %+v", winner.Holder(), leases[i].Holder())
			}
			winner = leases[i]
		case !errors.Is(err, ErrLeaseHeld):
			t.Fatalf("writer %d: %v, want the lease or ErrLeaseHeld", i, err)
		}
	}
	if winner == nil {
		t.Fatalf("neither writer took over the stale lease: %v", errs)
	}
	if h := s.mustLease(t, key); h.Token != winner.Holder().Token {
		t.Errorf("lease object names %+v, want the winner %+v", h, winner.Holder())
	}
	if err := winner.Release(); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.lease(t, key); ok {
		t.Error("Release left the lease object")
	}
}

// A renewal that the store applied but whose answer was lost leaves the
// lease at a version its holder did not see: the next renewal is refused,
// and the holder, finding its own token there, carries on rather than
// report its lease taken over.
func testLeaseRenewalAnswerLost(t *testing.T, s exactStore) {
	ctx := context.Background()
	key := schemas.Key{Date: day("2026-02-03"), Tenant: "tenant-a"}
	var mu sync.Mutex
	uploads := 0
	w := s.open(t, func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
		resp, err := next.RoundTrip(r)
		if !isUpload(r) || err != nil {
			return resp, err
		}
		mu.Lock()
		defer mu.Unlock()
		if uploads++; uploads == 2 { // the first renewal, once applied
			resp.Body.Close()
			return nil, errors.New("connection reset after the write")
		}
		return resp, err
	})
	// Renewals every second: on a loaded machine under -race a renewal a
	// few hundred milliseconds late must not expire the lease, or the test
	// fails for the wrong reason.
	l, err := w.Lease(ctx, key, LeaseOptions{RunID: "holder", Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	waitUntil(t, "three renewals after the lost answer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return uploads >= 5 || l.check() != nil
	})
	if err := l.check(); err != nil {
		t.Fatalf("the holder lost its lease to its own renewal: %v", err)
	}
	if h := s.mustLease(t, key); h.Token != l.Holder().Token {
		t.Errorf("lease object names %+v, want the holder", h)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.lease(t, key); ok {
		t.Error("Release left the lease object")
	}
}
