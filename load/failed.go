package load

import (
	"cmp"
	"context"
	"io"
	"slices"
	"strings"

	"gocloud.dev/blob"

	"github.com/credreg/credreg/schemas"
)

// FailedSlice is a slice that a failed run kept for inspection, with the
// manifest saying why it failed, under <warehouse>/_failed/run_id=<RunID>/.
// Read its manifest with w.Failed(RunID) and ReadManifest(Key).
type FailedSlice struct {
	RunID string
	Key   schemas.Key
}

// FailedSlices lists the slices of failed runs that have a manifest,
// sorted by run id (so, by the time the run started), then date and
// tenant. A warehouse without failed runs has none. It reads nothing but
// the listing.
func (w *Warehouse) FailedSlices(ctx context.Context) ([]FailedSlice, error) {
	prefix := w.prefix + failedDir + "/run_id="
	it := w.bucket.List(&blob.ListOptions{Prefix: prefix})
	var out []FailedSlice
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, blobError("list", prefix, err)
		}
		runID, rest, ok := strings.Cut(strings.TrimPrefix(obj.Key, prefix), "/")
		if !ok || runID == "" {
			continue
		}
		if key, ok := parseManifestKey(rest); ok {
			out = append(out, FailedSlice{RunID: runID, Key: key})
		}
	}
	slices.SortFunc(out, func(a, b FailedSlice) int {
		return cmp.Or(strings.Compare(a.RunID, b.RunID), a.Key.Date.Compare(b.Key.Date),
			strings.Compare(a.Key.Tenant, b.Key.Tenant))
	})
	return out, nil
}
