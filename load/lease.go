package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/credreg/credreg/schemas"
)

// leaseDir holds the leases of a warehouse's slices. Its leading
// underscore keeps Hive-style readers out; its files are never removed
// (see localLease).
const leaseDir = "_leases"

// DefaultLeaseTimeout is how long the lease object of a slice on a bucket
// stays valid without being renewed. Its holder renews it every third of
// that, so only a writer that is gone (or cut off for that long) lets it
// go stale.
const DefaultLeaseTimeout = 2 * time.Minute

// ErrLeaseHeld reports that another writer holds the lease of a slice; a
// *LeaseHeldError says which.
var ErrLeaseHeld = errors.New("the slice is being written by another writer")

// ErrPublishedBut: CommitWith published the slice, and a step after it
// (WriterOptions.AfterPublish, releasing the lease) failed; the FileInfo
// it returns are valid.
var ErrPublishedBut = errors.New("a step after the publish failed")

// LeaseHolder is who holds a slice's lease, as recorded in the lease.
type LeaseHolder struct {
	Host  string    `json:"host"`
	PID   int       `json:"pid"`
	RunID string    `json:"run_id"`
	Since time.Time `json:"since"` // UTC
	// Expires is when a bucket lease goes stale unless renewed; zero for
	// a local lease, which the OS releases when its process dies.
	Expires time.Time `json:"expires,omitzero"`
	// Token tells this holder's lease from a later one of the same run.
	Token string `json:"token,omitempty"`
}

// LeaseHeldError is the error of a lease that another writer holds. It
// matches ErrLeaseHeld with errors.Is.
type LeaseHeldError struct {
	Slice  schemas.Key
	Holder LeaseHolder // zero when the holder's record could not be read
}

