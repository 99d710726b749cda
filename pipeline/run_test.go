package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

var testDay = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// fastLimits keep Graph's shape (5 per window per tenant) with a short
// window, on both sides, so throttling is real but tests stay quick.
var (
	simLimits    = graphsim.Limits{PerTenant: 5, PerTenantWindow: 100 * time.Millisecond, App: 122, AppWindow: 100 * time.Millisecond}
	clientLimits = extract.Limits{PerTenant: 5, PerTenantWindow: 100 * time.Millisecond, App: 122, AppWindow: 100 * time.Millisecond, Margin: 20 * time.Millisecond}
	fastRetry    = extract.RetryPolicy{BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond, MaxAttempts: 12, MaxRetryAfter: 100 * time.Millisecond}
)

// noBudget lets every record be rejected.
var noBudget = ErrorBudget{MaxRejectRatio: 1, MaxRejects: -1}

type env struct {
	sim     *graphsim.Server
	wh      *load.Warehouse
	whDir   string
	rawDir  string
	tenant  string
	clockAt time.Time
}

func newEnv(t testing.TB, so graphsim.Options) *env {
	t.Helper()
	if so.Tenants == nil {
		so.Tenants = []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 1500}}
	}
	if so.Limits == (graphsim.Limits{}) {
		so.Limits = simLimits
	}
	if so.Now == nil {
		shift := testDay.Add(12 * time.Hour).Sub(time.Now())
		so.Now = func() time.Time { return time.Now().Add(shift) }
	}
	sim, err := graphsim.New(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	e := &env{sim: sim, whDir: filepath.Join(dir, "warehouse"), rawDir: filepath.Join(dir, "raw"), tenant: so.Tenants[0].ID}
	e.wh, err = load.OpenWarehouse(context.Background(), e.whDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.wh.Close() })
	return e
}

