package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"

	"github.com/credreg/credreg/schemas"
)

// stagingDir is where a local warehouse keeps the Parquet files of slices
// being written. It is inside the root, so on the partitions' filesystem
// and publishing is a rename; Spark and Hive skip folders whose name starts
// with an underscore, and the files' .tmp suffix keeps them out of
// *.parquet globs.
const stagingDir = "_staging"

// stagedObject holds a table's Parquet bytes where no reader looks until
// Commit publishes them under the file's final key. tableFile writes to it
// without caring which kind it is.
type stagedObject interface {
	io.Writer
	// seal makes what was written durable. Commit seals every file of the
	// slice before publishing the first, so that the publishes follow one
	// another with nothing slow in between.
	seal() error
	// publish replaces the slice's previous file with the staged one,
	// atomically.
	publish() error
	// discard drops the staged bytes and leaves the previous file as it
	// was. It is not called after a successful publish.
	discard()
}

// blobObject stages in a blob writer at the final key: gocloud publishes
// the object only when the writer is closed, and discards it when the
// writer's context is cancelled first. That is how gs:// and mem://
// replace an object atomically. (fileblob does it with a temporary file
// beside the target, where Hive-style readers could see it; local
// warehouses use stagedFile instead.)
type blobObject struct {
	w      *blob.Writer
	cancel context.CancelFunc // makes Close discard
	key    string
}

func openBlobObject(ctx context.Context, b *blob.Bucket, key string) (*blobObject, error) {
	ctx, cancel := context.WithCancel(ctx)
	w, err := b.NewWriter(ctx, key, &blob.WriterOptions{ContentType: parquetContentType})
	if err != nil {
		cancel()
		return nil, blobError("create", key, err)
	}
	return &blobObject{w: w, cancel: cancel, key: key}, nil
}

func (o *blobObject) Write(p []byte) (int, error) { return o.w.Write(p) }

// seal has nothing to do: closing the writer both completes the upload and
// publishes it.
func (o *blobObject) seal() error { return nil }

func (o *blobObject) publish() error {
	defer o.cancel() // releases the context; the object is already out
	if err := o.w.Close(); err != nil {
		return blobError("publish", o.key, err)
	}
	return nil
}

func (o *blobObject) discard() {
	o.cancel()
	_ = o.w.Close() // reports the cancellation; nothing to act on
}

// stagedFile stages in a real file under <root>/_staging and publishes it
// by renaming it onto the partition's file, which replaces the previous
// file atomically. A process killed before Commit leaves nothing inside
// the partitions, only a file in _staging that a later Begin removes.
type stagedFile struct {
	f     *os.File // nil once sealed
	path  string   // the staged file
	final string   // the partition file it becomes
	key   string   // object key of the final file, for errors
}

// createStagedFile creates the staged file of the object key in dir, the
// slice's folder in _staging. runID and table name it only for a person
// looking at leftovers.
func createStagedFile(root, dir, key, runID, table string) (*stagedFile, error) {
	p := filepath.Join(dir, fileNamePart(runID)+"-"+table+"-"+randomHex()+".parquet.tmp")
	f, err := createInFolder(dir, p)
	if err != nil {
		return nil, fmt.Errorf("load: stage %s: %w", key, err)
	}
	return &stagedFile{f: f, path: p, final: filepath.Join(root, filepath.FromSlash(key)), key: key}, nil
}

// createInFolder creates the new file p in dir, creating dir if missing.
// It tries twice: another writer's sweep may remove a stale empty dir
// between MkdirAll and the create.
func createInFolder(dir, p string) (*os.File, error) {
	var err error
	for range 2 {
		if err = os.MkdirAll(dir, 0o777); err != nil {
			return nil, err
		}
		// Not os.CreateTemp: its 0600 would make the published file
		// readable by its owner only. 0666 before the umask is what
		// fileblob gives the files it writes. O_EXCL turns a collision
		// of 64 random bits into an error, not a shared file.
		var f *os.File
		if f, err = os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666); err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	return nil, err
}

