// Command bench measures extraction at Graph's documented limits: it serves
// tenants from an in-process graphsim that enforces 5 requests per 10 s per
// tenant and 122 per 10 s per app, runs credreg against it (HTTPS, tokens,
// shards, raw landing, Parquet, publish), and prints a table comparing the
// wall time with the least time those limits allow.
//
//	go run ./bench                      # both scenarios, about 5 minutes
//	go run ./bench -scenario many       # 20 tenants x 5,000 users, ~15 s
//	go run ./bench -scenario one -users 30000 -latency 4s -shards off
//	go run ./bench -scenario targets    # the three below, about 10 minutes
//	go run ./bench -scenario faults     # 5,000 users, 10 % random 429, 5 % 503, 2 % reset, 2 % truncation
//	go run ./bench -scenario limit3     # 5,000 users, Graph's real limit 3 per 10 s (credreg assumes 5)
//	go run ./bench -scenario slow       # 30,000 users, pages take 4 s ± 20 %, two nightly runs
//
// A scenario of several runs serves the same tenants on consecutive days
// into one raw zone, so the second run plans its shards from the first
// run's raw index, as a nightly job does; each run is a row.
//
// Two bounds are printed. "rate bound" is the number of requests divided
// by the sustained rate (0.5 rps per tenant, 12.2 rps per app; "binds"
// says which of the two is the larger bound). "window"
// is the exact least time for those requests under sliding windows: a
// full window's burst at t=0, then one burst per window. A client that
// uses the burst finishes before pages/rate; the ratio to the window bound
// is the one that shows waste.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

type scenario struct {
	name    string
	tenants int
	users   int
	// faults graphsim injects; realLimit, when set, is Graph's real
	// per-tenant limit per 10 s (credreg still assumes the documented 5).
	faults    graphsim.Faults
	realLimit int
	latency   time.Duration
	runs      int // consecutive days, default 1
	pageSize  int // $top; 0: credreg's default, 999
}

// faultMix is the mix of faults that say nothing about our rate.
var faultMix = graphsim.Faults{Throttle: 0.10, Unavailable: 0.05, Reset: 0.02, Truncate: 0.02}