func (e *env) options(t testing.TB, endpoint schemas.Endpoint) Options {
	raw, err := load.OpenBucket(context.Background(), e.rawDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return Options{
		Key:      schemas.Key{Date: testDay, Tenant: e.tenant},
		Endpoint: endpoint,
		Source: Source{GraphURL: e.sim.URL(), HTTPClient: e.sim.Client(), Throttle: extract.NewThrottle(clientLimits),
			Retry: fastRetry,
			Credential: extract.CredentialOptions{ClientID: graphsim.DefaultClientID, ClientSecret: graphsim.DefaultClientSecret,
				AuthorityHost: e.sim.URL(), Getenv: func(string) string { return "" }}},
		Sink: ParquetSink{Warehouse: e.wh},
		Raw:  raw, RawURL: e.rawDir,
	}
}

func readSlice(t *testing.T, wh *load.Warehouse, table *schemas.Table, key schemas.Key) arrow.Table {
	t.Helper()
	tab, err := wh.ReadSlice(context.Background(), table, key)
	if err != nil {
		t.Fatalf("reading %s: %v", table.Name, err)
	}
	t.Cleanup(tab.Release)
	return tab
}

// valuesOf returns the values of a table's column, read by value.
func valuesOf[T any](t *testing.T, tab arrow.Table, name string, value func(arrow.Array, int) T) []T {
	t.Helper()
	idx := tab.Schema().FieldIndices(name)
	if len(idx) != 1 {
		t.Fatalf("no column %s", name)
	}
	var out []T
	for _, chunk := range tab.Column(idx[0]).Data().Chunks() {
		for i := range chunk.Len() {
			out = append(out, value(chunk, i))
		}
	}
	return out
}

// stringsOf returns the string values of a table's column.
func stringsOf(t *testing.T, tab arrow.Table, name string) []string {
	return valuesOf(t, tab, name, func(a arrow.Array, i int) string { return a.(*array.String).Value(i) })
}

// wantMethods is the exploded ground truth of the simulator: user|method.
func wantMethods(users []graphsim.User, endpoint schemas.Endpoint) (ids, pairs []string) {
	for _, u := range users {
		ids = append(ids, u.ID)
		ms := u.MethodsRegistered
		if endpoint == schemas.CredentialUserRegistrationDetails {
			ms = u.BetaAuthMethods()
		}
		for _, m := range ms {
			pairs = append(pairs, u.ID+"|"+m)
		}
	}
	sort.Strings(ids)
	sort.Strings(pairs)
	return ids, slices.Compact(pairs)
}

func checkSnapshotMatches(t *testing.T, e *env, key schemas.Key, endpoint schemas.Endpoint) *Manifest {
	t.Helper()
	users := e.sim.Users(e.tenant, key.Date)
	wantIDs, wantPairs := wantMethods(users, endpoint)

	ut := readSlice(t, e.wh, schemas.UserRegistrationDetailsTable, key)
	gotIDs := stringsOf(t, ut, "user_id")
	sort.Strings(gotIDs)
	if !slices.Equal(gotIDs, wantIDs) {
		t.Fatalf("users: got %d, want %d (the simulator's); first got %v", len(gotIDs), len(wantIDs), gotIDs[:min(3, len(gotIDs))])
	}
	mt := readSlice(t, e.wh, schemas.UserAuthMethodsTable, key)
	mu, mm := stringsOf(t, mt, "user_id"), stringsOf(t, mt, "auth_method")
	gotPairs := make([]string, len(mu))
	for i := range mu {
		gotPairs[i] = mu[i] + "|" + mm[i]
	}
	sort.Strings(gotPairs)
	if !slices.Equal(gotPairs, wantPairs) {
		t.Fatalf("methods: got %d rows, want %d", len(gotPairs), len(wantPairs))
	}
	for _, s := range stringsOf(t, ut, "source") {
		if s != string(endpoint) {
			t.Fatalf("source = %q, want %q", s, endpoint)
		}
	}

	data, err := e.wh.ReadManifest(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	c := m.Counts
	if c.Users != int64(len(wantIDs)) || c.Methods != int64(len(wantPairs)) || c.RecordsIn != c.Users+c.Rejected+c.MovedBetweenShards {
		t.Errorf("manifest counts %+v, want %d users %d methods", c, len(wantIDs), len(wantPairs))
	}
	if m.SchemaVersion != schemas.Version || len(m.Files) != len(schemas.Tables) {
		t.Errorf("manifest: version %q, %d files", m.SchemaVersion, len(m.Files))
	}
	for _, f := range m.Files {
		if got := sha256File(t, filepath.Join(e.whDir, filepath.FromSlash(f.Path))); got != f.SHA256 {
			t.Errorf("%s: sha256 %s, manifest says %s", f.Path, got, f.SHA256)
		}
	}
	return &m
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestRunTenantBothEndpoints(t *testing.T) {
	for _, ep := range schemas.Endpoints {
		t.Run(string(ep), func(t *testing.T) {
			e := newEnv(t, graphsim.Options{EmptyPageEvery: 2})
			o := e.options(t, ep)
			m, err := RunTenant(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			checkSnapshotMatches(t, e, o.Key, ep)
			if m.Counts.EmptyPages == 0 {
				t.Errorf("the simulator serves empty pages; none counted")
			}
			if aggs := e.sim.Stats().Aggregates; m.Requests.Requests != m.Counts.Pages+aggs {
				t.Errorf("%d requests for %d pages and %d aggregates without faults", m.Requests.Requests, m.Counts.Pages, aggs)
			}
			checkRawZone(t, o, m)
		})
	}
}

// checkRawZone: every page of the run is in the raw zone, its bytes those
// the index recorded when they were received, and the index is complete.
func checkRawZone(t *testing.T, o Options, m *Manifest) {
	t.Helper()
	ctx := context.Background()
	data, err := o.Raw.ReadAll(ctx, m.Raw.Prefix+"_index.json")
	if err != nil {
		t.Fatal(err)
	}
	var idx extract.RawIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	var pages int64
	for _, p := range idx.Pages {
		if p.Kind == "" {
			pages++
		}
	}
	if !idx.Complete || pages != m.Counts.Pages || idx.RunID != m.RunID {
		t.Fatalf("raw index: complete %v, %d pages, run %s; manifest: %d pages, run %s",
			idx.Complete, pages, idx.RunID, m.Counts.Pages, m.RunID)
	}
	records := 0
	for _, p := range idx.Pages {
		body, err := extract.ReadRawPage(ctx, o.Raw, p.Key)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != p.SHA256 || len(body) != p.Bytes {
			t.Errorf("%s: %d bytes, sha256 differs from the index", p.Key, len(body))
		}
		if p.Kind != extract.RawKindAggregate {
			records += p.Records
		}
	}
	if int64(records) != m.Counts.RecordsIn {
		t.Errorf("raw pages hold %d records, the run read %d", records, m.Counts.RecordsIn)
	}
}

// Faults the issue names: throttling with Retry-After, 503s, resets,
// truncated bodies and spurious 401s. The snapshot must still be exact.
func TestRunTenantSurvivesFaults(t *testing.T) {
	cases := []struct {
		name   string
		faults graphsim.Faults
		check  func(t *testing.T, m *Manifest)
	}{
		{"throttled", graphsim.Faults{Throttle: 0.3}, func(t *testing.T, m *Manifest) {
			if m.Requests.Throttled == 0 || m.Requests.Retries["throttled"] == 0 {
				t.Errorf("no 429 seen: %+v", m.Requests)
			}
		}},
		{"unavailable", graphsim.Faults{Unavailable: 0.3}, func(t *testing.T, m *Manifest) {
			if m.Requests.Retries["transient"] == 0 {
				t.Errorf("no transient retry: %+v", m.Requests)
			}
		}},
		{"resets-and-truncation", graphsim.Faults{Reset: 0.15, Truncate: 0.15}, func(t *testing.T, m *Manifest) {
			if m.Requests.Retries["transient"] == 0 {
				t.Errorf("no transient retry: %+v", m.Requests)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, graphsim.Options{Faults: c.faults, Seed: 7})
			o := e.options(t, schemas.UserRegistrationDetails)
			m, err := RunTenant(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			checkSnapshotMatches(t, e, o.Key, o.Endpoint)
			c.check(t, m)
		})
	}
}

// A token that expires mid-run is renewed. azidentity refreshes a token
// only within 5 minutes of its expiry, so the simulator's tokens live 6
// minutes (cached and reused) and its clock jumps 7 minutes mid-listing:
// the token the client holds expires while it reads.
func TestRunTenantTokenExpiry(t *testing.T) {
	clock := graphsim.NewClock(testDay.Add(9 * time.Hour))
	e := newEnv(t, graphsim.Options{TokenLifetime: 6 * time.Minute, Now: clock.Now,
		Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 6000}}})
	o := e.options(t, schemas.UserRegistrationDetails)
	o.Progress = func(p Progress) {
		if p.Pages == 2 {
			clock.Advance(7 * time.Minute)
		}
	}
	m, err := RunTenant(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshotMatches(t, e, o.Key, o.Endpoint)
	st := e.sim.Stats()
	if st.RefusedTokens == 0 || m.Requests.TokenRefreshes == 0 || st.TokenRequests < 2 {
		t.Errorf("%d requests refused for an expired token, %d refreshes, %d token requests: the token never expired mid-run, or was not renewed",
			st.RefusedTokens, m.Requests.TokenRefreshes, st.TokenRequests)
	}
}

// A 401 mid-run (a revoked or expired token) gets a fresh token and the
// page again; the snapshot is whole.
func TestRunTenantRefreshesTokenOn401(t *testing.T) {
	e := newEnv(t, graphsim.Options{Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n != 1 && n != 3 {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}}`)
		return true
	}})
	o := e.options(t, schemas.UserRegistrationDetails)
	o.Shards = 1 // requests 1 and 3 are then different pages of one listing
	m, err := RunTenant(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshotMatches(t, e, o.Key, o.Endpoint)
	if m.Requests.TokenRefreshes != 2 || e.sim.Stats().TokenRequests != 3 {
		t.Errorf("token refreshes %d, token requests %d; want 2 and 3", m.Requests.TokenRefreshes, e.sim.Stats().TokenRequests)
	}
}

func TestRunTenantRefusesForeignNextLink(t *testing.T) {
	var e *env
	e = newEnv(t, graphsim.Options{Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n != 2 {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"value":[],"@odata.nextLink":"https://evil.example.com%s"}`, r.URL.RequestURI())
		return true
	}})
	o := e.options(t, schemas.UserRegistrationDetails)
	o.Shards = 1 // one listing, so request 2 is its second page
	_, err := RunTenant(context.Background(), o)
	var fh *extract.ForeignHostError
	if !errors.As(err, &fh) || !errors.Is(err, extract.ErrForeignHost) {
		t.Fatalf("err = %v, want a ForeignHostError", err)
	}
	if !strings.Contains(err.Error(), "evil.example.com") {
		t.Errorf("error does not name the host: %v", err)
	}
	if e.sim.Stats().Requests != 2 {
		t.Errorf("%d requests; the foreign link must not be fetched", e.sim.Stats().Requests)
	}
	if _, err := e.wh.ReadManifest(context.Background(), o.Key); !errors.Is(err, load.ErrNotFound) {
		t.Errorf("a manifest was published for a failed run: %v", err)
	}
}

// The docs' example page and the seed's invalid record, served by the
// simulator as Graph would send them.
func TestRunTenantFixtures(t *testing.T) {
	example, err := os.ReadFile("testdata/credentialUserRegistrationDetails-page.json")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := os.ReadFile("testdata/seed-example-invalid.json")
	if err != nil {
		t.Fatal(err)
	}
	good := `{"id":"u-1","userPrincipalName":"a@example.com","userDisplayName":"A","authMethods":["fido"],"isRegistered":true,"isEnabled":true,"isCapable":true,"isMfaRegistered":true}`
	mixed := `{"value":[` + good + `,` + strings.TrimSpace(string(seed)) + `]}`
	cases := []struct {
		name                 string
		body                 string
		users, methods, rejs int64
	}{
		{"docs-example-page", string(example), 1, 2, 0},
		{"seed-invalid-record", mixed, 1, 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, graphsim.Options{Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, c.body)
				return true
			}})
			o := e.options(t, schemas.CredentialUserRegistrationDetails)
			o.Shards = 1         // the page is the whole listing
			o.Budget = &noBudget // it is mostly bad on purpose
			m, err := RunTenant(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if m.Counts.Users != c.users || m.Counts.Methods != c.methods || m.Counts.Rejected != c.rejs {
				t.Fatalf("counts %+v", m.Counts)
			}
			if len(m.Counts.UnknownMethods) != 0 {
				t.Errorf("documented values flagged unknown: %v", m.Counts.UnknownMethods)
			}
			rt := readSlice(t, e.wh, schemas.RejectedRecordsTable, o.Key)
			if c.rejs > 0 {
				codes, raws := stringsOf(t, rt, "reason_code"), stringsOf(t, rt, "raw_json")
				if codes[0] != "invalid_json" || strings.TrimSpace(raws[0]) != strings.TrimSpace(string(seed)) {
					t.Errorf("reject: %q %q", codes[0], raws[0])
				}
			} else if rt.NumRows() != 0 {
				t.Errorf("%d rejects", rt.NumRows())
			}
			checkImportSameRows(t, e, o, c.body)
		})
	}
}