func (e *LeaseHeldError) Error() string {
	h := e.Holder
	slice := e.Slice.DateString() + "/" + e.Slice.Tenant
	if h.RunID == "" && h.Host == "" {
		return fmt.Sprintf("load: slice %s is being written by another writer (its lease names no holder yet)", slice)
	}
	return fmt.Sprintf("load: slice %s is being written by run %q (host %s, pid %d, since %s)",
		slice, h.RunID, h.Host, h.PID, h.Since.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrLeaseHeld) true.
func (e *LeaseHeldError) Is(target error) bool { return target == ErrLeaseHeld }

// LeaseOptions tunes Warehouse.Lease. The zero value fails at once if the
// lease is held.
type LeaseOptions struct {
	// RunID is recorded in the lease, so that the writer refused can say
	// which run holds the slice.
	RunID string
	// Wait is how long to wait for a held lease, polling; 0 means fail at
	// once with a *LeaseHeldError.
	Wait time.Duration
	// Timeout is how long a bucket lease stays valid without renewal; 0
	// means DefaultLeaseTimeout. Local leases ignore it.
	Timeout time.Duration
}

// Lease is one writer's exclusive right to write a slice. Release it when
// the slice is written; it is safe to call Release more than once.
type Lease struct {
	key    schemas.Key
	holder LeaseHolder

	once    sync.Once
	err     error
	release func() error
	// abandon drops the lease the way a killed process does: without
	// clearing its record. Only crash tests call it.
	abandon func()
	// lost reports why the lease is no longer ours, or may not be (not
	// renewed in time); nil while it is. taken reports only a certain
	// loss: another writer took it, or it was removed.
	lost  func() error
	taken func() error
}

// Holder is the record this lease wrote.
func (l *Lease) Holder() LeaseHolder { return l.holder }

// Release gives the lease up. On a bucket it stops renewing and deletes
// the lease object if it is still this lease's.
func (l *Lease) Release() error {
	if l == nil {
		return nil
	}
	l.once.Do(func() { l.err = l.release() })
	return l.err
}

// check reports an error if the lease was taken over; Commit calls it
// before publishing anything.
func (l *Lease) check() error {
	if l == nil || l.lost == nil {
		return nil
	}
	return l.lost()
}

// checkTaken reports only a certain loss of the lease: what stops a
// publish already under way, which a lease merely late to renew must not.
func (l *Lease) checkTaken() error {
	if l == nil || l.taken == nil {
		return nil
	}
	return l.taken()
}

func (l *Lease) drop() {
	if l != nil {
		l.once.Do(l.abandon)
	}
}

// Lease takes the lease of a slice: no other writer of the warehouse can
// take it until Release, so two processes never write the same slice at
// once. Begin takes it for every SliceWriter of a warehouse opened with
// OpenWarehouse; a command that rewrites a slice without a SliceWriter,
// such as a migration, takes it itself.
//
//   - On a local warehouse the lease is an exclusive lock (flock) on
//     <warehouse>/_leases/<date>_<tenant>.lock, which holds the holder's
//     record. The OS releases the lock when its process dies, so a crash
//     never strands a slice.
//   - On other buckets it is the object _leases/<date>_<tenant>.json,
//     created only if absent, holding the holder's record and an expiry.
//     The holder renews it every Timeout/3; one whose expiry has passed is
//     stale and the next writer takes it over. On gs:// every write and
//     delete of it is conditional on the object's generation, so two
//     writers never both hold it; elsewhere a renewal reads then writes
//     (see the package doc).
//
// A held lease is reported as a *LeaseHeldError (errors.Is ErrLeaseHeld),
// after waiting up to opts.Wait for it to be released.
func (w *Warehouse) Lease(ctx context.Context, key schemas.Key, opts LeaseOptions) (*Lease, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	if opts.Wait < 0 || opts.Timeout < 0 {
		return nil, fmt.Errorf("load: lease options: Wait %s and Timeout %s must not be negative", opts.Wait, opts.Timeout)
	}
	host, _ := os.Hostname()
	h := LeaseHolder{Host: host, PID: os.Getpid(), RunID: opts.RunID, Since: time.Now().UTC().Truncate(time.Second), Token: randomHex()}
	if w.root != "" {
		if err := checkLocalTenant(key); err != nil {
			return nil, err
		}
		return w.localLease(ctx, key, h, opts)
	}
	return w.bucketLease(ctx, key, h, opts)
}

// leaseName names a slice's lease; validateKey keeps it one file name.
func leaseName(key schemas.Key) string { return key.DateString() + "_" + key.Tenant }

// pollEvery is how often a waiting writer tries again: often enough that
// a short wait is not mostly sleep, rarely enough not to hammer a bucket.
func pollEvery(wait time.Duration) time.Duration {
	return min(max(wait/20, 10*time.Millisecond), time.Second)
}

// waitOrGiveUp sleeps before the next try, or reports that the caller must
// give up: the deadline passed (held) or ctx is done.
func waitOrGiveUp(ctx context.Context, key schemas.Key, deadline time.Time, poll time.Duration, held func() error) error {
	if !time.Now().Before(deadline) {
		return held()
	}
	t := time.NewTimer(min(poll, time.Until(deadline)+time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("load: wait for the lease of slice %s/%s: %w", key.DateString(), key.Tenant, ctx.Err())
	case <-t.C:
		return nil
	}
}

// localLease locks the slice's lock file. The file is never removed: a
// process that removed it on release could let a waiter lock the old
// file while a newcomer locks a new one, both believing they hold it.
func (w *Warehouse) localLease(ctx context.Context, key schemas.Key, h LeaseHolder, opts LeaseOptions) (*Lease, error) {
	dir := filepath.Join(w.root, leaseDir)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("load: lease %s/%s: %w", key.DateString(), key.Tenant, err)
	}
	p := filepath.Join(dir, leaseName(key)+".lock")
	fl := flock.New(p, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o666))
	deadline := time.Now().Add(opts.Wait)
	for {
		ok, err := fl.TryLock()
		if err != nil {
			return nil, fmt.Errorf("load: lease %s/%s: %w", key.DateString(), key.Tenant, err)
		}
		if ok {
			break
		}
		err = waitOrGiveUp(ctx, key, deadline, pollEvery(opts.Wait), func() error {
			return &LeaseHeldError{Slice: key, Holder: readLocalHolder(p)}
		})
		if err != nil {
			return nil, err
		}
	}
	data, _ := json.Marshal(h)
	// A separate descriptor: the lock belongs to fl's, which stays open.
	if err := os.WriteFile(p, data, 0o666); err != nil {
		_ = fl.Close()
		return nil, fmt.Errorf("load: lease %s/%s: record the holder: %w", key.DateString(), key.Tenant, err)
	}
	return &Lease{
		key:    key,
		holder: h,
		release: func() error {
			_ = os.Truncate(p, 0) // no holder any more; best effort
			return fl.Close()
		},
		abandon: func() { _ = fl.Close() },
	}, nil
}

// readLocalHolder reads the holder recorded in a lock file; the zero
// holder if it is empty or being written.
func readLocalHolder(p string) LeaseHolder {
	var h LeaseHolder
	if data, err := os.ReadFile(p); err == nil {
		_ = json.Unmarshal(data, &h)
	}
	return h
}
