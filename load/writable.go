package load

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
)

// ErrNotWritable reports that a warehouse cannot be written; the errors
// of CheckWritable wrap it.
var ErrNotWritable = errors.New("not writable")

// CheckWritable proves that the warehouse can be written, so that a run
// can find out before it asks Graph for anything:
//
//   - on a local warehouse, it creates the folder and its _staging folder
//     if they are missing (a run would create them anyway), then creates,
//     renames and removes a file in _staging, which is what publishing
//     does with every Parquet file;
//   - on other buckets, it writes a tiny object under <w>/_staging/ and
//     deletes it: replacing an object, as a rerun does, needs both rights
//     on GCS. Readers and Hive-style tools skip _staging.
//
// Then it proves that Begin can take a slice's lease: on a local
// warehouse it creates _leases if missing and creates and removes a file
// in it; on other buckets it writes and deletes a tiny object under
// <w>/_leases/. A Sub takes no lease, so its check skips this.
//
// It leaves no file behind, except when it cannot remove its own probe,
// which it then reports. A probe left by a killed process sits in
// _staging, where a local Begin sweeps it once stale, or in _leases,
// where its name (not a slice's) makes it no lease.
//
// The error is one line naming the warehouse (as String shows it), the
// step that failed and the cause, and wraps ErrNotWritable and the cause
// (so errors.Is(err, fs.ErrPermission) works too). A ctx done before or
// during the check is reported as such, not as ErrNotWritable.
func (w *Warehouse) CheckWritable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("load: check that warehouse %s is writable: %w", w.location, err)
	}
	name := "checkwritable-" + randomHex() + ".tmp"
	if w.root != "" {
		if err := w.checkFolderWritable(name); err != nil || w.shared {
			return err
		}
		return w.checkFolderLeases(name)
	}
	if err := w.checkBucketWritable(ctx, stagingDir, name); err != nil || w.shared {
		return err
	}
	return w.checkBucketWritable(ctx, leaseDir, name)
}

func (w *Warehouse) checkFolderWritable(name string) error {
	if err := os.MkdirAll(w.root, 0o777); err != nil {
		return w.notWritable("create the folder", err)
	}
	dir := filepath.Join(w.root, stagingDir)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return w.notWritable("create "+stagingDir, err)
	}
	probe := filepath.Join(dir, name)
	f, err := os.OpenFile(probe, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return w.notWritable("create a file in "+stagingDir, err)
	}
	_, err = f.Write([]byte("credreg"))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(probe)
		return w.notWritable("write a file in "+stagingDir, err)
	}
	renamed := strings.TrimSuffix(probe, ".tmp") + "-renamed.tmp"
	if err := os.Rename(probe, renamed); err != nil {
		_ = os.Remove(probe)
		return w.notWritable("rename a file in "+stagingDir, err)
	}
	if err := os.Remove(renamed); err != nil {
		return w.notWritable("remove a file from "+stagingDir, err)
	}
	return nil
}

// checkFolderLeases proves that a local lease can be taken: its folder
// created and a lock file made in it (lock files are never removed, but
// this one is no slice's).
func (w *Warehouse) checkFolderLeases(name string) error {
	dir := filepath.Join(w.root, leaseDir)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return w.notWritable("create "+leaseDir, err)
	}
	probe := filepath.Join(dir, name)
	f, err := os.OpenFile(probe, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return w.notWritable("create a file in "+leaseDir, err)
	}
	_ = f.Close()
	if err := os.Remove(probe); err != nil {
		return w.notWritable("remove a file from "+leaseDir, err)
	}
	return nil
}

// checkBucketWritable writes the object name under dir and deletes it.
func (w *Warehouse) checkBucketWritable(ctx context.Context, dir, name string) error {
	key := w.prefix + dir + "/" + name
	err := w.bucket.WriteAll(ctx, key, []byte("credreg"), &blob.WriterOptions{ContentType: "text/plain"})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("load: check that warehouse %s is writable: %w", w.location, ctx.Err())
		}
		return w.notWritable("write an object in "+dir, err)
	}
	// Delete even if ctx is done by now: the probe is ours to remove.
	if err := w.bucket.Delete(context.WithoutCancel(ctx), key); err != nil {
		return w.notWritable("delete the object "+key+" it wrote", err)
	}
	return nil
}

func (w *Warehouse) notWritable(step string, err error) error {
	return &notWritableError{location: w.location, step: step, err: err}
}

// notWritableError keeps the whole cause for errors.Is and As, but says
// only its gist, on one line: an *fs.PathError would repeat a path under
// the location, and a store's message may span lines.
type notWritableError struct {
	location string
	step     string
	err      error
}

func (e *notWritableError) Error() string {
	cause := e.err
	var pathErr *fs.PathError
	var linkErr *os.LinkError
	switch {
	case errors.As(cause, &pathErr):
		cause = pathErr.Err
	case errors.As(cause, &linkErr):
		cause = linkErr.Err
	}
	return fmt.Sprintf("load: warehouse %s is %s: %s: %s", e.location, ErrNotWritable, e.step, strings.Join(strings.Fields(cause.Error()), " "))
}

func (e *notWritableError) Unwrap() []error { return []error{ErrNotWritable, e.err} }
