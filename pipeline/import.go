package pipeline

import (
	"context"
	"errors"
	"strings"
	"time"

	"gocloud.dev/blob"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/schemas"
)

// ImportOptions configure Import.
type ImportOptions struct {
	// Raw is the raw zone the saved responses are landed in.
	Raw      *blob.Bucket
	Key      schemas.Key
	Endpoint schemas.Endpoint
	Files    []extract.ImportFile
	// Replay carries the sink, budget and the rest of the slice's
	// replay; Raw, Prefix and RunID are set by Import.
	Replay ReplayOptions
}

// Import turns saved Graph responses into history: it lands the files as a
// new raw run marked imported, then replays that slice exactly as a
// backfill would, under the slice's lease and the data contract. The raw
// run is returned even when the replay fails; a run whose files could not
// all be read, or whose replay was refused, is left incomplete (replayed
// only when named) and nothing is published.
func Import(ctx context.Context, o ImportOptions) (extract.RawIndex, *Manifest, error) {
	if o.Raw == nil || o.Replay.Sink == nil {
		return extract.RawIndex{}, nil, errors.New("import: no raw zone or no sink")
	}
	if len(o.Files) == 0 {
		return extract.RawIndex{}, nil, errors.New("import: no file to import")
	}
	o.Key.Tenant = strings.ToLower(o.Key.Tenant)
	runID := o.Replay.RunID
	if runID == "" {
		runID = NewRunID(time.Now())
	}
	idx, err := extract.Import(ctx, o.Files, extract.ImportOptions{Bucket: o.Raw, Key: o.Key, Endpoint: o.Endpoint, RunID: runID})
	if err != nil {
		return idx, nil, err
	}
	ro := o.Replay
	ro.Raw, ro.Prefix, ro.RunID = o.Raw, idx.Prefix, runID
	m, err := ReplayTenant(ctx, ro)
	if err != nil && m == nil {
		// The import's own run, read by nothing else yet: were it left
		// complete, a later backfill would take it for the day's newest
		// and fail (or publish it) again.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if merr := extract.MarkIncomplete(mctx, o.Raw, idx.Prefix); merr != nil {
			err = errors.Join(err, merr)
		} else {
			idx.Complete = false
		}
	}
	return idx, m, err
}
