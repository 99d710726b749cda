package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"gocloud.dev/blob"

	"github.com/credreg/credreg/schemas"
)

// Manifests lists the slices that have a manifest, in _manifests: the
// slices whose publish completed. Sorted by date, then tenant.
func (w *Warehouse) Manifests(ctx context.Context) ([]schemas.Key, error) {
	return w.listKeys(ctx, manifestDir+"/", parseManifestKey)
}

// parseManifestKey recognizes the key of a slice's manifest.
func parseManifestKey(objKey string) (schemas.Key, bool) {
	rest, ok := strings.CutPrefix(objKey, manifestDir+"/snapshot_date=")
	if !ok {
		return schemas.Key{}, false
	}
	return parsePartition(rest, ".json")
}

// Previous finds the tenant's latest published slice dated strictly
// before before: the one the pipeline reconciles a new snapshot with. A
// slice counts only if its manifest exists, since a slice without one is
// incomplete. ok is false when the tenant has none. The tenant is compared
// as it is spelled, capitals included.
//
// It lists _manifests' date folders, then looks for the tenant's manifest
// in each date before before, newest first, listing no other tenant's:
// listing every manifest for every slice made a backfill's cost grow with
// the square of its tenants (see manifestDates and hasManifest).
func (w *Warehouse) Previous(ctx context.Context, tenant string, before time.Time) (key schemas.Key, ok bool, err error) {
	cutoff := before.UTC().Truncate(24 * time.Hour)
	dates, err := w.manifestDates(ctx)
	if err != nil {
		return schemas.Key{}, false, err
	}
	for _, d := range slices.Backward(dates) {
		if !d.Before(cutoff) {
			continue
		}
		k := schemas.Key{Date: d, Tenant: tenant}
		if validateKey(k) != nil {
			return schemas.Key{}, false, nil // no manifest's key parses to it
		}
		found, err := w.hasManifest(ctx, k)
		if err != nil || found {
			return k, found && err == nil, err
		}
	}
	return schemas.Key{}, false, nil
}

// TenantManifests lists the tenant's slices that have a manifest, sorted
// by date: Manifests for one tenant (spelled as given, capitals included),
// listing none of the others' manifests.
func (w *Warehouse) TenantManifests(ctx context.Context, tenant string) ([]schemas.Key, error) {
	dates, err := w.manifestDates(ctx)
	if err != nil {
		return nil, err
	}
	var keys []schemas.Key
	for _, d := range dates {
		k := schemas.Key{Date: d, Tenant: tenant}
		if validateKey(k) != nil {
			return nil, nil
		}
		found, err := w.hasManifest(ctx, k)
		if err != nil {
			return nil, err
		}
		if found {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// manifestDates lists the dates that have a folder in _manifests, sorted.
// A local warehouse reads the folder itself: fileblob, to list the date
// folders alone, would still visit every manifest in them.
func (w *Warehouse) manifestDates(ctx context.Context) ([]time.Time, error) {
	var names []string
	if w.root != "" {
		dir := filepath.Join(w.root, manifestDir)
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("load: list %s: %w", dir, err)
		}
		for _, e := range entries {
			if e.IsDir() {
				names = append(names, e.Name())
			}
		}
	} else {
		prefix := w.prefix + manifestDir + "/"
		it := w.bucket.List(&blob.ListOptions{Prefix: prefix, Delimiter: "/"})
		for {
			obj, err := it.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, blobError("list", prefix, err)
			}
			if obj.IsDir {
				names = append(names, strings.TrimSuffix(strings.TrimPrefix(obj.Key, prefix), "/"))
			}
		}
	}
	var dates []time.Time
	for _, n := range names {
		date, ok := strings.CutPrefix(n, "snapshot_date=")
		if d, err := time.Parse(time.DateOnly, date); ok && err == nil {
			dates = append(dates, d)
		}
	}
	slices.SortFunc(dates, time.Time.Compare)
	return slices.CompactFunc(dates, time.Time.Equal), nil
}

// hasManifest reports whether the slice has a manifest. It lists the one
// key rather than asking for its attributes, so that the tenant matches
// as spelled even on a folder that ignores case.
func (w *Warehouse) hasManifest(ctx context.Context, key schemas.Key) (bool, error) {
	k := w.prefix + manifestKey(key)
	it := w.bucket.List(&blob.ListOptions{Prefix: k})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, blobError("list", k, err)
		}
		if obj.Key == k {
			return true, nil
		}
	}
}

