package load

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
)

// The folders load keeps beside the tables. Their leading underscore keeps
// Hive-style readers out.
const (
	// rawDir is the default raw zone: pages as Graph sent them.
	rawDir = "_raw"
	// failedDir holds, per run, what a run that breached the data
	// contract wrote, for inspection (see Warehouse.Failed).
	failedDir = "_failed"
)

// Location is urlOrPath as logs and manifests may show it: an absolute
// folder, or the URL without user info or query parameters other than
// prefix, which may hold credentials. It opens nothing. A URL it cannot
// parse is shown by its scheme only.
func Location(urlOrPath string) string {
	if !strings.Contains(urlOrPath, "://") {
		if dir, err := filepath.Abs(urlOrPath); err == nil {
			return dir
		}
		return urlOrPath
	}
	u, err := url.Parse(urlOrPath)
	if err != nil {
		scheme, _, _ := strings.Cut(urlOrPath, "://")
		if strings.ContainsAny(scheme, "/@?#:") {
			scheme = "?"
		}
		return scheme + "://(unparseable URL)"
	}
	return redactedURL(u)
}

// OpenRaw opens the raw zone, where a run keeps the pages Graph sent, and
// returns it with its location for the manifest (as Location shows it):
// raw if it is set, else the _raw folder of the warehouse, <warehouse>/_raw
// (inside the prefix of a bucket URL). Both take every form OpenWarehouse
// takes. Closing the bucket releases everything OpenRaw opened.
func OpenRaw(ctx context.Context, warehouse, raw string) (*blob.Bucket, string, error) {
	if raw != "" {
		b, err := OpenBucket(ctx, raw)
		if err != nil {
			return nil, "", err
		}
		return b, Location(raw), nil
	}
	w, err := OpenWarehouse(ctx, warehouse)
	if err != nil {
		return nil, "", err
	}
	loc := subLocation(w, rawDir)
	return blob.PrefixedBucket(w.bucket, rawDir+"/"), loc, nil
}

// Failed returns the sub-warehouse <w>/_failed/run_id=<runID>, where the
// pipeline keeps the slice and manifest of a run that breached the data
// contract, for inspection, without touching w's snapshot (see Sub).
func (w *Warehouse) Failed(runID string) (*Warehouse, error) {
	if runID == "" {
		return nil, errors.New("load: the run id is empty; the failed run's folder is named after it")
	}
	if strings.Contains(runID, "/") {
		return nil, fmt.Errorf("load: run id %q contains %q, which would split the failed run's folder", runID, "/")
	}
	return w.Sub(failedDir + "/run_id=" + runID)
}
