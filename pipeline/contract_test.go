package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// withoutFailed drops the _failed folder, where failed runs are kept for
// inspection, from a listing of the warehouse.
func withoutFailed(files map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range files {
		if !strings.Contains(filepath.ToSlash(k), "/_failed/") {
			out[k] = v
		}
	}
	return out
}

// failedSink is where the test's failed runs go.
func (e *env) failedSink(t *testing.T, runID string) (*load.Warehouse, Sink) {
	t.Helper()
	sub, err := e.wh.Sub("_failed/run_id=" + runID)
	if err != nil {
		t.Fatal(err)
	}
	return sub, ParquetSink{Warehouse: sub}
}

// A page mixing good records with one of every kind of bad one, served by
// graphsim in whichever shard holds its neighbour: every good record lands,
// every bad one is quarantined with its reason, and the counts add up.
func TestRunTenantQuarantinesEveryKindOfBadRecord(t *testing.T) {
	for _, ep := range schemas.Endpoints {
		t.Run(string(ep), func(t *testing.T) {
			defects := graphsim.AllDefects(40)
			e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 1500, Defects: defects}}})
			o := e.options(t, ep)
			m, err := RunTenant(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			checkSnapshotMatches(t, e, o.Key, ep) // every real user, nothing else
			want := map[string]int64{}
			for _, d := range defects {
				want[d.Kind.Reason(ep)]++
			}
			if !maps.Equal(m.Counts.RejectsByReason, want) {
				t.Errorf("rejects by reason %v, want %v", m.Counts.RejectsByReason, want)
			}
			c := m.Counts
			if c.Rejected != int64(len(defects)) || c.RecordsIn != c.Users+c.Rejected || c.DuplicateIDs != 1 {
				t.Errorf("counts %+v: want %d rejected, records_in = users + rejected, 1 duplicate", c, len(defects))
			}
			rt := readSlice(t, e.wh, schemas.RejectedRecordsTable, o.Key)
			codes := stringsOf(t, rt, "reason_code")
			details := stringsOf(t, rt, "reason_detail")
			raws := stringsOf(t, rt, "raw_json")
			got := map[string]int64{}
			for i, code := range codes {
				got[code]++
				if details[i] == "" || raws[i] == "" {
					t.Errorf("reject %d (%s): detail %q raw %q", i, code, details[i], raws[i])
				}
			}
			if !maps.Equal(got, want) {
				t.Errorf("rejected_records reasons %v, want %v", got, want)
			}
		})
	}
}

// Over the error budget nothing is published and the previous snapshot
// stays byte for byte; the rejects and a manifest saying why are kept in
// the failed-run folder.
func TestRunTenantOverBudgetKeepsPreviousSnapshot(t *testing.T) {
	defects := graphsim.AllDefects(10)
	cases := []struct {
		name   string
		budget ErrorBudget
	}{
		{"by-count", ErrorBudget{MaxRejectRatio: 1, MaxRejects: 3}},
		{"by-ratio", ErrorBudget{MaxRejectRatio: 0.001, MaxRejects: -1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var bad bool
			e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 1500}}})
			o := e.options(t, schemas.UserRegistrationDetails)
			if _, err := RunTenant(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			before := snapshotFiles(t, e.whDir)

			// The next day's run meets a tenant with bad records.
			bad = true
			e2 := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 1500, Defects: defects}}})
			o.Source.GraphURL, o.Source.HTTPClient = e2.sim.URL(), e2.sim.Client()
			o.Source.Credential.AuthorityHost = e2.sim.URL()
			o.Budget = &c.budget
			o.RunID = "20261120T000000Z-bad000"
			sub, failed := e.failedSink(t, o.RunID)
			o.Failed = failed
			_, err := RunTenant(context.Background(), o)
			var be *BudgetError
			if !bad || !errors.As(err, &be) || !errors.Is(err, ErrBudgetExceeded) {
				t.Fatalf("err = %v, want a BudgetError", err)
			}
			if be.Rejected != int64(len(defects)) || !strings.Contains(err.Error(), "nothing was published") {
				t.Errorf("budget error %+v: %v", be, err)
			}
			if after := withoutFailed(snapshotFiles(t, e.whDir)); !maps.Equal(before, after) {
				t.Fatal("a run over budget changed the published warehouse")
			}
			rt := readSlice(t, sub, schemas.RejectedRecordsTable, o.Key)
			if rt.NumRows() != int64(len(defects)) {
				t.Errorf("kept %d rejected records, want %d", rt.NumRows(), len(defects))
			}
			data, err := sub.ReadManifest(context.Background(), o.Key)
			if err != nil {
				t.Fatal(err)
			}
			var m Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			if m.Status != StatusContractBreached || m.Counts.Rejected != int64(len(defects)) ||
				m.Counts.RecordsIn != m.Counts.Users+m.Counts.Rejected || !strings.Contains(m.Error, "rejected") ||
				m.Budget != c.budget {
				t.Errorf("failed manifest: status %q counts %+v error %q budget %+v", m.Status, m.Counts, m.Error, m.Budget)
			}
			for _, f := range m.Files {
				if (f.Table == schemas.RejectedRecordsTable.Name) != (f.Rows == int64(len(defects))) || (f.Table != schemas.RejectedRecordsTable.Name && f.Rows != 0) {
					t.Errorf("failed run file %s has %d rows; want the rejects only", f.Path, f.Rows)
				}
			}
		})
	}
}

