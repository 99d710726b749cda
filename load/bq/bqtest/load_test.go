package bqtest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"

	"github.com/credreg/credreg/load/bq"
	"github.com/credreg/credreg/schemas"
)

var sliceTables = func() []string {
	var names []string
	for _, t := range schemas.Tables {
		names = append(names, t.Name)
	}
	return names
}()

func ensured(t *testing.T, e *emulator, c bq.Config) *bq.Sink {
	t.Helper()
	s := e.open(t, c)
	if err := s.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func loadSlice(t *testing.T, s *bq.Sink, sl slice) []bq.Loaded {
	t.Helper()
	loaded, err := s.LoadSlice(context.Background(), sl.Key, sl.RunID, sl.Files, sl.Manifest)
	if err != nil {
		t.Fatalf("LoadSlice %s %s: %v", sl.Key.DateString(), sl.Key.Tenant, err)
	}
	return loaded
}

// checkCounts compares BigQuery's rows per (snapshot_date, tenant_id) of
// every table with the Parquet files of the slices that should be there.
func checkCounts(t *testing.T, e *emulator, want []slice) {
	t.Helper()
	for _, table := range sliceTables {
		wantCounts := map[string]int64{}
		for _, sl := range want {
			if n := sl.Counts[table]; n > 0 {
				wantCounts[sl.Key.DateString()+" "+sl.Key.Tenant] = n
			}
		}
		got := e.countsBySlice(t, table)
		if fmt.Sprint(got) != fmt.Sprint(wantCounts) {
			t.Errorf("%s: rows per slice %v, want %v", table, got, wantCounts)
		}
	}
}

// Three dates of two tenants, loaded in parallel, then one slice loaded
// again from a rerun: every slice holds exactly its Parquet rows, nothing
// doubled, and load_runs has a row per load.
func TestSlicesReplacedNotDoubled(t *testing.T) {
	e := newEmulator(t)
	s := ensured(t, e, e.config())
	dir := t.TempDir()
	var slicesNow []slice
	for d := 25; d <= 27; d++ {
		for i, tenant := range []string{"tenant-a", "tenant-b"} {
			slicesNow = append(slicesNow, publish(t, dir, schemas.Key{Date: day(d), Tenant: tenant}, fmt.Sprintf("run-%d", d), 5+i+d%3, i))
		}
	}
	var wg sync.WaitGroup
	loaded := make([][]bq.Loaded, len(slicesNow))
	for i, sl := range slicesNow {
		wg.Go(func() {
			var err error
			// Not loadSlice: t.Fatal belongs to the test's goroutine.
			if loaded[i], err = s.LoadSlice(context.Background(), sl.Key, sl.RunID, sl.Files, sl.Manifest); err != nil {
				t.Errorf("LoadSlice %s %s: %v", sl.Key.DateString(), sl.Key.Tenant, err)
			}
		})
	}
	wg.Wait()
	checkCounts(t, e, slicesNow)
	for i, l := range loaded {
		if len(l) != len(schemas.Tables) {
			t.Fatalf("slice %d: loaded %v", i, l)
		}
		for _, one := range l {
			if one.Rows != slicesNow[i].Counts[one.Table] || !strings.HasPrefix(one.JobID, "credreg_load_"+one.Table) || one.Bytes == 0 {
				t.Errorf("slice %d: %+v, want %d rows", i, one, slicesNow[i].Counts[one.Table])
			}
		}
	}

	// The rerun of 26 for tenant-b has fewer users and no rejects.
	rerun := publish(t, dir, schemas.Key{Date: day(26), Tenant: "tenant-b"}, "run-26-again", 3, 0)
	loadSlice(t, s, rerun)
	slicesNow[3] = rerun
	checkCounts(t, e, slicesNow)
	for _, sl := range slicesNow {
		got, err := s.SliceCounts(context.Background(), sl.Key)
		if err != nil {
			t.Fatal(err)
		}
		runs := int64(1)
		if sl.RunID == "run-26-again" {
			runs = 2
		}
		want := map[string]int64{"load_runs": runs}
		for _, table := range sliceTables {
			want[table] = sl.Counts[table]
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("SliceCounts(%s %s) = %v, want %v", sl.Key.DateString(), sl.Key.Tenant, got, want)
		}
	}
	if left := stagingLeft(e.tableNames(t)); len(left) > 0 {
		t.Errorf("staging tables left: %v", left)
	}
	rows := e.query(t, "SELECT run_id, status, users, methods, rejected, schema_version, build, replayed_from_run_id, manifest_json FROM `credreg-test.credreg.load_runs` WHERE snapshot_date = @d AND tenant_id = @t ORDER BY loaded_at",
		bigquery.QueryParameter{Name: "d", Value: civil.DateOf(day(26))}, bigquery.QueryParameter{Name: "t", Value: "tenant-b"})
	if len(rows) != 2 || rows[0][0] != "run-26" || rows[1][0] != "run-26-again" {
		t.Fatalf("load_runs of the rerun slice: %v", rows)
	}
	r := rows[1]
	if r[1] != "published" || r[2] != int64(3) || r[4] != int64(0) || r[5] != schemas.Version || r[6] == nil || r[7] != nil ||
		!strings.Contains(fmt.Sprint(r[8]), `"run_id":"run-26-again"`) {
		t.Errorf("load_runs row %v", r)
	}
}

// The values credreg writes come back as they were: DATE, UTC TIMESTAMP
// in microseconds, NULL booleans, lists.
func TestValuesRoundTrip(t *testing.T) {
	e := newEmulator(t)
	s := ensured(t, e, e.config())
	sl := publish(t, t.TempDir(), schemas.Key{Date: day(27), Tenant: "tenant-a"}, "run-1", 2, 1)
	loadSlice(t, s, sl)
	rows := e.query(t, "SELECT snapshot_date, user_id, user_display_name, is_admin, is_mfa_capable, system_preferred_methods, last_updated_at, extracted_at, auth_method_count FROM `credreg-test.credreg.user_registration_details` ORDER BY user_id")
	if len(rows) != 2 {
		t.Fatalf("rows %v", rows)
	}
	extracted := day(27).Add(3*time.Hour + 14*time.Minute + 15*time.Second + 123456*time.Microsecond)
	full, bare := rows[0], rows[1]
	if full[0] != civil.DateOf(day(27)) || full[2] != "User u0000-tenant-a" || full[3] != true || full[4] != nil ||
		fmt.Sprint(full[5]) != "[push sms]" || !full[6].(time.Time).Equal(extracted.Add(-48*time.Hour)) ||
		!full[7].(time.Time).Equal(extracted) || full[8] != int64(1) {
		t.Errorf("full row %v", full)
	}
	if methods, ok := bare[5].([]bigquery.Value); bare[2] != nil || bare[3] != nil || bare[6] != nil || !ok || len(methods) != 0 || bare[8] != int64(2) {
		t.Errorf("row with NULLs %v", bare)
	}
}

var jobIDInBody = regexp.MustCompile(`"jobId":\s*"([^"]+)"`)

// loadJobsStarted lists the load jobs whose data was uploaded.
func loadJobsStarted(reqs []request) []string {
	var ids []string
	for _, r := range reqs {
		if r.Method == "POST" && strings.HasPrefix(r.Path, "/upload/") {
			if m := jobIDInBody.FindSubmatch(r.Body); m != nil {
				ids = append(ids, string(m[1]))
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// A run that dies between its loads and its swap (here: every request
// refused, so it cannot even drop its staging tables) is retried with the
// same run id: the retry attaches to the load jobs that ran, uploads
// nothing, and the slice lands once.
func TestRetryAttachesToTheLoadJobs(t *testing.T) {
	e := newEmulator(t)
	c := e.config()
	c.BeforeCommit = func(context.Context, int) error {
		e.setDown(true)
		return nil
	}
	dying := ensured(t, e, c)
	sl := publish(t, t.TempDir(), schemas.Key{Date: day(27), Tenant: "tenant-a"}, "run-1", 4, 2)
	mark := e.mark()
	if _, err := dying.LoadSlice(context.Background(), sl.Key, sl.RunID, sl.Files, sl.Manifest); err == nil {
		t.Fatal("LoadSlice succeeded with every request refused")
	}
	first := loadJobsStarted(e.requests(mark))
	if len(first) != len(schemas.Tables) {
		t.Fatalf("load jobs of the first try: %v", first)
	}
	e.setDown(false)
	if left := stagingLeft(e.tableNames(t)); len(left) != len(schemas.Tables) {
		t.Fatalf("staging tables after the dead run: %v, want one per table", left)
	}

	mark = e.mark()
	loaded := loadSlice(t, ensured(t, e, e.config()), sl)
	if again := loadJobsStarted(e.requests(mark)); len(again) > 0 {
		t.Errorf("the retry loaded again: %v", again)
	}
	var ids []string
	for _, l := range loaded {
		ids = append(ids, l.JobID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, first) {
		t.Errorf("the retry reports jobs %v, want the first try's %v", ids, first)
	}
	checkCounts(t, e, []slice{sl})
	if left := stagingLeft(e.tableNames(t)); len(left) > 0 {
		t.Errorf("staging tables left: %v", left)
	}

	// Tried once more after its swap committed (the answer lost), the run
	// loads and swaps nothing, and reports the same jobs.
	mark = e.mark()
	s := ensured(t, e, e.config())
	again := loadSlice(t, s, sl)
	if up, swaps := loadJobsStarted(e.requests(mark)), swapJobs(t, e.requests(mark)); len(up) > 0 || len(swaps) > 0 {
		t.Errorf("a run whose swap committed loaded %v and swapped %v again", up, swaps)
	}
	for i := range again {
		if again[i].JobID != loaded[i].JobID {
			t.Errorf("reported %+v, want %+v", again[i], loaded[i])
		}
	}
	if got, _ := s.SliceCounts(context.Background(), sl.Key); got["load_runs"] != 1 {
		t.Errorf("load_runs rows %d, want 1", got["load_runs"])
	}
}

// swapJobs lists the swap transactions started.
func swapJobs(t *testing.T, reqs []request) []string {
	var ids []string
	for _, r := range reqs {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/jobs") {
			if j := jobOf(t, r); j.Configuration.Query != nil && strings.Contains(j.Configuration.Query.Query, "TRANSACTION") {
				ids = append(ids, j.JobReference.JobID)
			}
		}
	}
	return ids
}

// A failure between the staging loads and the swap leaves the previous
// slice whole and no staging table; the same run tried again loads anew
// (its staging tables are gone) and lands.
func TestFailureBeforeTheSwapKeepsTheOldSlice(t *testing.T) {
	e := newEmulator(t)
	dir := t.TempDir()
	key := schemas.Key{Date: day(27), Tenant: "tenant-a"}
	old := publish(t, dir, key, "run-old", 6, 1)
	loadSlice(t, ensured(t, e, e.config()), old)

	boom := errors.New("injected failure")
	c := e.config()
	c.BeforeCommit = func(context.Context, int) error { return boom }
	failing := ensured(t, e, c)
	next := publish(t, dir, key, "run-new", 2, 0)
	if _, err := failing.LoadSlice(context.Background(), key, next.RunID, next.Files, next.Manifest); !errors.Is(err, boom) {
		t.Fatalf("LoadSlice = %v, want the injected failure", err)
	}
	checkCounts(t, e, []slice{old})
	for _, table := range sliceTables {
		if old.Counts[table] == 0 {
			continue // no rows to carry a run id (the derived tables here)
		}
		rows := e.query(t, "SELECT DISTINCT run_id FROM `credreg-test.credreg."+table+"`")
		if fmt.Sprint(rows) != "[[run-old]]" {
			t.Errorf("%s run ids %v, want only run-old", table, rows)
		}
	}
	if got, _ := failing.SliceCounts(context.Background(), key); got["load_runs"] != 1 {
		t.Errorf("load_runs rows %d, want 1", got["load_runs"])
	}
	if left := stagingLeft(e.tableNames(t)); len(left) > 0 {
		t.Errorf("staging tables left: %v", left)
	}

	loaded := loadSlice(t, ensured(t, e, e.config()), next)
	checkCounts(t, e, []slice{next})
	for _, l := range loaded {
		if !strings.HasSuffix(l.JobID, "_2") {
			t.Errorf("the retry's job %s: want the second id of its sequence, as the first's staging table is gone", l.JobID)
		}
	}
}

// A swap cancelled by a concurrent transaction is retried and lands once.
// The emulator cannot produce the real conflict (its transactions never
// conflict), so the error is injected at the commit step.
func TestConcurrentTransactionIsRetried(t *testing.T) {
	e := newEmulator(t)
	var attempts []int
	c := e.config()
	c.BeforeCommit = func(_ context.Context, attempt int) error {
		attempts = append(attempts, attempt)
		if attempt == 1 {
			return fmt.Errorf("Transaction is aborted: %w", bq.ErrConcurrentTransaction)
		}
		return nil
	}
	s := ensured(t, e, c)
	sl := publish(t, t.TempDir(), schemas.Key{Date: day(27), Tenant: "tenant-a"}, "run-1", 3, 1)
	loadSlice(t, s, sl)
	if !slices.Equal(attempts, []int{1, 2}) {
		t.Errorf("commit attempts %v, want [1 2]", attempts)
	}
	checkCounts(t, e, []slice{sl})
	if got, _ := s.SliceCounts(context.Background(), sl.Key); got["load_runs"] != 1 {
		t.Errorf("load_runs rows %d, want 1", got["load_runs"])
	}

	// Out of attempts, the error says so.
	c.CommitAttempts = 2
	c.BeforeCommit = func(context.Context, int) error { return bq.ErrConcurrentTransaction }
	_, err := ensured(t, e, c).LoadSlice(context.Background(), sl.Key, "run-2", sl.Files, []byte(`{"run_id":"run-2"}`))
	if !errors.Is(err, bq.ErrConcurrentTransaction) {
		t.Errorf("LoadSlice = %v, want ErrConcurrentTransaction", err)
	}
	checkCounts(t, e, []slice{sl})
}

// A table with no file is emptied for the slice.
func TestTableWithoutFileIsEmptied(t *testing.T) {
	e := newEmulator(t)
	s := ensured(t, e, e.config())
	dir := t.TempDir()
	key := schemas.Key{Date: day(27), Tenant: "tenant-a"}
	loadSlice(t, s, publish(t, dir, key, "run-1", 3, 2))
	next := publish(t, dir, key, "run-2", 3, 0)
	next.Files = slices.DeleteFunc(next.Files, func(f bq.File) bool { return f.Table == "rejected_records" })
	loadSlice(t, s, next)
	checkCounts(t, e, []slice{next})
}
