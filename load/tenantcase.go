package load

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/credreg/credreg/schemas"
)

// ErrTenantCaseConflict reports that a slice cannot move to its lowercase
// tenant folder because that folder holds other content.
var ErrTenantCaseConflict = errors.New("the lowercase slice already holds other content")

// migrationRunID is what the lease of a LowercaseTenant names as its run.
const migrationRunID = "lowercase-tenant-migration"

// MixedCaseTenants lists the slices whose tenant id is not lowercase, in
// any table or in _manifests, sorted by date then tenant: what
// LowercaseTenant has to move now that tenant ids are lowercase.
func (w *Warehouse) MixedCaseTenants(ctx context.Context) ([]schemas.Key, error) {
	seen := map[string]schemas.Key{}
	add := func(keys []schemas.Key) {
		for _, k := range keys {
			if k.Tenant != strings.ToLower(k.Tenant) {
				seen[k.DateString()+"/"+k.Tenant] = k
			}
		}
	}
	for _, t := range schemas.Tables {
		keys, err := w.Slices(ctx, t)
		if err != nil {
			return nil, err
		}
		add(keys)
	}
	keys, err := w.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	add(keys)
	out := make([]schemas.Key, 0, len(seen))
	for _, k := range seen {
		out = append(out, k)
	}
	sortKeys(out)
	return out, nil
}

// tenantMove is one file of a slice and where it goes.
type tenantMove struct {
	from, to string // object keys relative to the warehouse
	manifest bool
	data     []byte // a manifest's rewritten content; a table's sha256
}

// LowercaseTenant moves every file of a slice whose tenant id has capital
// letters — its three tables and its manifest — to the slice of the
// lowercase tenant id, under that slice's lease: on a local warehouse by
// renaming, on a bucket by copying then deleting. Tables move first and
// the manifest last, so a reader sees the lowercase slice complete once
// its manifest is there.
//
// The manifest's strings that name the tenant (the id itself, and
// tenant_id=<id> in paths) are rewritten to the lowercase id. The Parquet
// files move byte for byte: their rows keep the tenant_id they were
// written with.
//
// It refuses, before moving anything, with an error wrapping
// ErrTenantCaseConflict, if a file of the lowercase slice exists with
// other content than the file that would replace it. A file already at
// its place with the same content is fine, so a migration interrupted
// halfway can be run again. A key that is already lowercase is a no-op.
func (w *Warehouse) LowercaseTenant(ctx context.Context, key schemas.Key) error {
	if err := validateKey(key); err != nil {
		return err
	}
	lower := schemas.Key{Date: key.Date, Tenant: strings.ToLower(key.Tenant)}
	if lower.Tenant == key.Tenant {
		return nil
	}
	if w.root != "" {
		if err := checkLocalTenant(key); err != nil {
			return err
		}
	}
	lease, err := w.Lease(ctx, lower, LeaseOptions{RunID: migrationRunID})
	if err != nil {
		return err
	}
	defer lease.Release()

	slice := key.DateString() + "/" + key.Tenant
	var moves []tenantMove
	for _, t := range schemas.Tables {
		moves = append(moves, tenantMove{from: partKey(t.Name, key), to: partKey(t.Name, lower)})
	}
	moves = append(moves, tenantMove{from: manifestKey(key), to: manifestKey(lower), manifest: true})
	var todo []tenantMove
	for _, m := range moves {
		var src, dst []byte
		var err error
		if m.manifest {
			if src, err = w.readOptional(ctx, m.from); err == nil && src != nil {
				if src, err = lowercaseManifest(src, key.Tenant, lower.Tenant); err != nil {
					return fmt.Errorf("load: lowercase tenant of %s: manifest: %w", slice, err)
				}
				dst, err = w.readOptional(ctx, m.to)
			}
		} else if src, err = w.objectSum(ctx, m.from); err == nil && src != nil {
			dst, err = w.objectSum(ctx, m.to)
		}
		if err != nil {
			return err
		}
		if src == nil {
			continue // moved already, or the slice never had it
		}
		if dst != nil && !sameContent(src, dst, m.manifest) {
			return fmt.Errorf("load: lowercase tenant of %s: %s holds other content than %s: %w", slice, m.to, m.from, ErrTenantCaseConflict)
		}
		m.data = src
		todo = append(todo, m)
	}
	for _, m := range todo {
		if err := w.moveObject(ctx, m); err != nil {
			return fmt.Errorf("load: lowercase tenant of %s: %w (run it again to finish)", slice, err)
		}
	}
	if w.root != "" {
		for _, m := range moves {
			dir := filepath.Join(w.root, filepath.FromSlash(m.from))
			_ = os.Remove(filepath.Dir(dir)) // the old tenant folder, if now empty
		}
	}
	return nil
}

// readOptional reads an object; nil if it does not exist.
func (w *Warehouse) readOptional(ctx context.Context, k string) ([]byte, error) {
	data, err := w.bucket.ReadAll(ctx, w.prefix+k)
	if err == nil {
		return data, nil
	}
	if err := blobError("read", w.prefix+k, err); !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return nil, nil
}

// moveObject puts m's content at m.to and removes m.from. Local files
// are renamed (a manifest is rewritten: it is written to its new place
// atomically through the bucket); bucket objects are written then
// deleted.
func (w *Warehouse) moveObject(ctx context.Context, m tenantMove) error {
	if w.root != "" && !m.manifest {
		from := filepath.Join(w.root, filepath.FromSlash(m.from))
		to := filepath.Join(w.root, filepath.FromSlash(m.to))
		if err := renameInto(from, to); err != nil {
			return fmt.Errorf("move %s: %w", m.from, err)
		}
		return syncDir(filepath.Dir(to))
	}
	if m.manifest {
		if err := w.bucket.WriteAll(ctx, w.prefix+m.to, m.data, nil); err != nil {
			return blobError("write", w.prefix+m.to, err)
		}
	} else if err := w.bucket.Copy(ctx, w.prefix+m.to, w.prefix+m.from, nil); err != nil {
		return blobError("copy to "+m.to, w.prefix+m.from, err)
	}
	if err := w.bucket.Delete(ctx, w.prefix+m.from); err != nil {
		return blobError("delete", w.prefix+m.from, err)
	}
	return nil
}

// lowercaseManifest rewrites the strings of a manifest that name the
// tenant: the id itself, and tenant_id=<id> inside paths.
func lowercaseManifest(data []byte, from, to string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case string:
			if x == from {
				return to
			}
			return strings.ReplaceAll(x, "tenant_id="+from, "tenant_id="+to)
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		case map[string]any:
			for k := range x {
				x[k] = walk(x[k])
			}
		}
		return v
	}
	return json.MarshalIndent(walk(v), "", "  ")
}

// objectSum is the sha256 of an object, read as a stream so that a large
// Parquet file is not held in memory; nil if the object does not exist.
func (w *Warehouse) objectSum(ctx context.Context, k string) ([]byte, error) {
	r, err := w.bucket.NewReader(ctx, w.prefix+k, nil)
	if err != nil {
		if err := blobError("read", w.prefix+k, err); !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, nil
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return nil, blobError("read", w.prefix+k, err)
	}
	return h.Sum(nil), nil
}

// sameContent compares two files by their sha256 (tables) or, for
// manifests, by their JSON value, since a rewritten one need not keep the
// bytes of the one already in place.
func sameContent(a, b []byte, manifest bool) bool {
	if !manifest {
		return bytes.Equal(a, b)
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}