// A page that is not a report page is asked for again; the same garbage
// twice stops the run with an error naming tenant, endpoint, page and the
// raw file holding what Graph sent. Nothing is published.
func TestRunTenantStopsOnPersistentGarbagePage(t *testing.T) {
	const garbage = `<html><body>Service Unavailable</body></html>`
	var broken atomic.Bool
	e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 3000}},
		Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
			if !broken.Load() || !strings.Contains(r.URL.RawQuery, "skiptoken") {
				return false
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, garbage)
			return true
		}})
	o := e.options(t, schemas.UserRegistrationDetails)
	o.Shards = 1
	if _, err := RunTenant(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	before := snapshotFiles(t, e.whDir)
	broken.Store(true)
	_, err := RunTenant(context.Background(), o)
	if !errors.Is(err, extract.ErrBadPage) {
		t.Fatalf("err = %v, want ErrBadPage", err)
	}
	msg := err.Error()
	for _, want := range []string{e.tenant, string(o.Endpoint), "page 2", "page-000002.invalid.json.gz", e.rawDir} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not name %q: %s", want, msg)
		}
	}
	if after := snapshotFiles(t, e.whDir); !maps.Equal(before, after) {
		t.Fatal("a failed run changed the warehouse")
	}
	i := strings.Index(msg, e.rawDir)
	path := strings.Fields(msg[i:])[0]
	raw, err := load.OpenBucket(context.Background(), e.rawDir)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	body, err := extract.ReadRawPage(context.Background(), raw, strings.TrimPrefix(path, e.rawDir+"/"))
	if err != nil || string(body) != garbage {
		t.Errorf("landed body %q, %v; want what Graph sent", body, err)
	}
}

// Tenants run side by side; one failing does not stop the others, and the
// result says which failed and why.
func TestRunManyTenantsOneFails(t *testing.T) {
	ids := []string{graphsim.DefaultTenantID, "11111111-2222-4333-8444-555555555555", "66666666-7777-4888-8999-aaaaaaaaaaaa"}
	e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{
		{ID: ids[0], Users: 1200}, {ID: ids[1], Users: 1200, NonPremium: true}, {ID: ids[2], Users: 900}}})
	o := e.options(t, schemas.UserRegistrationDetails)
	var sources []TenantSource
	for i, id := range ids {
		sources = append(sources, TenantSource{ID: id, Name: fmt.Sprintf("t%d", i), Credential: o.Source.Credential})
	}
	var finished []string
	res := Run(context.Background(), RunOptions{Tenant: o, Tenants: sources,
		Finished: func(r TenantResult) { finished = append(finished, r.Tenant.ID) }})
	if len(finished) != 3 {
		t.Errorf("finished %v", finished)
	}
	err := res.Err()
	var pe *PartialError
	if !errors.Is(err, ErrPartial) || !errors.As(err, &pe) || len(pe.Failed) != 1 || pe.Failed[0].Tenant.ID != ids[1] {
		t.Fatalf("err = %v, want a partial error naming %s", err, ids[1])
	}
	if !errors.Is(pe.Failed[0].Err, extract.ErrNotPremium) || !strings.Contains(err.Error(), "t1 ("+ids[1]+")") {
		t.Errorf("failure %v", err)
	}
	for _, i := range []int{0, 2} {
		e.tenant = ids[i]
		key := schemas.Key{Date: testDay, Tenant: ids[i]}
		m := checkSnapshotMatches(t, e, key, o.Endpoint)
		if m.RunID != res.Tenants[0].Manifest.RunID {
			t.Errorf("tenants of one run have run ids %s and %s", m.RunID, res.Tenants[0].Manifest.RunID)
		}
	}
	if _, err := e.wh.ReadManifest(context.Background(), schemas.Key{Date: testDay, Tenant: ids[1]}); !errors.Is(err, load.ErrNotFound) {
		t.Errorf("the failed tenant has a manifest: %v", err)
	}
}

