package load

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/credreg/credreg/schemas"
)

// A second writer of a slice is refused at Begin, before it stages
// anything, with an error naming the first; it gets the slice once the
// first ends it, at once or by waiting.
func TestLeaseOneWriterPerSlice(t *testing.T) {
	for _, b := range rootBackends {
		t.Run(b.name, func(t *testing.T) {
			w, _ := b.open(t)
			ctx := context.Background()
			key := schemas.Key{Date: day("2026-02-03"), Tenant: "tenant-l"}
			first, err := w.Begin(ctx, key, "run-first", WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer first.Abort()

			_, err = w.Begin(ctx, key, "run-second", WriterOptions{})
			var held *LeaseHeldError
			if !errors.Is(err, ErrLeaseHeld) || !errors.As(err, &held) {
				t.Fatalf("second Begin = %v, want a *LeaseHeldError", err)
			}
			host, _ := os.Hostname()
			if h := held.Holder; h.RunID != "run-first" || h.PID != os.Getpid() || h.Host != host || h.Since.IsZero() {
				t.Errorf("holder = %+v, want run-first on %s, pid %d, with its start", h, host, os.Getpid())
			}
			msg := err.Error()
			for _, want := range []string{"2026-02-03/tenant-l", `"run-first"`, host, "since "} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not name %s", msg, want)
				}
			}
			if strings.Contains(msg, "\n") || strings.Contains(msg, "--") {
				t.Errorf("error %q is not one line free of flag names", msg)
			}

			// Another slice is another lease.
			other, err := w.Begin(ctx, schemas.Key{Date: key.Date, Tenant: "tenant-m"}, "run-second", WriterOptions{})
			if err != nil {
				t.Fatalf("Begin of another slice: %v", err)
			}
			other.Abort()

			// A writer that waits gets the slice once the first commits.
			go func() {
				time.Sleep(50 * time.Millisecond)
				if _, err := first.Commit(ctx); err != nil {
					t.Errorf("Commit: %v", err)
				}
			}()
			second, err := w.Begin(ctx, key, "run-second", WriterOptions{LockWait: time.Minute})
			if err != nil {
				t.Fatalf("Begin waiting for the lease: %v", err)
			}
			second.Abort()
			third, err := w.Begin(ctx, key, "run-third", WriterOptions{})
			if err != nil {
				t.Fatalf("Begin after Abort released the lease: %v", err)
			}
			third.Abort()
		})
	}
}

// A writer that waits gives up after LockWait, and when its ctx is done.
func TestLeaseWaitGivesUp(t *testing.T) {
	for _, b := range rootBackends {
		t.Run(b.name, func(t *testing.T) {
			w, _ := b.open(t)
			key := schemas.Key{Date: day("2026-02-03"), Tenant: "tenant-w"}
			l, err := w.Lease(context.Background(), key, LeaseOptions{RunID: "holder"})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release()
			start := time.Now()
			_, err = w.Lease(context.Background(), key, LeaseOptions{RunID: "waiter", Wait: 100 * time.Millisecond})
			if !errors.Is(err, ErrLeaseHeld) {
				t.Errorf("Lease after waiting = %v, want ErrLeaseHeld", err)
			}
			if waited := time.Since(start); waited < 100*time.Millisecond {
				t.Errorf("gave up after %s, before the 100ms wait", waited)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err = w.Lease(ctx, key, LeaseOptions{RunID: "waiter", Wait: time.Minute})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Lease with a cancelled ctx = %v, want context.Canceled", err)
			}
		})
	}
}