func (s *stagedFile) Write(p []byte) (int, error) { return s.f.Write(p) }

// seal syncs and closes the file, so that the file the rename publishes
// survives a crash of the machine, not only of the process. It also checks
// that the file is still where publish will look for it: one removed from
// _staging (by hand, or swept) must fail Commit before the first publish,
// not halfway through.
func (s *stagedFile) seal() error {
	f := s.f
	s.f = nil
	err := f.Sync()
	if err == nil {
		err = s.checkInPlace(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("load: stage %s: %w", s.key, err)
	}
	return nil
}

func (s *stagedFile) checkInPlace(f *os.File) error {
	open, err := f.Stat()
	if err != nil {
		return err
	}
	named, err := os.Stat(s.path)
	if err != nil {
		return err
	}
	if !os.SameFile(open, named) {
		return fmt.Errorf("%s was replaced while the slice was being written", s.path)
	}
	return nil
}

func (s *stagedFile) publish() error {
	if err := renameInto(s.path, s.final); err != nil {
		return fmt.Errorf("load: publish %s: %w", s.key, err)
	}
	return nil
}

// renameInto renames a staged file onto its final path, creating the
// folder it goes in.
func renameInto(staged, final string) error {
	if err := os.MkdirAll(filepath.Dir(final), 0o777); err != nil {
		return err
	}
	return os.Rename(staged, final)
}

func (s *stagedFile) discard() {
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
	_ = os.Remove(s.path) // best effort: a leftover is swept once stale
}

// randomHex is 64 random bits, which keep apart the names of files that
// concurrent writers create side by side.
func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// fileNamePart makes s safe in a file name: a run id is the caller's
// choice and may hold a path separator.
func fileNamePart(s string) string {
	const maxLen = 64
	s = strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '.', r == '_':
			return r
		}
		return '_'
	}, s)
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	return s
}

// checkLocalTenant refuses a tenant id that fileblob would store under an
// escaped folder name: a control character, on Windows one of \:*?"<>|,
// or text that looks like fileblob's escapes (__0x). A staged file is
// renamed to the unescaped name, where ReadSlice and Slices, which read
// through fileblob, would not find it.
func checkLocalTenant(key schemas.Key) error {
	t := key.Tenant
	if strings.Contains(t, "__0x") {
		return fmt.Errorf("load: tenant id %q contains %q, which a local warehouse would store under another folder name", t, "__0x")
	}
	for _, r := range t {
		if r < 0x20 || (os.PathSeparator == '\\' && strings.ContainsRune(`\:*?"<>|`, r)) {
			return fmt.Errorf("load: tenant id %q contains %q, which a local warehouse would store under another folder name", t, r)
		}
	}
	return nil
}

// heartbeat keeps the mtime of a live slice's staged files recent. A
// staged file gets bytes only when a row group is full or at Commit, so
// without it the files of a run longer than staleTemp would look like a
// killed run's leftovers to the next Begin on the warehouse — of any slice,
// in any process — which would delete them under the running slice.
type heartbeat struct {
	paths []string
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func startHeartbeat(paths []string, every time.Duration) *heartbeat {
	h := &heartbeat{paths: paths, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case now := <-tick.C:
				h.touch(now)
			}
		}
	}()
	return h
}

// touch sets the files' mtime. Best effort: a file that is gone was
// published or discarded, and one that cannot be touched is at worst
// swept, which seal notices, so Commit fails before publishing anything.
func (h *heartbeat) touch(now time.Time) {
	for _, p := range h.paths {
		_ = os.Chtimes(p, time.Time{}, now)
	}
}

// halt stops the heartbeat and waits for it; nil-safe and idempotent.
func (h *heartbeat) halt() {
	if h == nil {
		return
	}
	h.once.Do(func() {
		close(h.stop)
		<-h.done
	})
}