// The fault mix of the issue: 10 % extra 429s, 5 % 503s, 2 % resets, 2 %
// truncated bodies and 20 s tokens. The snapshot is exactly the tenant's
// users and methods, on every seed, with sharding on.
func TestRunTenantFaultMixIsExact(t *testing.T) {
	faults := graphsim.Faults{Throttle: 0.10, Unavailable: 0.05, Reset: 0.04, Truncate: 0.04}
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint("seed-", seed), func(t *testing.T) {
			t.Parallel() // most of the time is Retry-After waits
			e := newEnv(t, graphsim.Options{Seed: seed, Faults: faults,
				Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 8000}}})
			o := e.options(t, schemas.UserRegistrationDetails)
			o.Source.PageSize = 125 // enough requests for every kind of fault
			// graphsim's fault 429s say Retry-After: 1; honour it whole.
			o.Source.Retry.MaxRetryAfter = 2 * time.Second
			o.Progress = func(p Progress) {
				if p.Pages == 3 {
					// A token Graph stops accepting before its expiry.
					e.sim.RevokeTokens()
				}
			}
			m, err := RunTenant(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			checkSnapshotMatches(t, e, o.Key, o.Endpoint)
			if m.Counts.Rejected != 0 || m.Counts.DuplicateIDs != 0 {
				t.Errorf("counts %+v", m.Counts)
			}
			if len(m.Shards) != extract.AutoShards {
				t.Errorf("shards %v", m.Shards)
			}
			// Every kind of fault happened in this seed's run, and the
			// client met each as it should.
			st := e.sim.Stats()
			f := st.Faults
			if f.Throttle == 0 || f.Unavailable == 0 || f.Reset == 0 || f.Truncate == 0 {
				t.Errorf("faults served %+v: each kind must happen in every seed's run", f)
			}
			if m.Requests.Throttled < f.Throttle || m.Requests.Retries["throttled"] < f.Throttle {
				t.Errorf("%d 429s served, the client counted %d and retried %d", f.Throttle, m.Requests.Throttled, m.Requests.Retries["throttled"])
			}
			if st.EarlyRetries != 0 {
				t.Errorf("%d requests came again before the Retry-After Graph gave them", st.EarlyRetries)
			}
			if m.Requests.Retries["transient"] < f.Unavailable+f.Reset+f.Truncate {
				t.Errorf("%d transient retries for %d 503s, %d resets and %d truncations", m.Requests.Retries["transient"], f.Unavailable, f.Reset, f.Truncate)
			}
			if st.RefusedTokens == 0 || m.Requests.TokenRefreshes == 0 {
				t.Errorf("revoked token: %d refused, %d refreshes; want both", st.RefusedTokens, m.Requests.TokenRefreshes)
			}
		})
	}
}

