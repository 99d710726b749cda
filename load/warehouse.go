package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob" // registers gs://
	_ "gocloud.dev/blob/memblob" // registers mem://
	"gocloud.dev/gcerrors"

	"github.com/credreg/credreg/schemas"
)

// ErrNotFound reports that the warehouse holds no such object.
var ErrNotFound = errors.New("not found in warehouse")

// Warehouse is a Parquet warehouse on a blob bucket, or on a folder of
// one (see [Warehouse.Sub]). It is safe for concurrent use.
type Warehouse struct {
	bucket   *blob.Bucket
	location string
	// prefix is prepended to every object key: "" for a warehouse opened
	// with OpenWarehouse, "<prefix>/" for a Sub, which shares its parent's
	// bucket.
	prefix string
	// shared is set on a Sub: the bucket belongs to the warehouse that was
	// opened, and only that one closes it.
	shared bool
	// root is the folder of a local warehouse (a path or a file:// URL):
	// the one where the bucket stores the keys under prefix; "" for other
	// buckets. Parquet files of a local warehouse are staged and renamed
	// by load itself, not through the bucket (see stagedFile).
	root string
	// top is, for a local Sub, the root of the warehouse it was made from.
	top string
	// gsRoot is "gs://bucket/<prefix>" for a warehouse on GCS, the start
	// of every object's URI (see ObjectURI); "" elsewhere.
	gsRoot string
}

// localOptions makes fileblob write each object to a temporary file next to
// its target and rename it into place: the rename never crosses a mount, so
// it is atomic, and no .attrs sidecar lands in the warehouse. Manifests
// (under _manifests, which readers skip) and the raw zone are written this
// way; Parquet files are not, as their temporary file would sit inside a
// partition (see stagedFile).
func localOptions() fileblob.Options {
	return fileblob.Options{CreateDir: true, NoTempDir: true, Metadata: fileblob.MetadataDontWrite}
}

// OpenWarehouse accepts a gocloud blob URL (file://, gs://, azblob://,
// mem://) or a plain local path (relative or absolute; created if missing).
//
// The path of a gs://, azblob:// or mem:// URL is a prefix inside the
// bucket: gs://bucket/warehouse is the same as
// gs://bucket?prefix=warehouse/. An azblob:// URL names a container that
// must exist; see openAzure for its credentials. A
// file:// URL takes fileblob's query parameters, on top of credreg's
// defaults for local folders.
func OpenWarehouse(ctx context.Context, urlOrPath string) (*Warehouse, error) {
	if urlOrPath == "" {
		return nil, errors.New("load: the warehouse location is empty; give a folder or a file://, gs:// or mem:// URL")
	}
	if !strings.Contains(urlOrPath, "://") {
		dir, err := filepath.Abs(urlOrPath)
		if err != nil {
			return nil, fmt.Errorf("load: warehouse folder %s: %w", urlOrPath, err)
		}
		opts := localOptions()
		b, err := fileblob.OpenBucket(dir, &opts)
		if err != nil {
			return nil, fmt.Errorf("load: open warehouse folder %s: %w", dir, err)
		}
		return &Warehouse{bucket: b, location: dir, root: dir}, nil
	}

	u, err := url.Parse(urlOrPath)
	if err != nil {
		// url.Error repeats the whole URL; keep only the reason, in case
		// the URL carries anything secret.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("load: the warehouse location is not a valid URL: %w", err)
	}
	location := redactedURL(u)
	var b *blob.Bucket
	var root string
	switch u.Scheme {
	case "file":
		opener := &fileblob.URLOpener{Options: localOptions()}
		if b, err = opener.OpenBucketURL(ctx, u); err != nil {
			break
		}
		if root, err = fileURLRoot(u); err != nil {
			b.Close()
		}
	default:
		if u, err = pathToPrefix(u); err != nil {
			return nil, fmt.Errorf("load: warehouse %s: %w", location, err)
		}
		if u.Scheme == "azblob" {
			b, err = openAzure(ctx, u)
			break
		}
		b, err = blob.OpenBucket(ctx, u.String())
	}
	if err != nil {
		// gocloud's errors repeat the URL as given, secrets and all.
		return nil, fmt.Errorf("load: open warehouse %s: %w", location, redactError(err, location, urlOrPath, u.String()))
	}
	w := &Warehouse{bucket: b, location: location, root: root}
	w.gsRoot = gsRoot(u)
	return w, nil
}

// gsRoot is the start of the URIs of a gs:// bucket URL's objects, its
// path already moved into the prefix parameter; "" for other schemes.
func gsRoot(u *url.URL) string {
	if u.Scheme != "gs" {
		return ""
	}
	return "gs://" + u.Host + "/" + u.Query().Get("prefix")
}

