package load

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"gocloud.dev/blob"

	"github.com/credreg/credreg/schemas"
)

// partFile is the one file of a table's slice. A fixed name is what makes a
// rerun replace the previous file instead of adding a part beside it.
const partFile = "part-00000.parquet"

const manifestDir = "_manifests"

// partKey is the object key of a table's file for a slice, relative to the
// warehouse root.
func partKey(table string, key schemas.Key) string {
	return table + "/snapshot_date=" + key.DateString() + "/tenant_id=" + key.Tenant + "/" + partFile
}

func manifestKey(key schemas.Key) string {
	return manifestDir + "/snapshot_date=" + key.DateString() + "/tenant_id=" + key.Tenant + ".json"
}

// validateKey rejects a key that cannot name exactly one slice directory.
func validateKey(key schemas.Key) error {
	if key.Date.IsZero() {
		return errors.New("load: the slice has no snapshot date")
	}
	t := key.Tenant
	switch {
	case t == "":
		return errors.New("load: the slice has an empty tenant id")
	case strings.Contains(t, "/"):
		return fmt.Errorf("load: tenant id %q contains %q, which would split its tenant_id= directory", t, "/")
	case strings.Contains(t, "="):
		return fmt.Errorf("load: tenant id %q contains %q, which Hive-style readers take as a partition separator", t, "=")
	case strings.Contains(t, ".."):
		return fmt.Errorf("load: tenant id %q contains %q, which could escape the warehouse", t, "..")
	}
	return nil
}

// parseSliceKey recognizes the key of a table's file and returns its slice.
// Anything else under the table — a temporary file an earlier version
// left beside a part file, a foreign file — is not a slice.
func parseSliceKey(table, objKey string) (schemas.Key, bool) {
	rest, ok := strings.CutPrefix(objKey, table+"/snapshot_date=")
	if !ok {
		return schemas.Key{}, false
	}
	return parsePartition(rest, "/"+partFile)
}

// parsePartition reads "<date>/tenant_id=<tenant><suffix>", the end of
// the key of a slice's file or manifest.
func parsePartition(rest, suffix string) (schemas.Key, bool) {
	date, rest, ok := strings.Cut(rest, "/tenant_id=")
	if !ok {
		return schemas.Key{}, false
	}
	tenant, ok := strings.CutSuffix(rest, suffix)
	if !ok {
		return schemas.Key{}, false
	}
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return schemas.Key{}, false
	}
	key := schemas.Key{Date: d, Tenant: tenant}
	if validateKey(key) != nil {
		return schemas.Key{}, false
	}
	return key, true
}

// Slices lists the (date, tenant) slices present for a table, sorted by
// date, then tenant.
func (w *Warehouse) Slices(ctx context.Context, table *schemas.Table) ([]schemas.Key, error) {
	return w.listKeys(ctx, table.Name+"/", func(k string) (schemas.Key, bool) { return parseSliceKey(table.Name, k) })
}

// listKeys lists the slices that parse recognizes among the objects under
// prefix (relative to the warehouse), sorted by date, then tenant.
func (w *Warehouse) listKeys(ctx context.Context, prefix string, parse func(objKey string) (schemas.Key, bool)) ([]schemas.Key, error) {
	prefix = w.prefix + prefix
	it := w.bucket.List(&blob.ListOptions{Prefix: prefix})
	var keys []schemas.Key
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, blobError("list", prefix, err)
		}
		if k, ok := parse(strings.TrimPrefix(obj.Key, w.prefix)); ok {
			keys = append(keys, k)
		}
	}
	sortKeys(keys)
	return keys, nil
}

// sortKeys sorts slices by date, then tenant.
func sortKeys(keys []schemas.Key) {
	slices.SortFunc(keys, func(a, b schemas.Key) int {
		return cmp.Or(a.Date.Compare(b.Date), strings.Compare(a.Tenant, b.Tenant))
	})
}
