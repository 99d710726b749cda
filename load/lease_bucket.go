package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/credreg/credreg/schemas"
)

// bucketLease creates the slice's lease object if it is absent. A stale
// one (its expiry passed: its holder stopped renewing) is taken over.
//
// On gs:// and azblob:// every step is one conditional request (see
// lease_gcs.go and azure.go): creation only if absent, takeover by
// replacing the stale object only while it is the version (generation,
// ETag) read, renewal only while the object is the version this lease
// last wrote, release by deleting only that version. Of two writers
// taking over one stale lease exactly one wins, a lease renewed in time
// cannot be taken over, and a holder that was taken over learns it at its
// next renewal.
//
// Other buckets (mem://, which is one process anyway, and any other
// driver) have no versions: a takeover deletes the stale object and
// creates it again, and renewal checks that the object still holds this
// lease's token, then rewrites it. Those are a read then a write: two
// writers could both see a stale lease, and the second's delete could
// remove the first's fresh one. The window lasts milliseconds and opens
// only after a holder failed to renew for the whole timeout; the renewal
// that notices another token marks the lease lost, and Commit then
// refuses to publish.
func (w *Warehouse) bucketLease(ctx context.Context, key schemas.Key, h LeaseHolder, opts LeaseOptions) (*Lease, error) {
	obj := leaseObject{bucket: w.bucket, key: w.prefix + leaseDir + "/" + leaseName(key) + ".json", exact: versionsOf(w.bucket) != nil}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultLeaseTimeout
	}
	deadline := time.Now().Add(opts.Wait)
	var gen string
acquire:
	for {
		h.Expires = time.Now().Add(timeout).UTC()
		var err error
		gen, err = obj.create(ctx, h)
		if err == nil {
			break
		}
		if gcerrors.Code(err) != gcerrors.FailedPrecondition {
			return nil, blobError("create lease", obj.key, err)
		}
		cur, curGen, err := obj.read(ctx)
		switch {
		case errors.Is(err, ErrNotFound):
			continue // released meanwhile
		case err == nil && time.Now().After(cur.Expires):
			// Stale: its holder is gone. Take it over.
			gen, err = obj.takeOver(ctx, h, curGen)
			if err == nil {
				break acquire
			}
			if !moved(err) {
				return nil, blobError("take over stale lease", obj.key, err)
			}
			continue // another writer took it over, or its holder woke up
		}
		err = waitOrGiveUp(ctx, key, deadline, pollEvery(opts.Wait), func() error {
			return &LeaseHeldError{Slice: key, Holder: cur}
		})
		if err != nil {
			return nil, err
		}
	}
	r := &renewer{obj: obj, holder: h, gen: gen, every: timeout / 3, timeout: timeout, stop: make(chan struct{}), done: make(chan struct{}),
		validUntil: h.Expires}
	if r.validUntil.IsZero() {
		r.validUntil = time.Now().Add(timeout)
	}
	go r.run()
	return &Lease{
		key:     key,
		holder:  h,
		release: r.release,
		abandon: r.halt,
		lost:    r.lostErr,
		taken:   r.takenErr,
	}, nil
}

// moved reports an error of a conditional request whose object is no
// longer the version it named: rewritten (412) or deleted (404).
func moved(err error) bool {
	c := gcerrors.Code(err)
	return c == gcerrors.FailedPrecondition || c == gcerrors.NotFound
}

// leaseObject is a slice's lease object. When exact (gs://, azblob://),
// each write and delete applies only to the version it names; otherwise
// the versions are "" and writes and deletes are unconditional.
type leaseObject struct {
	bucket *blob.Bucket
	key    string
	exact  bool
}

// versioning makes the writes and deletes of one object conditional on
// its version, each in one request: a generation on gs://, an ETag on
// azblob://. A version is opaque; "" names none.
type versioning interface {
	// beforeWrite returns the context to write with, a
	// WriterOptions.BeforeWrite that applies the write only while the
	// object is version v ("": any, or none with IfNotExist), and a
	// function that tells the version written once the writer closed.
	beforeWrite(ctx context.Context, v string) (context.Context, func(as func(any) bool) error, func() string)
	// beforeDelete is a DeleteOptions.BeforeDelete that deletes only
	// version v.
	beforeDelete(v string) func(as func(any) bool) error
	// readVersion is the version a reader reads.
	readVersion(r *blob.Reader) string
}

// versionsOf is the versioning of b's objects; nil when it has none.
func versionsOf(b *blob.Bucket) versioning {
	switch {
	case hasGenerations(b):
		return gcsVersions{}
	case hasETags(b):
		return azureVersions{}
	}
	return nil
}

