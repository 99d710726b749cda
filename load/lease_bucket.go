package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/credreg/credreg/schemas"
)

// bucketLease creates the slice's lease object if it is absent. A stale
// one (its expiry passed: its holder stopped renewing) is deleted and the
// creation tried again.
//
// Renewal rewrites the object after checking that it still holds this
// lease's token. That is a read then a write, not one conditional write:
// two writers could both see a stale lease, and the second's delete could
// remove the first's fresh one. Both windows last milliseconds and open
// only after a holder failed to renew for the whole timeout; the renewal
// that notices another token marks the lease lost, and Commit then
// refuses to publish. (A generation precondition on gs:// would close the
// window; it is not done yet.)
func (w *Warehouse) bucketLease(ctx context.Context, key schemas.Key, h LeaseHolder, opts LeaseOptions) (*Lease, error) {
	k := w.prefix + leaseDir + "/" + leaseName(key) + ".json"
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultLeaseTimeout
	}
	deadline := time.Now().Add(opts.Wait)
	for {
		h.Expires = time.Now().Add(timeout).UTC()
		data, _ := json.Marshal(h)
		err := w.bucket.WriteAll(ctx, k, data, &blob.WriterOptions{ContentType: "application/json", IfNotExist: true})
		if err == nil {
			break
		}
		if gcerrors.Code(err) != gcerrors.FailedPrecondition {
			return nil, blobError("create lease", k, err)
		}
		cur, err := w.readBucketHolder(ctx, k)
		switch {
		case errors.Is(err, ErrNotFound):
			continue // released meanwhile
		case err == nil && time.Now().After(cur.Expires):
			// Stale: its holder is gone. Take it over.
			if err := w.bucket.Delete(ctx, k); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
				return nil, blobError("take over stale lease", k, err)
			}
			continue
		}
		err = waitOrGiveUp(ctx, key, deadline, pollEvery(opts.Wait), func() error {
			return &LeaseHeldError{Slice: key, Holder: cur}
		})
		if err != nil {
			return nil, err
		}
	}
	r := &renewer{w: w, objKey: k, holder: h, every: timeout / 3, timeout: timeout, stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return &Lease{
		key:     key,
		holder:  h,
		release: r.release,
		abandon: r.halt,
		lost:    r.lostErr,
	}, nil
}

func (w *Warehouse) readBucketHolder(ctx context.Context, k string) (LeaseHolder, error) {
	var h LeaseHolder
	data, err := w.bucket.ReadAll(ctx, k)
	if err != nil {
		return h, blobError("read lease", k, err)
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return h, fmt.Errorf("load: read lease %s: %w", k, err)
	}
	return h, nil
}

// renewer keeps a bucket lease fresh until released.
type renewer struct {
	w       *Warehouse
	objKey  string
	holder  LeaseHolder
	every   time.Duration
	timeout time.Duration

	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu   sync.Mutex
	lost error
}

func (r *renewer) run() {
	defer close(r.done)
	tick := time.NewTicker(r.every)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
			if err := r.renew(); err != nil {
				r.mu.Lock()
				r.lost = err
				r.mu.Unlock()
				return
			}
		}
	}
}

// renew rewrites the lease with a later expiry if it is still ours. A
// transient failure to write is not a loss: the next tick tries again, and
// the lease holds until its expiry.
func (r *renewer) renew() error {
	ctx := context.Background()
	cur, err := r.w.readBucketHolder(ctx, r.objKey)
	if err == nil && cur.Token != r.holder.Token {
		return fmt.Errorf("load: the lease %s was taken over by run %q (host %s, pid %d) after it went stale", r.objKey, cur.RunID, cur.Host, cur.PID)
	}
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("load: the lease %s was removed while held", r.objKey)
	}
	h := r.holder
	h.Expires = time.Now().Add(r.timeout).UTC()
	data, _ := json.Marshal(h)
	_ = r.w.bucket.WriteAll(ctx, r.objKey, data, &blob.WriterOptions{ContentType: "application/json"})
	return nil
}

func (r *renewer) lostErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lost
}

func (r *renewer) halt() {
	r.once.Do(func() {
		close(r.stop)
		<-r.done
	})
}

// release stops renewing and deletes the lease if it is still ours.
func (r *renewer) release() error {
	r.halt()
	ctx := context.Background()
	cur, err := r.w.readBucketHolder(ctx, r.objKey)
	if err != nil || cur.Token != r.holder.Token {
		return nil // gone or taken over: nothing of ours to remove
	}
	if err := r.w.bucket.Delete(ctx, r.objKey); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return blobError("release lease", r.objKey, err)
	}
	return nil
}