func main() {
	which := flag.String("scenario", "all", "one (1 tenant x 100,000 users), many (20 x 5,000), all (both); "+
		"faults, limit3, slow, or targets (those three)")
	shards := flag.String("shards", "auto", "shards per tenant: auto, off, or 2, 4, 8, 16")
	latency := flag.Duration("latency", 0, "time graphsim takes to build each page (real Graph: 1-5 s)")
	emptyEvery := flag.Int("empty-page-every", 4, "graphsim serves every Nth page empty (negative: never)")
	endpoint := flag.String("endpoint", string(schemas.UserRegistrationDetails), "report endpoint")
	users := flag.Int("users", 0, "users per tenant, instead of the scenario's")
	verbose := flag.Bool("v", false, "log the runs")
	faults := flag.String("faults", "", "mix: add the issue's fault mix to every scenario")
	realLimit := flag.Int("real-limit", 0, "Graph's real per-tenant limit per 10 s, when below the documented 5")
	runs := flag.Int("runs", 0, "consecutive nightly runs of each scenario (0: the scenario's own)")
	pageSize := flag.Int("page-size", 0, "the listings' $top (0: the scenario's own; faults and limit3 use 100, the rest 999)")
	margin := flag.Duration("margin", 0, "client throttle margin added to each window (0: credreg's default)")
	flag.Parse()

	var scenarios []scenario
	if *which == "one" || *which == "all" {
		scenarios = append(scenarios, scenario{name: "one tenant", tenants: 1, users: 100_000})
	}
	if *which == "many" || *which == "all" {
		scenarios = append(scenarios, scenario{name: "many tenants", tenants: 20, users: 5_000})
	}
	if *which == "faults" || *which == "targets" {
		scenarios = append(scenarios, scenario{name: "fault mix", tenants: 1, users: 5_000, faults: faultMix, pageSize: 100})
	}
	if *which == "limit3" || *which == "targets" {
		scenarios = append(scenarios, scenario{name: "real limit 3", tenants: 1, users: 5_000, realLimit: 3, pageSize: 100})
	}
	if *which == "slow" || *which == "targets" {
		scenarios = append(scenarios, scenario{name: "slow pages", tenants: 1, users: 30_000, latency: 4 * time.Second, runs: 2})
	}
	if len(scenarios) == 0 {
		fail("-scenario %q: want one, many or all", *which)
	}
	if *users < 0 {
		fail("-users %d: want a positive count", *users)
	}
	if *faults != "" && *faults != "mix" {
		fail("-faults %q: want mix", *faults)
	}
	if *realLimit < 0 || *realLimit > perTenant {
		fail("-real-limit %d: want 1 to %d", *realLimit, perTenant)
	}
	for i := range scenarios {
		sc := &scenarios[i]
		if *users > 0 {
			sc.users = *users
		}
		if *faults == "mix" {
			sc.faults = faultMix
		}
		if *realLimit > 0 {
			sc.realLimit = *realLimit
		}
		if *latency > 0 {
			sc.latency = *latency
		}
		if *runs > 0 {
			sc.runs = *runs
		}
		if *pageSize > 0 {
			sc.pageSize = *pageSize
		}
		sc.runs = max(sc.runs, 1)
	}
	n, err := extract.ParseShards(*shards)
	if err != nil {
		fail("%v", err)
	}
	ep, err := schemas.ParseEndpoint(*endpoint)
	if err != nil {
		fail("%v", err)
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "scenario\trun\tusers\tshards\tpages\trequests\t429s\tof limit\t429 %%\twall s\trate bound s\tbinds\twall/rate\twindow bound s\twall/window\tpeak heap MiB\t\n")
	for _, sc := range scenarios {
		limit := perTenant
		if sc.realLimit > 0 {
			limit = sc.realLimit
		}
		fmt.Fprintf(os.Stderr, "running %s: %d x %d users, %d run(s) (limits %d/10s per tenant, 122/10s per app, latency %v, faults %+v)...\n",
			sc.name, sc.tenants, sc.users, sc.runs, limit, sc.latency, sc.faults)
		rs, err := run(sc, ep, n, *emptyEvery, *margin, logger)
		if err != nil {
			fail("%s: %v", sc.name, err)
		}
		for i, r := range rs {
			fmt.Fprintf(tw, "%s\t%d\t%d x %d\t%d\t%d\t%d\t%d\t%d\t%.2f\t%.1f\t%.1f\t%s\t%.3f\t%.1f\t%.3f\t%.0f\t\n",
				sc.name, i+1, sc.tenants, sc.users, r.shards, r.pages, r.requests, r.throttled, r.limited,
				100*float64(r.throttled)/float64(max(r.requests, 1)), r.wall.Seconds(),
				r.rateBound.Seconds(), r.binds, r.wall.Seconds()/r.rateBound.Seconds(),
				r.windowBound.Seconds(), r.wall.Seconds()/r.windowBound.Seconds(), r.peakHeapMiB)
		}
		tw.Flush()
	}
}

type result struct {
	pages, requests, throttled int64
	shards                     int   // of the first tenant's plan
	limited                    int64 // 429s of graphsim's limits, not of its Throttle fault
	wall                       time.Duration
	rateBound, windowBound     time.Duration
	binds                      string // which limit the rate bound comes from
	peakHeapMiB                float64
}

// The documented limits, on both sides.
const (
	perTenant = 5
	app       = 122
	window    = 10 * time.Second
)

