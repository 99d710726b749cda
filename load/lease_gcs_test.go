package load

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/gcerrors"
	"google.golang.org/api/option"

	"github.com/credreg/credreg/schemas"
)

// The gs:// lease is tested against fake-gcs-server, run in this process
// with no listener. It keeps object generations and checks
// ifGenerationMatch (0 meaning "absent") on every upload, atomically
// under its lock, as GCS does. On deletes it ignores ifGenerationMatch but
// honours the generation named, which is what makes the lease's deletes
// conditional there (see deleteIfGeneration); TestGCSPreconditions checks
// both before the lease tests rely on them.

const gcsTestBucket = "credreg-test"

// fakeGCS starts fake-gcs-server with one empty bucket.
func fakeGCS(t *testing.T) *fakestorage.Server {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", NoListener: true, Writer: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: gcsTestBucket})
	return srv
}

// openGCS opens a warehouse on the fake server's bucket as another process
// would, with a storage client of its own; hook, if not nil, sees each of
// its requests and may hold it.
func openGCS(t *testing.T, srv *fakestorage.Server, hook func(*http.Request, http.RoundTripper) (*http.Response, error)) *Warehouse {
	t.Helper()
	rt := srv.HTTPClient().Transport
	if hook != nil {
		next := rt
		rt = roundTripFunc(func(r *http.Request) (*http.Response, error) { return hook(r, next) })
	}
	c, err := storage.NewClient(context.Background(), option.WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := gcsblob.OpenBucket(context.Background(), nil, gcsTestBucket, &gcsblob.Options{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.Close()
		_ = c.Close()
	})
	return &Warehouse{bucket: b, location: "gs://" + gcsTestBucket}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// gate holds requests while shut.
type gate struct {
	mu   sync.Mutex
	shut chan struct{} // nil while open
}

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut == nil {
		g.shut = make(chan struct{})
	}
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut != nil {
		close(g.shut)
		g.shut = nil
	}
}

// pass waits until the gate is open, or r's context is done.
func (g *gate) pass(r *http.Request) error {
	g.mu.Lock()
	shut := g.shut
	g.mu.Unlock()
	if shut == nil {
		return nil
	}
	select {
	case <-shut:
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	}
}

// openGCSGated opens a warehouse as openGCS does, whose uploads wait for
// uploads to be open.
func openGCSGated(t *testing.T, srv *fakestorage.Server, uploads *gate) *Warehouse {
	t.Helper()
	return openGCS(t, srv, func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
		if isUpload(r) {
			if err := uploads.pass(r); err != nil {
				return nil, err
			}
		}
		return next.RoundTrip(r)
	})
}

func isUpload(r *http.Request) bool { return r.Method == http.MethodPost || r.Method == http.MethodPut }

// gcsLease reads the lease object of key as the server holds it.
func gcsLease(t *testing.T, srv *fakestorage.Server, key schemas.Key) (LeaseHolder, int64) {
	t.Helper()
	obj, err := srv.GetObject(gcsTestBucket, leaseDir+"/"+leaseName(key)+".json")
	if err != nil {
		t.Fatalf("lease object: %v", err)
	}
	var h LeaseHolder
	if err := json.Unmarshal(obj.Content, &h); err != nil {
		t.Fatal(err)
	}
	return h, obj.Generation
}

// gcsStore is the fake's bucket for the shared lease tests.
func gcsStore(srv *fakestorage.Server) exactStore {
	return exactStore{
		open: func(t *testing.T, hook func(*http.Request, http.RoundTripper) (*http.Response, error)) *Warehouse {
			return openGCS(t, srv, hook)
		},
		lease: func(t *testing.T, key schemas.Key) (LeaseHolder, bool) {
			if _, err := srv.GetObject(gcsTestBucket, leaseDir+"/"+leaseName(key)+".json"); err != nil {
				return LeaseHolder{}, false
			}
			h, _ := gcsLease(t, srv, key)
			return h, true
		},
	}
}

// waitUntil polls cond for up to 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !eventually(cond) {
		t.Fatalf("waited 10s for %s", what)
	}
}

