// Package blobtest holds a bucket for tests that records what a function
// lists, so a test can fail when a listing grows back to the whole tree.
package blobtest

import (
	"cmp"
	"context"
	"errors"
	"io"
	"sync"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"
)

// Recorder is a bucket that lists and reads through another one and
// records every listing's prefix and delimiter, so that a test can see what a function
// lists. It writes nothing: fill the inner bucket first.
type Recorder struct {
	driver.Bucket // nil: a method not below panics, which no test calls
	inner         *blob.Bucket
	mu            sync.Mutex
	listings      []Listing
}

// Listing is one List call's prefix and delimiter.
type Listing struct{ Prefix, Delimiter string }

// NewRecorder returns the recording bucket over inner and the driver
// that holds its record.
func NewRecorder(inner *blob.Bucket) (*blob.Bucket, *Recorder) {
	l := &Recorder{inner: inner}
	return blob.NewBucket(l), l
}

// Listed returns the listings made so far, and forgets them.
func (l *Recorder) Listed() []Listing {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.listings
	l.listings = nil
	return p
}

func (l *Recorder) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	l.mu.Lock()
	l.listings = append(l.listings, Listing{opts.Prefix, opts.Delimiter})
	l.mu.Unlock()
	token := opts.PageToken
	if len(token) == 0 {
		token = blob.FirstPageToken
	}
	objs, next, err := l.inner.ListPage(ctx, token, cmp.Or(opts.PageSize, 1000), &blob.ListOptions{Prefix: opts.Prefix, Delimiter: opts.Delimiter})
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	page := &driver.ListPage{NextPageToken: next}
	for _, o := range objs {
		page.Objects = append(page.Objects, &driver.ListObject{Key: o.Key, ModTime: o.ModTime, Size: o.Size, MD5: o.MD5, IsDir: o.IsDir})
	}
	return page, nil
}

func (l *Recorder) NewRangeReader(ctx context.Context, key string, offset, length int64, _ *driver.ReaderOptions) (driver.Reader, error) {
	r, err := l.inner.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		return nil, err
	}
	return listedReader{r}, nil
}

func (l *Recorder) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	a, err := l.inner.Attributes(ctx, key)
	if err != nil {
		return nil, err
	}
	return &driver.Attributes{Size: a.Size, ModTime: a.ModTime, ContentType: a.ContentType, MD5: a.MD5, ETag: a.ETag}, nil
}

func (l *Recorder) ErrorCode(err error) gcerrors.ErrorCode { return gcerrors.Code(err) }
func (l *Recorder) As(any) bool                            { return false }
func (l *Recorder) ErrorAs(error, any) bool                { return false }
func (l *Recorder) Close() error                           { return nil }

// listedReader is a blob.Reader as a driver.Reader.
type listedReader struct{ r *blob.Reader }

func (r listedReader) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r listedReader) Close() error               { return r.r.Close() }
func (r listedReader) As(any) bool                { return false }
func (r listedReader) Download(w io.Writer) error { _, err := io.Copy(w, r.r); return err }
func (r listedReader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.r.ContentType(), ModTime: r.r.ModTime(), Size: r.r.Size()}
}
