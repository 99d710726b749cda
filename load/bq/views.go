package bq

import (
	"context"
	"fmt"

	"cloud.google.com/go/bigquery"

	"github.com/credreg/credreg/schemas"
)

// view is a view Ensure keeps beside the tables: a common question
// answered once in the dataset, so that every analyst and dashboard shares
// one definition of "latest" and of "weekly" (docs/queries.md uses them).
type view struct {
	name, description string
	// query is the view's SQL; ref quotes a table of the dataset.
	query func(ref func(table string) string) string
}

// views are the views Ensure keeps.
func views() []view {
	return []view{
		{
			name: "latest_user_registration_details",
			description: "Each tenant's latest snapshot of user_registration_details: the tenant's newest snapshot_date, " +
				"which may differ between tenants (a tenant whose last runs failed is older).",
			query: func(ref func(string) string) string {
				// One pass with a window, not a join with the table's
				// per-tenant maximum: the same bytes read, and half the work.
				return "SELECT * EXCEPT (latest)\nFROM (\n" +
					"  SELECT *, MAX(snapshot_date) OVER (PARTITION BY tenant_id) AS latest\n" +
					"  FROM " + ref(schemas.UserRegistrationDetailsTable.Name) + "\n" +
					")\nWHERE snapshot_date = latest"
			},
		},
		{
			name: "weekly_mfa_share",
			description: "MFA-registered share per tenant and ISO week (from Monday), as of the week's last snapshot; " +
				"snapshots below 7 are missed nights, or a week cut by the first or last snapshot.",
			query: func(ref func(string) string) string {
				return "SELECT tenant_id, week, snapshot_date AS as_of, users, mfa_registered, mfa_registered_share, snapshots\n" +
					"FROM (\n" +
					"  SELECT tenant_id, DATE_TRUNC(snapshot_date, ISOWEEK) AS week, snapshot_date, users, mfa_registered, mfa_registered_share,\n" +
					"    ROW_NUMBER() OVER (PARTITION BY tenant_id, DATE_TRUNC(snapshot_date, ISOWEEK) ORDER BY snapshot_date DESC) AS n,\n" +
					"    COUNT(*) OVER (PARTITION BY tenant_id, DATE_TRUNC(snapshot_date, ISOWEEK)) AS snapshots\n" +
					"  FROM " + ref(schemas.RegistrationDailySummaryTable.Name) + "\n" +
					")\nWHERE n = 1"
			},
		},
	}
}

// ensureViews creates each view that is missing and updates one whose
// query or description is not what this version of credreg writes (an
// update swaps the query in place: a reader never finds the view missing);
// a view already right is left alone, so Ensure stays idempotent. A table
// of that name that is not a view is an error: credreg does not drop what
// it did not make.
func (s *Sink) ensureViews(ctx context.Context) error {
	for _, v := range views() {
		want := v.query(s.tableRef)
		t := s.dataset().Table(v.name)
		md, err := t.Metadata(ctx)
		switch {
		case isNotFound(err):
			err := t.Create(ctx, &bigquery.TableMetadata{ViewQuery: want, Description: v.description})
			if err != nil && !isAlreadyExists(err) {
				return fmt.Errorf("bq: create view %s of %s: %w", v.name, s, err)
			}
			s.cfg.Logger.Info("BigQuery view created", "view", v.name, "dataset", s.String())
		case err != nil:
			return fmt.Errorf("bq: read view %s of %s: %w", v.name, s, err)
		case md.Type != bigquery.ViewTable:
			return fmt.Errorf("bq: %s of %s is a %s, where credreg keeps a view of that name: rename or drop it", v.name, s, md.Type)
		case md.ViewQuery != want || md.Description != v.description:
			// The etag makes the update fail rather than overwrite a view
			// someone changed since it was read.
			_, err := t.Update(ctx, bigquery.TableMetadataToUpdate{ViewQuery: want, Description: v.description}, md.ETag)
			if err != nil {
				return fmt.Errorf("bq: update view %s of %s: %w", v.name, s, err)
			}
			s.cfg.Logger.Info("BigQuery view updated", "view", v.name, "dataset", s.String())
		}
	}
	return nil
}