// eventually polls cond for up to 10s and reports whether it came true.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// heldThenStale takes the lease of key with a client of its own, then
// holds every upload of that client, so that it cannot renew, until the
// lease's expiry has passed; it returns the lease, released when the test
// ends, and the generation gone stale.
func heldThenStale(t *testing.T, srv *fakestorage.Server, key schemas.Key, runID string, timeout time.Duration, renewals *gate) (*Lease, int64) {
	t.Helper()
	l, err := openGCSGated(t, srv, renewals).Lease(context.Background(), key, LeaseOptions{RunID: runID, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Release() })
	renewals.close()
	var gen int64
	waitUntil(t, "the lease to go stale", func() bool {
		var h LeaseHolder
		h, gen = gcsLease(t, srv, key)
		return time.Now().After(h.Expires.Add(10 * time.Millisecond))
	})
	return l, gen
}

// The fake honours what the lease relies on: creation only if absent,
// a write only under the generation named, and a delete of a generation
// that is no longer the live one refused.
func TestGCSPreconditions(t *testing.T) {
	srv := fakeGCS(t)
	w := openGCS(t, srv, nil)
	if !hasGenerations(w.bucket) || hasGenerations(openTest(t, "mem://").bucket) {
		t.Fatal("hasGenerations must be true on gcsblob and false on mem://")
	}
	ctx := context.Background()
	obj := leaseObject{bucket: w.bucket, key: leaseDir + "/probe.json", exact: true}
	g1, err := obj.create(ctx, LeaseHolder{RunID: "one"})
	if err != nil || g1 == "" {
		t.Fatalf("create = %q, %v; want a generation", g1, err)
	}
	if _, err := obj.create(ctx, LeaseHolder{RunID: "two"}); gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Fatalf("create of a present object = %v, want FailedPrecondition", err)
	}
	if h, g, err := obj.read(ctx); err != nil || g != g1 || h.RunID != "one" {
		t.Fatalf("read = %+v, %q, %v; want one at generation %q", h, g, err, g1)
	}
	g2, err := obj.write(ctx, LeaseHolder{RunID: "two"}, g1, false)
	if err != nil || g2 == g1 || g2 == "" {
		t.Fatalf("write under the live generation = %q, %v; want a new generation", g2, err)
	}
	if _, err := obj.write(ctx, LeaseHolder{RunID: "three"}, g1, false); gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Fatalf("write under a past generation = %v, want FailedPrecondition", err)
	}
	if err := obj.remove(ctx, g1); !moved(err) {
		t.Fatalf("delete of a past generation = %v, want it refused", err)
	}
	if h, g, err := obj.read(ctx); err != nil || g != g2 || h.RunID != "two" {
		t.Fatalf("after the refused writes read = %+v, %q, %v; want two at generation %q", h, g, err, g2)
	}
	if err := obj.remove(ctx, g2); err != nil {
		t.Fatalf("delete of the live generation: %v", err)
	}
	if _, _, err := obj.read(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read after delete = %v, want ErrNotFound", err)
	}
}

// Two writers that both read one stale lease, then both take it over:
// exactly one wins, and the other is told who holds it.
func TestGCSLeaseTakeoverRace(t *testing.T) { testLeaseTakeoverRace(t, gcsStore(fakeGCS(t))) }

