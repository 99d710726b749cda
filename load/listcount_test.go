package load

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

// listedBucket is a bucket that lists and reads through another one and
// records every listing's prefix and delimiter, so that a test can see what a function
// lists. It writes nothing: fill the inner bucket first.
type listedBucket struct {
	driver.Bucket // nil: a method not below panics, which no test calls
	inner         *blob.Bucket
	mu            sync.Mutex
	listings      []listing
}

// listing is one List call's prefix and delimiter.
type listing struct{ Prefix, Delimiter string }

// newListedBucket returns the recording bucket over inner and the driver
// that holds its record.
func newListedBucket(inner *blob.Bucket) (*blob.Bucket, *listedBucket) {
	l := &listedBucket{inner: inner}
	return blob.NewBucket(l), l
}

// listed returns the listings made so far, and forgets them.
func (l *listedBucket) listed() []listing {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.listings
	l.listings = nil
	return p
}

func (l *listedBucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	l.mu.Lock()
	l.listings = append(l.listings, listing{opts.Prefix, opts.Delimiter})
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

func (l *listedBucket) NewRangeReader(ctx context.Context, key string, offset, length int64, _ *driver.ReaderOptions) (driver.Reader, error) {
	r, err := l.inner.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		return nil, err
	}
	return listedReader{r}, nil
}

func (l *listedBucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	a, err := l.inner.Attributes(ctx, key)
	if err != nil {
		return nil, err
	}
	return &driver.Attributes{Size: a.Size, ModTime: a.ModTime, ContentType: a.ContentType, MD5: a.MD5, ETag: a.ETag}, nil
}

func (l *listedBucket) ErrorCode(err error) gcerrors.ErrorCode { return gcerrors.Code(err) }
func (l *listedBucket) As(any) bool                            { return false }
func (l *listedBucket) ErrorAs(error, any) bool                { return false }
func (l *listedBucket) Close() error                           { return nil }

// listedReader is a blob.Reader as a driver.Reader.
type listedReader struct{ r *blob.Reader }

func (r listedReader) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r listedReader) Close() error               { return r.r.Close() }
func (r listedReader) As(any) bool                { return false }
func (r listedReader) Download(w io.Writer) error { _, err := io.Copy(w, r.r); return err }
func (r listedReader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.r.ContentType(), ModTime: r.r.ModTime(), Size: r.r.Size()}
}
