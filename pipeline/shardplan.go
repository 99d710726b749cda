package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/credreg/credreg/extract"
)

// planLookback is how far back a run looks for the tenant's previous raw
// run to plan its shards from; a tenant not extracted for longer starts
// again from the even plan.
const planLookback = 7 * 24 * time.Hour

// planShards is the shard plan of a run: from the tenant's previous
// complete, sharded raw run of the endpoint when there is one (its pages
// per shard say which chains ran long, see extract.PlanFromIndex), else
// extract.PlanShards'. Failing to read the raw zone's indexes does not
// fail the night: the run logs it and keeps the even plan.
func planShards(ctx context.Context, o Options, log *slog.Logger) (extract.ShardPlan, error) {
	if o.Shards == 1 || o.Raw == nil {
		return extract.PlanShards(o.Endpoint, o.Shards)
	}
	prev, ok, err := previousRawRun(ctx, o)
	if err != nil {
		log.Warn("cannot read the previous raw run to plan shards; using the even plan", "err", err)
	}
	if err != nil || !ok {
		return extract.PlanShards(o.Endpoint, o.Shards)
	}
	// One page of each previous shard is read back, to split a long
	// shard on the property that halves it.
	read := func(key string) ([]byte, error) { return extract.ReadRawPage(ctx, o.Raw, key) }
	plan, err := extract.PlanFromIndex(o.Endpoint, o.Shards, prev, read)
	if err != nil {
		return nil, err
	}
	log.Info("shards planned from the previous run", "previous_run_id", prev.RunID,
		"previous_snapshot_date", prev.SnapshotDate, "shards", len(plan))
	return plan, nil
}

// previousRawRun is the newest complete sharded raw run of o's tenant and
// endpoint, of o's day or the days before it within planLookback, read
// from Graph (not imported).
func previousRawRun(ctx context.Context, o Options) (extract.RawIndex, bool, error) {
	day := o.Key.Date.UTC().Truncate(24 * time.Hour)
	days, err := extract.ListRawSlices(ctx, o.Raw, day.Add(-planLookback), day, []string{o.Key.Tenant})
	if err != nil {
		return extract.RawIndex{}, false, err
	}
	for i := len(days) - 1; i >= 0; i-- { // newest day first
		for _, r := range days[i].Runs { // newest run first
			if r.Complete && !r.Imported && r.Endpoint == o.Endpoint && r.Listing == "sharded" && r.RunID != o.RunID {
				return r, true, nil
			}
		}
	}
	return extract.RawIndex{}, false, nil
}
