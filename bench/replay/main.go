// Command replay measures a replay of the raw zone: `credreg backfill`,
// exactly as a user runs it, against DuckDB doing the same job on the same
// pages (read_json, unnest the method arrays, COPY … (FORMAT parquet,
// COMPRESSION zstd)), in one invocation, runs alternating.
//
//	cd bench/replay
//	go run . -users 100000
//	go run . -users 1000000 -runs 3
//	go run . -tenants 200 -users 5000
//
// It lands the pages once (graphsim in-process, Graph's throttling off on
// both sides, one credreg run per tenant into a raw zone, gzip as always),
// writes uncompressed copies of the same pages for DuckDB, builds
// ../../cmd/credreg with `go build`, then alternates the two sides. Each
// side runs as its own child process into a fresh output folder, so wall
// time and peak RSS (the child's rusage Maxrss) are that side's alone: the
// DuckDB side is this binary run again with -duckdb-child. Both outputs'
// row counts per table are compared; a mismatch fails the bench.
//
// The comparison favours DuckDB on purpose: it reads uncompressed JSON and
// writes only the two main tables straight from the JSON fields, while
// credreg reads gzip pages, checks the data contract, maps every method
// through its catalog and writes every table it writes by default.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"text/tabwriter"
)

func main() {
	users := flag.Int("users", 100_000, "users per tenant")
	tenants := flag.Int("tenants", 1, "tenants")
	runs := flag.Int("runs", 3, "runs of each side, alternating")
	dir := flag.String("dir", "", "work folder (default: a new temporary folder, removed at the end)")
	keep := flag.Bool("keep", false, "keep the work folder")
	repo := flag.String("repo", "../..", "the credreg repository, whose ./cmd/credreg is built")
	child := flag.Bool("duckdb-child", false, "internal: run the DuckDB side once (-json, -out) and exit")
	measure := flag.Bool("measure", false, "internal: run the command after -- and print its wall time and peak RSS")
	jsonDir := flag.String("json", "", "internal: the uncompressed pages, for -duckdb-child")
	out := flag.String("out", "", "internal: the output folder, for -duckdb-child")
	floorOn := flag.Bool("floor", false, "also measure the floor: inflating the pages and compressing the output, which no replay can skip")
	flag.Parse()

	if *measure {
		if err := measureChild(flag.Args()); err != nil {
			fail("%v", err)
		}
		return
	}
	if *child {
		if err := duckdbReplay(*jsonDir, *out); err != nil {
			fail("duckdb: %v", err)
		}
		return
	}
	if *users <= 0 || *tenants <= 0 || *runs <= 0 {
		fail("-users, -tenants and -runs must be positive")
	}
	work := *dir
	if work != "" {
		if err := os.MkdirAll(work, 0o755); err != nil {
			fail("%v", err)
		}
	} else {
		d, err := os.MkdirTemp("", "credreg-replay-")
		if err != nil {
			fail("%v", err)
		}
		work = d
		if !*keep {
			defer os.RemoveAll(work)
		}
	}
	if err := run(work, *repo, *tenants, *users, *runs, *floorOn); err != nil {
		fail("%v", err)
	}
}

// result is one run of one side.
type result struct {
	wall   float64 // seconds
	cpu    float64 // CPU seconds, user and system: what load on the machine does not change
	rssMiB float64
	bytes  int64 // output bytes: every file the side wrote
	counts map[string]int64
}

func run(work, repo string, tenants, users, runs int, floorOn bool) error {
	rawDir, jsonDir := filepath.Join(work, "raw"), filepath.Join(work, "json")
	day, err := landOnce(work, rawDir, jsonDir, tenants, users)
	if err != nil {
		return err
	}
	bin := filepath.Join(work, "credreg")
	if err := buildCredreg(repo, bin); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var cred, duck []result
	for i := range runs {
		wh := filepath.Join(work, fmt.Sprintf("wh-%d", i))
		fmt.Fprintf(os.Stderr, "run %d: credreg backfill ...\n", i+1)
		r, err := credregReplay(self, bin, rawDir, wh, day)
		if err != nil {
			return err
		}
		cred = append(cred, r)
		if !floorOn || i < runs-1 {
			os.RemoveAll(wh)
		}
		dd := filepath.Join(work, fmt.Sprintf("duck-%d", i))
		fmt.Fprintf(os.Stderr, "run %d: duckdb ...\n", i+1)
		r, err = duckdbChild(self, jsonDir, dd)
		if err != nil {
			return err
		}
		duck = append(duck, r)
		os.RemoveAll(dd)
	}
	for _, t := range mainTables {
		if cred[0].counts[t] != duck[0].counts[t] {
			return fmt.Errorf("%s: credreg wrote %d rows, DuckDB %d", t, cred[0].counts[t], duck[0].counts[t])
		}
	}
	total := float64(tenants * users)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "side\tusers\truns\twall s (best)\twall s (median)\tusers/s\tCPU s\tpeak RSS MiB\toutput bytes\t%s rows\t%s rows\t\n", mainTables[0], mainTables[1])
	c, d := summarize(cred), summarize(duck)
	for _, s := range []struct {
		name string
		r    summary
	}{{"credreg", c}, {"duckdb", d}} {
		fmt.Fprintf(tw, "%s\t%d x %d\t%d\t%.2f\t%.2f\t%.0f\t%.2f\t%.0f\t%d\t%d\t%d\t\n", s.name, tenants, users, runs,
			s.r.best, s.r.median, total/s.r.median, s.r.cpu, s.r.rssMiB, s.r.bytes, s.r.counts[mainTables[0]], s.r.counts[mainTables[1]])
	}
	tw.Flush()
	fmt.Printf("credreg/DuckDB: throughput %.2fx (median wall), CPU %.2fx, peak RSS %.2fx  (%d CPUs, %s)\n",
		d.median/c.median, c.cpu/d.cpu, c.rssMiB/d.rssMiB, runtime.NumCPU(), runtime.Version())
	if !floorOn {
		return nil
	}
	last := filepath.Join(work, fmt.Sprintf("wh-%d", runs-1))
	defer os.RemoveAll(last)
	return floor(rawDir, last, d.median/3, runtime.NumCPU())
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "replay: "+format+"\n", a...)
	os.Exit(2)
}
