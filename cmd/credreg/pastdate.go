package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// checkPastDate guards --date before today. Graph serves the report only
// as it is now, so such a run stamps today's data with an older date: fine
// for a day that was missed, but over a day that has its snapshot it
// replaces that day's history with today's state. A slice counts as there
// when its manifest is, the mark of a complete slice. The check is made
// before any request; --force replaces anyway.
func checkPastDate(ctx context.Context, wh *load.Warehouse, day, now time.Time, tenants []pipeline.TenantSource,
	force bool, log *slog.Logger) error {
	date := day.Format(time.DateOnly)
	today := now.UTC().Format(time.DateOnly)
	if date >= today {
		return nil
	}
	for _, t := range tenants {
		key := schemas.Key{Date: day, Tenant: t.ID}
		_, err := wh.ReadManifest(ctx, key)
		switch {
		case errors.Is(err, load.ErrNotFound):
			continue
		case err != nil:
			return fmt.Errorf("checking whether --date %s already has a snapshot: %w", date, err)
		case !force:
			return usagef("--date %s: the slice snapshot_date=%s/tenant_id=%s already exists in %s, and Graph only returns "+
				"today's state: running again would replace that day's snapshot with today's data. Pass --force to replace it anyway",
				date, date, t.ID, wh)
		}
		log.Warn("--force: replacing a past day's snapshot with today's data", "date", date, "tenant", t.Label())
	}
	log.Warn(fmt.Sprintf("Graph only returns today's state; this snapshot will carry date %s but today's data", date),
		"date", date, "today", today)
	return nil
}