// read returns the holder the lease names and the version read.
func (o leaseObject) read(ctx context.Context) (LeaseHolder, string, error) {
	var h LeaseHolder
	r, err := o.bucket.NewReader(ctx, o.key, nil)
	if err != nil {
		return h, "", blobError("read lease", o.key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return h, "", blobError("read lease", o.key, err)
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return h, "", fmt.Errorf("load: read lease %s: %w", o.key, err)
	}
	if !o.exact {
		return h, "", nil
	}
	return h, versionsOf(o.bucket).readVersion(r), nil
}

// create writes the lease only if it is absent; a FailedPrecondition
// error if it is there.
func (o leaseObject) create(ctx context.Context, h LeaseHolder) (string, error) {
	return o.write(ctx, h, "", true)
}

// takeOver replaces a stale lease read at version gen. When exact, the
// replace applies only if the lease is still that version; otherwise the
// stale object is deleted and created again.
func (o leaseObject) takeOver(ctx context.Context, h LeaseHolder, gen string) (string, error) {
	if o.exact {
		return o.write(ctx, h, gen, false)
	}
	if err := o.bucket.Delete(ctx, o.key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return "", err
	}
	return o.create(ctx, h)
}

// write writes h, only if absent when ifAbsent, or when exact only while
// the lease is version gen, and returns the version written.
func (o leaseObject) write(ctx context.Context, h LeaseHolder, gen string, ifAbsent bool) (string, error) {
	data, _ := json.Marshal(h)
	opts := &blob.WriterOptions{ContentType: "application/json", IfNotExist: ifAbsent}
	written := func() string { return "" }
	if o.exact {
		ctx, opts.BeforeWrite, written = versionsOf(o.bucket).beforeWrite(ctx, gen)
	}
	if err := o.bucket.WriteAll(ctx, o.key, data, opts); err != nil {
		return "", err
	}
	v := written()
	if o.exact && v == "" {
		// Without it the next write could not be conditional.
		return "", fmt.Errorf("load: write lease %s: the store did not tell the version written", o.key)
	}
	return v, nil
}

// remove deletes the lease; when exact, only if it is version gen.
func (o leaseObject) remove(ctx context.Context, gen string) error {
	var opts *blob.DeleteOptions
	if o.exact {
		opts = &blob.DeleteOptions{BeforeDelete: versionsOf(o.bucket).beforeDelete(gen)}
	}
	return o.bucket.DeleteWithOptions(ctx, o.key, opts)
}

// renewer keeps a bucket lease fresh until released.
type renewer struct {
	obj     leaseObject
	holder  LeaseHolder
	gen     string // version of the lease last written; only run, then release, use it
	every   time.Duration
	timeout time.Duration

	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu   sync.Mutex
	lost error
	// validUntil is the expiry of the lease as last written: past it (less
	// half a period, for clocks and a publish in flight), another writer
	// may have taken the lease over without this one hearing of it.
	validUntil time.Time
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
// transient failure is not a loss: the next tick tries again, and the
// lease holds until its expiry. Each try gets one period: one that takes
// longer is as good as failed, and must not keep Release waiting.
func (r *renewer) renew() error {
	ctx, cancel := context.WithTimeout(context.Background(), r.every)
	defer cancel()
	h := r.holder
	h.Expires = time.Now().Add(r.timeout).UTC()
	if !r.obj.exact {
		cur, _, err := r.obj.read(ctx)
		if err == nil && cur.Token != r.holder.Token {
			return r.takenOver(cur)
		}
		if errors.Is(err, ErrNotFound) {
			return r.removed()
		}
		if _, err := r.obj.write(ctx, h, "", false); err == nil {
			r.renewed(h.Expires)
		}
		return nil
	}
	gen, err := r.obj.write(ctx, h, r.gen, false)
	if err == nil {
		r.gen = gen
		r.renewed(h.Expires)
		return nil
	}
	if !moved(err) {
		return nil
	}
	// The lease is no longer the version we wrote: see who moved it.
	cur, curGen, err := r.obj.read(ctx)
	switch {
	case errors.Is(err, ErrNotFound):
		return r.removed()
	case err != nil:
		return nil
	case cur.Token == r.holder.Token:
		// Ours: a write whose answer was lost, then retried, landed as
		// another version. Only this lease writes its token.
		r.gen = curGen
		r.renewed(cur.Expires)
		return nil
	}
	return r.takenOver(cur)
}

func (r *renewer) takenOver(cur LeaseHolder) error {
	return fmt.Errorf("load: the lease %s was taken over by run %q (host %s, pid %d) after it went stale", r.obj.key, cur.RunID, cur.Host, cur.PID)
}

func (r *renewer) removed() error {
	return fmt.Errorf("load: the lease %s was removed while held", r.obj.key)
}

func (r *renewer) renewed(until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.validUntil = until
}

// takenErr says why the lease is certainly not ours any more.
func (r *renewer) takenErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lost
}

// lostErr says why the lease is not ours any more, or may not be: lost to
// another writer, or not renewed for so long that it may have been.
func (r *renewer) lostErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost != nil {
		return r.lost
	}
	// A publish begun now must end well before the lease could expire.
	if time.Now().After(r.validUntil.Add(-r.every / 2)) {
		return fmt.Errorf("load: the lease %s could not be renewed; it expires at %s and another writer may take it over",
			r.obj.key, r.validUntil.Format(time.RFC3339))
	}
	return nil
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
	if r.obj.exact {
		if err := r.obj.remove(ctx, r.gen); err != nil && !moved(err) {
			return blobError("release lease", r.obj.key, err)
		}
		return nil // deleted, or gone or taken over: nothing of ours to remove
	}
	cur, _, err := r.obj.read(ctx)
	if err != nil || cur.Token != r.holder.Token {
		return nil // gone or taken over: nothing of ours to remove
	}
	if err := r.obj.remove(ctx, ""); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return blobError("release lease", r.obj.key, err)
	}
	return nil
}
