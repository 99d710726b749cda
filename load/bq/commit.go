package bq

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"

	"github.com/credreg/credreg/schemas"
)

// swapSQL is the transaction that replaces one slice: for every table of
// the slice, delete its rows of (date, tenant) and insert those of its
// staging table (none when staged lacks the table: the slice has no such
// rows), then append the load_runs row. Columns are named, not starred: a
// column added to an existing table sits last there, wherever schemas puts
// it. The DELETE's filter on snapshot_date lets BigQuery touch (and bill)
// one partition.
func (s *Sink) swapSQL(key schemas.Key, staged map[string]string, row runRow) string {
	var b strings.Builder
	b.WriteString("BEGIN TRANSACTION;\n")
	for _, t := range schemas.Tables {
		fmt.Fprintf(&b, "DELETE FROM %s WHERE %s = %s AND %s = %s;\n", s.tableRef(t.Name),
			schemas.ColSnapshotDate, dateLiteral(key), schemas.ColTenantID, stringLiteral(key.Tenant))
		if st, ok := staged[t.Name]; ok {
			cols := columnList(t)
			fmt.Fprintf(&b, "INSERT INTO %s (%s) SELECT %s FROM %s;\n", s.tableRef(t.Name), cols, cols, s.tableRef(st))
		}
	}
	fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES (%s);\n", s.tableRef(schemas.LoadRunsTable.Name),
		columnList(schemas.LoadRunsTable), strings.Join(row.values(key), ", "))
	b.WriteString("COMMIT TRANSACTION;\n")
	return b.String()
}

func columnList(t *schemas.Table) string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// keyParams are the slice's key as query parameters.
func keyParams(key schemas.Key) []bigquery.QueryParameter {
	return []bigquery.QueryParameter{
		{Name: schemas.ColSnapshotDate, Value: civil.DateOf(key.Date.UTC())},
		{Name: schemas.ColTenantID, Value: key.Tenant},
	}
}

// commit runs the swap, one commit at a time in this process, retrying a
// transaction that a concurrent one (another process's) cancelled. The
// transaction is rolled back whole when cancelled, so a retry can never
// apply it twice or half.
func (s *Sink) commit(ctx context.Context, key schemas.Key, runID string, firstID int, staged map[string]string, row runRow) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	sql := s.swapSQL(key, staged, row)
	var last error
	for attempt := 1; attempt <= s.cfg.CommitAttempts; attempt++ {
		if attempt > 1 {
			if err := s.backoff(ctx, attempt); err != nil {
				return fmt.Errorf("bq: swap of %s %s: %w (after %w)", key.DateString(), key.Tenant, err, last)
			}
		}
		err := s.commitOnce(ctx, key, swapJobID(s.scope(), key, runID, firstID+attempt-1), sql, attempt)
		if err == nil {
			return nil
		}
		if !concurrentTransaction(err) {
			return err
		}
		last = err
		s.cfg.Logger.Warn("BigQuery swap cancelled by a concurrent transaction; retrying",
			"snapshot_date", key.DateString(), "tenant_id", key.Tenant, "attempt", attempt, "of", s.cfg.CommitAttempts)
	}
	return fmt.Errorf("bq: swap of %s %s: %d attempts cancelled by concurrent transactions: %w",
		key.DateString(), key.Tenant, s.cfg.CommitAttempts, ErrConcurrentTransaction)
}

func (s *Sink) commitOnce(ctx context.Context, key schemas.Key, id, sql string, attempt int) error {
	if s.cfg.BeforeCommit != nil {
		if err := s.cfg.BeforeCommit(ctx, attempt); err != nil {
			return fmt.Errorf("bq: before the swap of %s %s: %w", key.DateString(), key.Tenant, err)
		}
	}
	q := s.client.Query(sql)
	q.JobID = id
	job, err := q.Run(ctx)
	if isAlreadyExists(err) {
		// The insert went through but its answer was lost, and the
		// client's retry found the id taken: the job is ours.
		job, err = s.client.JobFromID(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("bq: start the swap of %s %s: %w", key.DateString(), key.Tenant, err)
	}
	status, err := job.Wait(ctx)
	if err == nil && status != nil {
		err = status.Err()
	}
	if err != nil {
		return fmt.Errorf("bq: swap of %s %s (job %s): %w", key.DateString(), key.Tenant, job.ID(), err)
	}
	s.cfg.Logger.Debug("BigQuery slice swapped", "snapshot_date", key.DateString(), "tenant_id", key.Tenant, "job", job.ID())
	return nil
}

// maxSwapJobs bounds the swap job ids tried for one run of one slice.
const maxSwapJobs = 100

// swapped finds the number of the next free swap job id of the run: a
// run tried again numbers its attempts after the earlier ones. Whether an
// earlier one committed is load_runs' to say (see LoadedRuns), not the job
// history's, which outlives a truncated or recreated dataset.
func (s *Sink) swapped(ctx context.Context, key schemas.Key, runID string) (next int, err error) {
	for n := 1; n <= maxSwapJobs; n++ {
		_, err := s.client.JobFromID(ctx, swapJobID(s.scope(), key, runID, n))
		switch {
		case isNotFound(err):
			return n, nil
		case err != nil:
			return 0, fmt.Errorf("bq: look up swap job of %s %s: %w", key.DateString(), key.Tenant, err)
		}
	}
	return 0, fmt.Errorf("bq: %d swap jobs of %s %s for run %s already: not trying another", maxSwapJobs, key.DateString(), key.Tenant, runID)
}

// backoff waits before the attempt-th commit: CommitBackoff doubled per
// attempt after the second, between half and all of it, so that workers
// cancelled together do not collide again together.
func (s *Sink) backoff(ctx context.Context, attempt int) error {
	d := s.cfg.CommitBackoff << (attempt - 2)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
