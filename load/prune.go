package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/credreg/credreg/schemas"
)

// SliceUsage is what one published slice takes up in the warehouse: its
// tables' files and its manifest.
type SliceUsage struct {
	Key     schemas.Key
	Objects int
	Bytes   int64
}

// SlicesBefore lists the slices dated before `before` (by UTC day,
// exclusive) that have any table file or a manifest, sorted by date then
// tenant, with the objects and bytes of each. A slice a writer killed
// midway left without its manifest is listed too: a prune deletes it
// all the same.
func (w *Warehouse) SlicesBefore(ctx context.Context, before time.Time) ([]SliceUsage, error) {
	y, m, d := before.UTC().Date()
	before = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	found := map[schemas.Key]*SliceUsage{}
	add := func(key schemas.Key, size int64) {
		u := found[key]
		if u == nil {
			u = &SliceUsage{Key: key}
			found[key] = u
		}
		u.Objects++
		u.Bytes += size
	}
	for _, table := range schemas.Tables {
		err := w.eachBefore(ctx, table.Name+"/", before, func(obj *blob.ListObject, rel string) {
			if key, ok := parseSliceFolder(table.Name, rel); ok {
				add(key, obj.Size)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	err := w.eachBefore(ctx, manifestDir+"/", before, func(obj *blob.ListObject, rel string) {
		if key, ok := parsePartition(strings.TrimPrefix(rel, manifestDir+"/snapshot_date="), ".json"); ok {
			add(key, obj.Size)
		}
	})
	if err != nil {
		return nil, err
	}
	keys := make([]schemas.Key, 0, len(found))
	for k := range found {
		keys = append(keys, k)
	}
	sortKeys(keys)
	out := make([]SliceUsage, len(keys))
	for i, k := range keys {
		out[i] = *found[k]
	}
	return out, nil
}

// eachBefore calls fn with every object under the snapshot_date= folders
// of dir (relative to the warehouse) dated before `before`, and its key
// relative to the warehouse. Newer dates are not listed.
func (w *Warehouse) eachBefore(ctx context.Context, dir string, before time.Time, fn func(obj *blob.ListObject, rel string)) error {
	dates := w.bucket.List(&blob.ListOptions{Prefix: w.prefix + dir, Delimiter: "/"})
	for {
		folder, err := dates.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return blobError("list", w.prefix+dir, err)
		}
		name, ok := strings.CutPrefix(strings.TrimSuffix(strings.TrimPrefix(folder.Key, w.prefix+dir), "/"), "snapshot_date=")
		if !folder.IsDir || !ok {
			continue
		}
		if date, err := time.Parse(time.DateOnly, name); err != nil || !date.Before(before) {
			continue
		}
		it := w.bucket.List(&blob.ListOptions{Prefix: folder.Key})
		for {
			obj, err := it.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				return blobError("list", folder.Key, err)
			}
			fn(obj, strings.TrimPrefix(obj.Key, w.prefix))
		}
	}
}

// parseSliceFolder recognizes any object in a table's slice folder (its
// part file, or whatever else a writer left there) and returns its slice.
func parseSliceFolder(table, rel string) (schemas.Key, bool) {
	rest, ok := strings.CutPrefix(rel, table+"/snapshot_date=")
	if !ok {
		return schemas.Key{}, false
	}
	i := strings.LastIndex(rest, "/")
	if i < 0 {
		return schemas.Key{}, false
	}
	return parsePartition(rest[:i], "")
}

// ErrNoLease: DeleteSlice was called without the slice's lease.
var ErrNoLease = errors.New("the slice's lease is not held")

// DeleteSlice deletes a published slice: its manifest first, so that no
// reader takes what remains for a complete slice, then every table's
// folder of the slice, whatever it holds. The caller holds the slice's
// lease (Warehouse.Lease), which a Sub does not take; without it the
// error wraps ErrNoLease, and a lease lost meanwhile stops the delete.
// On a local warehouse a publish a killed writer left unfinished is
// settled first (as Begin would), so that nothing rolls the slice
// forward later, and the emptied folders are removed. An object already
// gone is no error, so a delete can be run again.
func (w *Warehouse) DeleteSlice(ctx context.Context, key schemas.Key, lease *Lease) error {
	if err := validateKey(key); err != nil {
		return err
	}
	slice := key.DateString() + "/" + key.Tenant
	if !w.shared && (lease == nil || lease.key != key) {
		return fmt.Errorf("load: delete slice %s: %w", slice, ErrNoLease)
	}
	if err := lease.check(); err != nil {
		return fmt.Errorf("load: delete slice %s: %w", slice, err)
	}
	if w.root != "" && !w.shared {
		staging := filepath.Join(w.root, stagingDir, leaseName(key))
		if _, err := recoverSlice(w.root, staging, key, nil); err != nil {
			return err
		}
		clearFolder(staging)
	}
	if err := w.deleteObject(ctx, manifestKey(key)); err != nil {
		return err
	}
	for _, table := range schemas.Tables {
		if err := lease.check(); err != nil {
			return fmt.Errorf("load: delete slice %s: %w", slice, err)
		}
		dir := table.Name + "/snapshot_date=" + key.DateString() + "/tenant_id=" + key.Tenant + "/"
		it := w.bucket.List(&blob.ListOptions{Prefix: w.prefix + dir})
		for {
			obj, err := it.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				return blobError("list", w.prefix+dir, err)
			}
			if err := w.deleteObject(ctx, strings.TrimPrefix(obj.Key, w.prefix)); err != nil {
				return err
			}
		}
		if w.root != "" {
			w.removeEmptyDirs(dir)
		}
	}
	if w.root != "" {
		w.removeEmptyDirs(manifestDir + "/snapshot_date=" + key.DateString() + "/")
	}
	return nil
}

func (w *Warehouse) deleteObject(ctx context.Context, rel string) error {
	if err := w.bucket.Delete(ctx, w.prefix+rel); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return blobError("delete", w.prefix+rel, err)
	}
	return nil
}

// removeEmptyDirs removes the folder rel of a local warehouse and its
// parents below the table's or _manifests' own folder, as far as they are
// empty; best effort, as an empty folder is harmless to readers.
func (w *Warehouse) removeEmptyDirs(rel string) {
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	for i := len(parts); i > 1; i-- {
		if os.Remove(filepath.Join(w.root, filepath.FromSlash(strings.Join(parts[:i], "/")))) != nil {
			return
		}
	}
}