// A Sub is run-unique and takes no lease: two writers of one of its
// slices do not exclude each other, nor a writer of the parent's slice.
func TestSubTakesNoLease(t *testing.T) {
	for _, b := range rootBackends {
		t.Run(b.name, func(t *testing.T) {
			w, _ := b.open(t)
			sub := subTest(t, w, "_failed/run_id=r1")
			ctx := context.Background()
			key := schemas.Key{Date: day("2026-02-03"), Tenant: "tenant-s"}
			parent, err := w.Begin(ctx, key, "r1", WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer parent.Abort()
			for range 2 {
				s, err := sub.Begin(ctx, key, "r1", WriterOptions{})
				if err != nil {
					t.Fatalf("Begin in the Sub: %v", err)
				}
				defer s.Abort()
			}
		})
	}
}

// On a bucket the lease is renewed while held, and a stale one — its
// holder stopped renewing, as a killed process does — is taken over.
func TestBucketLeaseRenewedThenTakenOver(t *testing.T) {
	w := openTest(t, "mem://")
	ctx := context.Background()
	key := schemas.Key{Date: day("2026-02-03"), Tenant: "tenant-b"}
	const timeout = 1500 * time.Millisecond
	first, err := w.Lease(ctx, key, LeaseOptions{RunID: "first", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(timeout * 3 / 2) // past the first expiry: only renewal keeps it
	if _, err := w.Lease(ctx, key, LeaseOptions{RunID: "second", Timeout: timeout}); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("Lease of a renewed lease = %v, want ErrLeaseHeld", err)
	}
	first.drop() // stops renewing, leaves the object: a killed holder
	second, err := w.Lease(ctx, key, LeaseOptions{RunID: "second", Timeout: timeout, Wait: 3 * timeout})
	if err != nil {
		t.Fatalf("Lease of a stale lease: %v", err)
	}
	data, err := w.bucket.ReadAll(ctx, leaseDir+"/"+leaseName(key)+".json")
	if err != nil {
		t.Fatal(err)
	}
	var h LeaseHolder
	if err := json.Unmarshal(data, &h); err != nil || h.RunID != "second" || h.Expires.IsZero() {
		t.Errorf("lease object = %s (%v), want second's record with an expiry", data, err)
	}
	if err := second.Release(); err != nil {
		t.Fatal(err)
	}
	if got := objects(t, w); len(got) != 0 {
		t.Errorf("after Release the bucket holds %v", got)
	}
	if ok, _ := w.bucket.Exists(ctx, leaseDir+"/"+leaseName(key)+".json"); ok {
		t.Error("Release left the lease object")
	}
}

// A holder whose lease was taken over finds out at its next renewal, and
// Commit then refuses to publish.
func TestBucketLeaseLost(t *testing.T) {
	w := openTest(t, "mem://")
	ctx := context.Background()
	key := schemas.Key{Date: day("2026-02-03"), Tenant: "tenant-b"}
	l, err := w.Lease(ctx, key, LeaseOptions{RunID: "first", Timeout: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	other, _ := json.Marshal(LeaseHolder{RunID: "intruder", Token: "other", Expires: time.Now().Add(time.Hour)})
	if err := w.bucket.WriteAll(ctx, leaseDir+"/"+leaseName(key)+".json", other, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.check() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := l.check(); err == nil || !strings.Contains(err.Error(), "intruder") {
		t.Errorf("check = %v, want the lease reported taken over by intruder", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := w.bucket.Exists(ctx, leaseDir+"/"+leaseName(key)+".json"); !ok {
		t.Error("Release of a lost lease removed the new holder's lease")
	}
}

// The OS releases a local lease with its descriptor, and the lock file
// keeps no holder once released.
func TestLocalLeaseReleased(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, dir)
	key := schemas.Key{Date: day("2026-02-03"), Tenant: "tenant-f"}
	l, err := w.Lease(context.Background(), key, LeaseOptions{RunID: "one"})
	if err != nil {
		t.Fatal(err)
	}
	p := dir + "/" + leaseDir + "/" + leaseName(key) + ".lock"
	if h := readLocalHolder(p); h.RunID != "one" {
		t.Errorf("lock file names %+v, want run one", h)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if h := readLocalHolder(p); h != (LeaseHolder{}) {
		t.Errorf("released lock file still names %+v", h)
	}
	l2, err := w.Lease(context.Background(), key, LeaseOptions{RunID: "two"})
	if err != nil {
		t.Fatalf("Lease after Release: %v", err)
	}
	l2.drop() // as a killed process: the lock goes, the record stays
	l3, err := w.Lease(context.Background(), key, LeaseOptions{RunID: "three"})
	if err != nil {
		t.Fatalf("Lease after the holder died: %v", err)
	}
	l3.Release()
}

// Reset throws away what was written and keeps the slice's lease: nobody
// gets in between, and only what was written after it is published.
func TestResetKeepsTheLease(t *testing.T) {
	for _, b := range rootBackends {
		t.Run(b.name, func(t *testing.T) {
			w, _ := b.open(t)
			ctx := context.Background()
			key := schemas.Key{Date: day("2026-02-04"), Tenant: "tenant-r"}
			s, err := w.Begin(ctx, key, "run-reset", WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Abort()
			mem := checkedAllocator(t)
			first := makeSlice(key, "run-reset", 50, 1, 1).records(mem, 20)
			writeAll(t, ctx, s, first)
			release(first)
			if err := s.Reset(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Lease(ctx, key, LeaseOptions{RunID: "intruder"}); !errors.Is(err, ErrLeaseHeld) {
				t.Fatalf("a lease taken after Reset: %v; the writer must keep it", err)
			}
			second := makeSlice(key, "run-reset", 7, 0, 2).records(mem, 20)
			writeAll(t, ctx, s, second)
			release(second)
			infos, err := s.Commit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if infos[0].Rows != 7 || infos[2].Rows != 0 {
				t.Errorf("published %d users and %d rejects; want only what came after Reset (7, 0)", infos[0].Rows, infos[2].Rows)
			}
			tab, err := w.ReadSlice(ctx, schemas.UserRegistrationDetailsTable, key)
			if err != nil {
				t.Fatal(err)
			}
			defer tab.Release()
			if tab.NumRows() != 7 {
				t.Errorf("read back %d users, want 7", tab.NumRows())
			}
		})
	}
}