// ReadUserIDs returns the user_id column of the slice's
// user_registration_details file, and nothing else: it reads the file's
// footer and that column's chunks with range reads, so a million users
// cost their ids, not their rows. errors.Is(err, ErrNotFound) when the
// slice has no file.
func (w *Warehouse) ReadUserIDs(ctx context.Context, key schemas.Key) ([]string, error) {
	var ids []string
	err := w.ScanColumns(ctx, schemas.UserRegistrationDetailsTable, key, []string{"user_id"}, func(rec arrow.RecordBatch) error {
		c, ok := rec.Column(0).(*array.String)
		if !ok {
			return fmt.Errorf("load: user_id is %s, want a string", rec.Column(0).DataType())
		}
		for i := range c.Len() {
			ids = append(ids, strings.Clone(c.Value(i)))
		}
		return nil
	})
	return ids, err
}

// ScanColumns streams the named columns of a slice's file of table to fn,
// a batch at a time, in the file's row order: it reads the footer and those
// columns' chunks with range reads, so a reader of a million users holds
// one batch, not the table. The batches have the columns in the order
// asked, except those the file lacks (written by an older schema version),
// which are left out: fn finds columns by name. fn must not keep a batch.
// errors.Is(err, ErrNotFound) when the slice has no file.
func (w *Warehouse) ScanColumns(ctx context.Context, table *schemas.Table, key schemas.Key, cols []string,
	fn func(arrow.RecordBatch) error) error {
	if err := validateKey(key); err != nil {
		return err
	}
	k := w.prefix + partKey(table.Name, key)
	attrs, err := w.bucket.Attributes(ctx, k)
	if err != nil {
		return blobError("read", k, err)
	}
	ra := &rangeReaderAt{ctx: ctx, b: w.bucket, key: k, size: attrs.Size}
	mem := memory.DefaultAllocator
	pf, err := file.NewParquetReader(ra, file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return fmt.Errorf("load: read Parquet %s: %w", k, err)
	}
	defer pf.Close()
	var idx []int
	for _, c := range cols {
		if i := pf.MetaData().Schema.ColumnIndexByName(c); i >= 0 {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return fmt.Errorf("load: %s has none of the columns %s", k, strings.Join(cols, ", "))
	}
	if pf.NumRows() == 0 {
		return nil
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, mem)
	if err != nil {
		return fmt.Errorf("load: read Parquet %s: %w", k, err)
	}
	rr, err := fr.GetRecordReader(ctx, idx, nil)
	if err != nil {
		return fmt.Errorf("load: read %s: %w", k, err)
	}
	defer rr.Release()
	for rr.Next() {
		if err := fn(rr.RecordBatch()); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		return fmt.Errorf("load: read %s: %w", k, err)
	}
	return nil
}

// rangeReaderAt reads an object by ranges, so that the Parquet reader
// fetches the footer and the columns it needs, not the whole object.
type rangeReaderAt struct {
	ctx  context.Context
	b    *blob.Bucket
	key  string
	size int64
	off  int64 // for Seek, which the Parquet reader uses to learn the size
}

func (r *rangeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.size-off)
	rd, err := r.b.NewRangeReader(r.ctx, r.key, off, n, nil)
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	got, err := io.ReadFull(rd, p[:n])
	if err == nil && n < int64(len(p)) {
		err = io.EOF
	}
	return got, err
}

func (r *rangeReaderAt) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, fmt.Errorf("load: seek %s: bad whence %d", r.key, whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("load: seek %s: negative offset", r.key)
	}
	r.off = offset
	return offset, nil
}