// A writer that read a lease as stale cannot take it over once its
// holder renewed it: the renewal moved the generation it read.
func TestGCSLeaseRenewedCannotBeStolen(t *testing.T) {
	srv := fakeGCS(t)
	ctx := context.Background()
	key := schemas.Key{Date: day("2026-02-03"), Tenant: "tenant-r"}
	var renewals gate
	holder, staleGen := heldThenStale(t, srv, key, "holder", 1500*time.Millisecond, &renewals)

	// The thief reads the stale lease; before it acts, the holder renews.
	thiefRead := make(chan struct{})
	renewed := false
	var once sync.Once
	thiefW := openGCS(t, srv, func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
		resp, err := next.RoundTrip(r)
		if r.Method == http.MethodGet {
			once.Do(func() {
				renewals.open()
				renewed = eventually(func() bool {
					obj, err := srv.GetObject(gcsTestBucket, leaseDir+"/"+leaseName(key)+".json")
					return err == nil && obj.Generation != staleGen
				})
				close(thiefRead)
			})
		}
		return resp, err
	})
	_, err := thiefW.Lease(ctx, key, LeaseOptions{RunID: "thief", Timeout: 1500 * time.Millisecond})
	select {
	case <-thiefRead:
	default:
		t.Fatal("the thief never read the stale lease")
	}
	if !renewed {
		t.Fatal("the holder did not renew within 10s once let through")
	}
	if !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("the thief's Lease = %v, want ErrLeaseHeld", err)
	}
	if h, _ := gcsLease(t, srv, key); h.Token != holder.Holder().Token {
		t.Errorf("lease object names %+v, want the holder", h)
	}
	if err := holder.check(); err != nil {
		t.Errorf("the holder lost its renewed lease: %v", err)
	}
}

// A holder that could not renew in time, and whose lease was taken over,
// learns it at its next renewal, which leaves the new holder's lease
// alone; so does its Release.
func TestGCSLeaseLostAtRenewal(t *testing.T) {
	srv := fakeGCS(t)
	ctx := context.Background()
	key := schemas.Key{Date: day("2026-02-03"), Tenant: "tenant-t"}
	var renewals gate
	first, _ := heldThenStale(t, srv, key, "first", 600*time.Millisecond, &renewals)
	second, err := openGCS(t, srv, nil).Lease(ctx, key, LeaseOptions{RunID: "second", Timeout: time.Minute})
	if err != nil {
		t.Fatalf("Lease of a stale lease: %v", err)
	}
	defer second.Release()
	renewals.open()
	// Stalled, it first says its lease may be lost; once its renewal gets
	// through, it names who took it.
	waitUntil(t, "the first holder to learn it lost the lease", func() bool {
		err := first.check()
		return err != nil && strings.Contains(err.Error(), `"second"`)
	})
	if err := first.check(); !strings.Contains(err.Error(), `"second"`) {
		t.Errorf("check = %v, want the lease reported taken over by second", err)
	}
	if h, _ := gcsLease(t, srv, key); h.Token != second.Holder().Token {
		t.Errorf("after the first holder's renewal the lease names %+v, want second", h)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	if h, _ := gcsLease(t, srv, key); h.Token != second.Holder().Token {
		t.Errorf("after the first holder's Release the lease names %+v, want second", h)
	}
}

// A renewal that GCS applied but whose answer was lost leaves the lease
// at a generation its holder did not see: the next renewal is refused,
// and the holder, finding its own token there, carries on.
func TestGCSLeaseRenewalAnswerLost(t *testing.T) { testLeaseRenewalAnswerLost(t, gcsStore(fakeGCS(t))) }

// A holder whose renewals keep failing (a partition, a paused VM) cannot
// know whether another writer took its lease once it expires: before
// then, check — and so Commit, before each object — refuses.
func TestGCSLeaseUnrenewedIsNotTrusted(t *testing.T) {
	srv := fakeGCS(t)
	ctx := context.Background()
	key := schemas.Key{Date: day("2026-02-03"), Tenant: "tenant-u"}
	var mu sync.Mutex
	uploads := 0
	w := openGCS(t, srv, func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
		if isUpload(r) {
			mu.Lock()
			uploads++
			n := uploads
			mu.Unlock()
			if n > 1 { // every renewal
				return nil, errors.New("network unreachable")
			}
		}
		return next.RoundTrip(r)
	})
	l, err := w.Lease(ctx, key, LeaseOptions{RunID: "partitioned", Timeout: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := l.check(); err != nil {
		t.Fatalf("a fresh lease: %v", err)
	}
	waitUntil(t, "the unrenewed lease to be distrusted", func() bool { return l.check() != nil })
	if err := l.check(); !strings.Contains(err.Error(), "could not be renewed") {
		t.Errorf("check = %v", err)
	}
}