// ObjectURI is the gs:// URI of an object of the warehouse (a FileInfo's
// Path), which BigQuery loads from; false when the warehouse is not on GCS.
func (w *Warehouse) ObjectURI(path string) (string, bool) {
	if w.gsRoot == "" {
		return "", false
	}
	return w.gsRoot + w.prefix + path, true
}

// OpenObject reads an object of the warehouse (a FileInfo's Path).
func (w *Warehouse) OpenObject(ctx context.Context, path string) (io.ReadCloser, error) {
	r, err := w.bucket.NewReader(ctx, w.prefix+path, nil)
	if err != nil {
		return nil, blobError("open", w.prefix+path, err)
	}
	return r, nil
}

// redactError returns err with every given URL in its message replaced by
// the redacted location; errors.Is and As still see err.
func redactError(err error, location string, urls ...string) error {
	msg := err.Error()
	for _, s := range urls {
		if s != "" && s != location {
			msg = strings.ReplaceAll(msg, s, location)
		}
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// fileURLRoot is the absolute folder of a file:// URL, read as fileblob
// reads it, so that staged files land in the folder the bucket is rooted
// at: the host is ignored (file://localhost/a/b is /a/b), except "." which
// makes the path relative to the working directory (file://./rel is rel).
func fileURLRoot(u *url.URL) (string, error) {
	p := u.Path
	if u.Host == "." || os.PathSeparator != '/' {
		p = strings.TrimPrefix(p, "/")
	}
	return filepath.Abs(filepath.FromSlash(p))
}

// pathToPrefix moves the path of a bucket URL into gocloud's prefix
// parameter: gocloud ignores the path of gs:// URLs, but people write
// gs://bucket/folder and mean the folder.
func pathToPrefix(u *url.URL) (*url.URL, error) {
	p := strings.Trim(u.Path, "/")
	if p == "" {
		return u, nil
	}
	q := u.Query()
	if q.Has("prefix") {
		return nil, errors.New("the URL has both a path and a prefix parameter; give the folder one way")
	}
	q.Set("prefix", p+"/")
	v := *u
	v.Path, v.RawPath, v.RawQuery = "", "", q.Encode()
	return &v, nil
}

// redactedURL keeps what a log reader needs to find the warehouse and drops
// what might be a credential (user info, query parameters other than prefix).
func redactedURL(u *url.URL) string {
	s := u.Scheme + "://" + u.Host + u.EscapedPath()
	if p := u.Query().Get("prefix"); p != "" {
		s += "?" + url.Values{"prefix": {p}}.Encode()
	}
	return s
}

// Close releases the bucket. Commit or abort every SliceWriter first. The
// Close of a Sub releases nothing: the bucket is its parent's.
func (w *Warehouse) Close() error {
	if w.shared {
		return nil
	}
	if err := w.bucket.Close(); err != nil {
		return fmt.Errorf("load: close warehouse %s: %w", w.location, err)
	}
	return nil
}

// String is the warehouse's location for logs: an absolute folder or the
// URL without credentials.
func (w *Warehouse) String() string { return w.location }

// WriteManifest stores the slice's manifest, replacing the previous one
// atomically. The pipeline writes it after Commit, so a manifest is present
// only for a slice whose files were all published.
func (w *Warehouse) WriteManifest(ctx context.Context, key schemas.Key, manifestJSON []byte) error {
	if err := validateKey(key); err != nil {
		return err
	}
	k := w.prefix + manifestKey(key)
	if !json.Valid(manifestJSON) {
		return fmt.Errorf("load: manifest %s is not valid JSON", k)
	}
	// WriteAll sets ContentMD5, so a short write aborts instead of publishing.
	err := w.bucket.WriteAll(ctx, k, manifestJSON, &blob.WriterOptions{ContentType: "application/json"})
	if err != nil {
		return blobError("write manifest", k, err)
	}
	return nil
}

// ReadManifest returns the slice's manifest; errors.Is(err, ErrNotFound)
// when the slice has none.
func (w *Warehouse) ReadManifest(ctx context.Context, key schemas.Key) ([]byte, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	k := w.prefix + manifestKey(key)
	b, err := w.bucket.ReadAll(ctx, k)
	if err != nil {
		return nil, blobError("read manifest", k, err)
	}
	return b, nil
}

// blobError wraps an error of the blob store once, with the object key,
// turning gocloud's NotFound into ErrNotFound.
func blobError(op, key string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("load: %s %s: %w", op, key, ErrNotFound)
	}
	return fmt.Errorf("load: %s %s: %w", op, key, err)
}