// checkImportSameRows imports body, saved as a file, into a warehouse of
// its own and compares every table with the run's: the same rows but for
// run_id and extracted_at (an import has no received time of its own).
func checkImportSameRows(t *testing.T, e *env, o Options, body string) {
	t.Helper()
	ctx := context.Background()
	wh, raw := newImportTarget(t)
	files := []extract.ImportFile{{Name: "saved.json", Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }}}
	idx, m, err := Import(ctx, ImportOptions{Raw: raw, Key: o.Key, Endpoint: o.Endpoint, Files: files,
		Replay: ReplayOptions{Sink: ParquetSink{Warehouse: wh}, Budget: o.Budget}})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if m.ReplayedFrom == nil || !m.ReplayedFrom.Imported || !idx.Imported {
		t.Errorf("the import's manifest does not say so: %+v", m.ReplayedFrom)
	}
	for _, table := range schemas.Tables {
		want := rowStringsWithout(t, readSlice(t, e.wh, table, o.Key), "run_id", "extracted_at")
		got := rowStringsWithout(t, readSlice(t, wh, table, o.Key), "run_id", "extracted_at")
		if !slices.Equal(got, want) {
			t.Errorf("%s: the import has %d rows, the run %d, or they differ:\n%q\n%q", table.Name, len(got), len(want), got, want)
		}
	}
}