// Graph documents $filter on each boolean, not their combination: if it
// refuses the plan's filter, or ignores it, the run reads the listing
// whole, at the cost of one request.
func TestRunTenantFallsBackWhenGraphRefusesTheShardFilter(t *testing.T) {
	ignore := func(w http.ResponseWriter, r *http.Request) bool {
		// Serve the unfiltered listing instead.
		q := r.URL.Query()
		q.Del("$filter")
		r.URL.RawQuery = q.Encode()
		return false
	}
	cases := []struct {
		name    string
		refuse  func(w http.ResponseWriter, r *http.Request) bool
		ignored bool
		// emptyFirst: the refused or ignored first page came empty.
		emptyFirst bool
	}{
		{"400", func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"code":"Request_UnsupportedQuery","message":"Unsupported Query."}}`)
			return true
		}, false, false},
		{"ignored", ignore, true, false},
		{"ignored after an empty first page", func(w http.ResponseWriter, r *http.Request) bool {
			// The first page of each shard is empty, with a next link to
			// the rest: an empty page cannot show the filter is ignored.
			q := r.URL.Query()
			if q.Get("$skiptoken") == "" {
				w.Header().Set("Content-Type", "application/json")
				next := "https://" + r.Host + r.URL.Path + "?" + r.URL.RawQuery + "&$skiptoken=empty-first"
				fmt.Fprintf(w, `{"@odata.nextLink":%q,"value":[]}`, next)
				return true
			}
			q.Del("$skiptoken")
			r.URL.RawQuery = q.Encode()
			return ignore(w, r)
		}, true, true},
		{"ignored by the later shards", func(w http.ResponseWriter, r *http.Request) bool {
			// The first shard's filter works; the others get everyone.
			if strings.HasPrefix(r.URL.Query().Get("$filter"), "isMfaRegistered eq false and isSsprRegistered eq false") {
				return false
			}
			return ignore(w, r)
		}, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, graphsim.Options{Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
				if !strings.Contains(r.URL.Query().Get("$filter"), " and ") {
					return false
				}
				return c.refuse(w, r)
			}})
			o := e.options(t, schemas.UserRegistrationDetails)
			m, err := RunTenant(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			checkSnapshotMatches(t, e, o.Key, o.Endpoint)
			if len(m.Shards) != 1 || m.Shards[0].Filter != "" {
				t.Errorf("shards %+v, want the unfiltered listing", m.Shards)
			}
			if late := c.name == "ignored by the later shards"; late && (!m.Reconcile.RereadUnsharded || m.Counts.MovedBetweenShards != 0) {
				t.Errorf("reconcile %+v, counts %+v: overlapping shards must be read again unsharded", m.Reconcile, m.Counts)
			} else if !late && (m.Requests.Requests != m.Counts.Pages+1+e.sim.Stats().Aggregates || m.Counts.Rejected != 0) {
				t.Errorf("%d requests for %d pages, %d rejected: the refused filter should cost one request", m.Requests.Requests, m.Counts.Pages, m.Counts.Rejected)
			}
		})
	}
}

// Graph refusing access, the licence, or every token: the run ends with
// the error a person can act on and the previous snapshot stays.
func TestRunTenantRefusedKeepsPreviousSnapshot(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"forbidden", http.StatusForbidden, `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`, extract.ErrForbidden},
		{"non-premium", http.StatusForbidden, `{"error":{"code":"Authentication_RequestFromNonPremiumTenantOrB2CTenant","message":"Tenant is not a B2C tenant and doesn't have premium license"}}`, extract.ErrNotPremium},
		{"token-refused", http.StatusUnauthorized, `{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}}`, extract.ErrUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var refuse atomic.Bool
			e := newEnv(t, graphsim.Options{Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
				if !refuse.Load() {
					return false
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.status)
				fmt.Fprint(w, c.body)
				return true
			}})
			o := e.options(t, schemas.UserRegistrationDetails)
			if _, err := RunTenant(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			before := snapshotFiles(t, e.whDir)
			refuse.Store(true)
			_, err := RunTenant(context.Background(), o)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if after := snapshotFiles(t, e.whDir); !maps.Equal(before, after) {
				t.Fatal("a refused run changed the warehouse")
			}
		})
	}
}

// Realistic damage — a string left open, a bracket missing — breaks the
// page, not one record: the same bytes every time are what Graph serves,
// so the run stops (exit 4), names the landed body and publishes nothing.
func TestRunTenantStopsOnDamagedPage(t *testing.T) {
	for _, kind := range []graphsim.DefectKind{graphsim.DamageUnclosedString, graphsim.DamageMissingBracket} {
		t.Run(string(kind), func(t *testing.T) {
			e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 3000,
				Defects: []graphsim.Defect{{After: 1500, Kind: kind}}}}})
			o := e.options(t, schemas.UserRegistrationDetails)
			o.Shards = 1
			_, err := RunTenant(context.Background(), o)
			var pe *extract.PageError
			if !errors.Is(err, extract.ErrBadPage) || !errors.As(err, &pe) || !pe.Persistent {
				t.Fatalf("err = %v, want a persistent bad page", err)
			}
			if !strings.Contains(err.Error(), ".invalid.json.gz") {
				t.Errorf("error does not name the landed body: %v", err)
			}
			for p := range snapshotFiles(t, e.whDir) {
				if !strings.Contains(p, string(filepath.Separator)+"_") {
					t.Errorf("a failed run published %s", p)
				}
			}
		})
	}
}
