package extract

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/gzip"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/credreg/credreg/schemas"
)

// ErrNoRawIndex: a raw run folder has no _index.json; the run crashed or
// is still running, and its pages cannot be trusted to be all there.
var ErrNoRawIndex = errors.New("raw run has no _index.json")

// rawIndexName is the index object of a run folder.
const rawIndexName = "_index.json"

// ReadRawPage returns a landed page's or lookup's body as it was received.
func ReadRawPage(ctx context.Context, bucket *blob.Bucket, key string) ([]byte, error) {
	return ReadRawPageInto(ctx, bucket, key, nil)
}

// ReadRawPageInto is ReadRawPage reading into buf[:0], grown only when
// the body does not fit: a replay reads a thousand pages of half a
// megabyte each, and io.ReadAll's doubling allocated more than twice the
// bytes it kept. Give buf the capacity of the index's RawPage.Bytes (the
// uncompressed size) and a page costs no allocation for its body. The
// returned body may share buf's memory.
func ReadRawPageInto(ctx context.Context, bucket *blob.Bucket, key string, buf []byte) ([]byte, error) {
	var r RawPageReader
	return r.ReadInto(ctx, bucket, key, buf)
}

// RawPageReader reads landed bodies one after another, reusing its gzip
// decoder's state (tables and window, tens of KB) from one body to the
// next. Its zero value is ready; it is not safe for concurrent use.
type RawPageReader struct {
	gz *gzip.Reader
	// z holds the compressed object read whole, and zr reads it: flate
	// decodes a *bytes.Reader through its in-memory fast path, a blob
	// reader through a bufio.Reader and a slower one.
	z  []byte
	zr bytes.Reader
	// maxZ caps z's size; zero means defaultMaxCompressed. A test sets it.
	maxZ int
}

// defaultMaxCompressed caps the compressed bytes a RawPageReader holds in
// memory: a landed page is about 65 KB compressed; a larger object is
// still read, streamed as before, so the cap bounds memory, not bodies.
const defaultMaxCompressed = 4 << 20

// ReadInto is ReadRawPageInto with r's decoder.
func (r *RawPageReader) ReadInto(ctx context.Context, bucket *blob.Bucket, key string, buf []byte) ([]byte, error) {
	obj, err := bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	src, err := r.compressed(obj)
	if err != nil {
		return nil, fmt.Errorf("raw zone: %s: %w", key, err)
	}
	if r.gz == nil {
		r.gz, err = gzip.NewReader(src)
	} else {
		err = r.gz.Reset(src)
	}
	if err != nil {
		r.gz = nil // a failed Reset leaves it unusable
		return nil, fmt.Errorf("raw zone: %s: %w", key, err)
	}
	body, err := readFull(r.gz, buf[:0])
	if err != nil {
		return nil, fmt.Errorf("raw zone: %s: %w", key, err)
	}
	return body, nil
}

// compressed reads obj whole into r.z and returns a reader of it, unless
// obj is over the cap: then what was read so far followed by the rest of
// obj, streamed.
func (r *RawPageReader) compressed(obj *blob.Reader) (io.Reader, error) {
	limit := cmp.Or(r.maxZ, defaultMaxCompressed)
	if obj.Size() > int64(limit) {
		return obj, nil
	}
	if cap(r.z) < int(obj.Size()) {
		r.z = make([]byte, 0, obj.Size())
	}
	z, err := readFull(io.LimitReader(obj, int64(limit)+1), r.z[:0])
	if cap(z) <= limit {
		r.z = z // keep the grown buffer, unless over the cap
	}
	if err != nil {
		return nil, err
	}
	if len(z) > limit { // the object was larger than its size said
		return io.MultiReader(bytes.NewReader(z), obj), nil
	}
	r.zr.Reset(z)
	return &r.zr, nil
}

// readFull appends everything src yields to dst, growing dst only when
// it is full.
func readFull(src io.Reader, dst []byte) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			// A buffer sized from the index is full at the end of the
			// body: look for one more byte before growing it, since a
			// reader may return the last bytes and io.EOF apart.
			var one [1]byte
			n, err := io.ReadFull(src, one[:])
			if n == 0 && err == io.EOF { // not ErrUnexpectedEOF: a cut stream is an error
				return dst, nil
			}
			if err != nil {
				return dst, err
			}
			dst = append(slices.Grow(dst, max(cap(dst), 64<<10)), one[0])
			continue
		}
		n, err := src.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// ReadRawIndex reads the _index.json of the run folder prefix (as
// RawZone.Prefix returns it). A folder without one is ErrNoRawIndex.
func ReadRawIndex(ctx context.Context, bucket *blob.Bucket, prefix string) (RawIndex, error) {
	data, err := bucket.ReadAll(ctx, prefix+rawIndexName)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return RawIndex{}, fmt.Errorf("raw zone: %s: %w", prefix, ErrNoRawIndex)
	}
	if err != nil {
		return RawIndex{}, fmt.Errorf("raw zone: reading %s%s: %w", prefix, rawIndexName, err)
	}
	var idx RawIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		return RawIndex{}, fmt.Errorf("raw zone: %s%s: %w", prefix, rawIndexName, err)
	}
	idx.Prefix = prefix
	return idx, nil
}

// ListRawRuns returns every raw run of key's tenant and day, of any
// endpoint, newest first by run id (run ids sort by time). A run folder
// without an index, or with one that cannot be decoded, is listed, not
// skipped: NoIndex set (and Damaged saying why), Complete false, its
// tenant, day, endpoint and run id taken from the folder names.
func ListRawRuns(ctx context.Context, bucket *blob.Bucket, key schemas.Key) ([]RawIndex, error) {
	runs, err := listDayRuns(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(runs, func(a, b RawIndex) int { return cmp.Compare(b.RunID, a.RunID) })
	return runs, nil
}

// subfolders lists the folders directly under prefix, each with its
// trailing slash.
func subfolders(ctx context.Context, bucket *blob.Bucket, prefix string) ([]string, error) {
	var out []string
	it := bucket.List(&blob.ListOptions{Prefix: prefix, Delimiter: "/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("raw zone: listing %s: %w", prefix, err)
		}
		if obj.IsDir {
			out = append(out, obj.Key)
		}
	}
}