func TestRunTenantRerunReplaces(t *testing.T) {
	e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 1200}}})
	o := e.options(t, schemas.UserRegistrationDetails)
	first, err := RunTenant(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	second, err := RunTenant(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if first.RunID == second.RunID {
		t.Fatal("two runs share a run id")
	}
	m := checkSnapshotMatches(t, e, o.Key, o.Endpoint) // not doubled
	if m.RunID != second.RunID {
		t.Errorf("manifest of run %s, want the rerun's %s", m.RunID, second.RunID)
	}
	ut := readSlice(t, e.wh, schemas.UserRegistrationDetailsTable, o.Key)
	for _, id := range stringsOf(t, ut, "run_id") {
		if id != second.RunID {
			t.Fatalf("row of run %s after the rerun", id)
		}
	}
}

// A run killed mid-way leaves the previous snapshot byte-identical and no
// partial file where a reader would find it.
func TestRunTenantCancelledKeepsPreviousSnapshot(t *testing.T) {
	var blockFrom atomic.Int64 // requests from this one on hang; 0: none
	e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 4000}},
		Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
			if b := blockFrom.Load(); b > 0 && int64(n) >= b {
				<-r.Context().Done() // hang until the client gives up
				return true
			}
			return false
		}})
	o := e.options(t, schemas.UserRegistrationDetails)
	if _, err := RunTenant(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	before := snapshotFiles(t, e.whDir)

	blockFrom.Store(e.sim.Stats().Requests + 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o.Progress = func(p Progress) {
		if p.Pages >= 2 {
			cancel()
		}
	}
	_, err := RunTenant(ctx, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	after := snapshotFiles(t, e.whDir)
	if !maps.Equal(before, after) {
		t.Fatalf("warehouse changed by a cancelled run:\nbefore %v\nafter  %v", before, after)
	}
	checkSnapshotMatches(t, e, o.Key, o.Endpoint)
}

// snapshotFiles maps every file under dir to its sha256.
func snapshotFiles(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out[p] = sha256File(t, p)
		}
		return nil
	})
	return out
}

// An empty answer does not replace a good snapshot unless asked to.
func TestRunTenantRefusesEmptySnapshot(t *testing.T) {
	var empty atomic.Bool
	e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 300}},
		Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
			if !empty.Load() {
				return false
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"value":[]}`)
			return true
		}})
	o := e.options(t, schemas.UserRegistrationDetails)
	if _, err := RunTenant(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	before := snapshotFiles(t, e.whDir)
	empty.Store(true)
	if _, err := RunTenant(context.Background(), o); !errors.Is(err, ErrEmptySnapshot) {
		t.Fatalf("err = %v, want ErrEmptySnapshot", err)
	}
	if after := snapshotFiles(t, e.whDir); !maps.Equal(before, after) {
		t.Fatal("an empty run changed the warehouse")
	}
	o.AllowEmpty = true
	m, err := RunTenant(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if m.Counts.Users != 0 || readSlice(t, e.wh, schemas.UserRegistrationDetailsTable, o.Key).NumRows() != 0 {
		t.Errorf("allowed empty run: %+v", m.Counts)
	}
}