func run(sc scenario, ep schemas.Endpoint, shards int, emptyEvery int, margin time.Duration, logger *slog.Logger) ([]result, error) {
	day := time.Now().UTC().Truncate(24 * time.Hour)
	clock := graphsim.NewClock(day.Add(12 * time.Hour)) // the data day; moved a day per run
	limit := perTenant
	if sc.realLimit > 0 {
		limit = sc.realLimit
	}
	var sims []graphsim.Tenant
	var tenants []pipeline.TenantSource
	for i := range sc.tenants {
		sims = append(sims, graphsim.Tenant{ID: graphsim.TenantID(i), Users: sc.users, UsersOn: day})
	}
	sim, err := graphsim.New(graphsim.Options{Tenants: sims, Latency: sc.latency, EmptyPageEvery: emptyEvery,
		Faults: sc.faults, Now: clock.Now,
		Limits: graphsim.Limits{PerTenant: limit, PerTenantWindow: window, App: app, AppWindow: window}})
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	for _, t := range sims {
		tenants = append(tenants, pipeline.TenantSource{ID: t.ID, Credential: extract.CredentialOptions{
			ClientID: graphsim.DefaultClientID, ClientSecret: graphsim.DefaultClientSecret,
			AuthorityHost: sim.URL(), HTTPClient: sim.Client(), Getenv: func(string) string { return "" }}})
	}
	dir, err := os.MkdirTemp("", "credreg-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	wh, err := load.OpenWarehouse(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer wh.Close()
	raw, err := load.OpenBucket(ctx, dir+"/_raw")
	if err != nil {
		return nil, err
	}
	defer raw.Close()

	var out []result
	for i := range sc.runs {
		d := day.AddDate(0, 0, i)
		if i > 0 {
			// A day later: Graph's windows hold nothing of the last run.
			time.Sleep(window + time.Second)
			clock.Advance(24 * time.Hour)
		}
		for _, t := range sims {
			sim.Users(t.ID, d) // generate the data before the clock starts
		}
		before := sim.Stats()
		stop := sampleHeap()
		start := time.Now()
		res := pipeline.Run(ctx, pipeline.RunOptions{
			Tenant: pipeline.Options{Key: schemas.Key{Date: d}, Endpoint: ep, Shards: shards,
				Source: pipeline.Source{GraphURL: sim.URL(), HTTPClient: sim.Client(), PageSize: sc.pageSize,
					// credreg assumes the documented limits whatever Graph enforces.
					Throttle: extract.NewThrottle(extract.Limits{PerTenant: perTenant, PerTenantWindow: window, App: app, AppWindow: window, Margin: margin})},
				Sink: pipeline.ParquetSink{Warehouse: wh}, Raw: raw, Logger: logger},
			Tenants: tenants,
		})
		wall := time.Since(start)
		peak := stop()
		if err := res.Err(); err != nil {
			return nil, err
		}
		after := sim.Stats()
		r := result{wall: wall, peakHeapMiB: peak,
			limited: after.Throttled - before.Throttled - (after.Faults.Throttle - before.Faults.Throttle)}
		var perTenantRequests []int64
		for j, t := range res.Tenants {
			m := t.Manifest
			if want := len(sim.Users(t.Tenant.ID, d)); int(m.Counts.Users) != want {
				return nil, fmt.Errorf("run %d, tenant %s: %d users, graphsim has %d", i+1, t.Tenant.ID, m.Counts.Users, want)
			}
			if j == 0 {
				r.shards = len(m.Shards)
			}
			r.pages += m.Counts.Pages
			r.requests += m.Requests.Requests
			r.throttled += m.Requests.Throttled
			perTenantRequests = append(perTenantRequests, m.Requests.Requests)
		}
		r.rateBound, r.windowBound, r.binds = bounds(perTenantRequests, int64(limit))
		out = append(out, r)
	}
	return out, nil
}

// bounds returns the least wall time for the given requests per tenant
// under Graph's real per-tenant limit: at the sustained rates (and which
// limit that is), and under sliding windows (a burst at t=0).
func bounds(reqs []int64, perTenant int64) (rate, windows time.Duration, binds string) {
	var total, most int64
	for _, n := range reqs {
		total += n
		most = max(most, n)
	}
	perTenantRate := time.Duration(float64(most) / float64(perTenant) * float64(window))
	appRate := time.Duration(float64(total) / app * float64(window))
	rate, binds = perTenantRate, "tenant"
	if appRate > perTenantRate {
		rate, binds = appRate, "app"
	}
	// The last of n requests under "k per window" goes out no earlier than
	// floor((n-1)/k) windows after the first.
	perTenantWin := time.Duration((most-1)/perTenant) * window
	appWin := time.Duration((total-1)/app) * window
	return rate, max(perTenantWin, appWin), binds
}

// sampleHeap records the peak in-use heap until the returned func is called.
func sampleHeap() func() float64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() float64 {
		close(done)
		wg.Wait()
		return float64(peak.Load()) / (1 << 20)
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
	os.Exit(2)
}
