package main

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/pipeline"
)

// workerOptions are run's --worker-index and --worker-count: which share of
// the tenants this process takes when several run side by side, as the
// tasks of a Kubernetes Indexed Job or a Cloud Run job.
type workerOptions struct {
	WorkerIndex int
	WorkerCount int
}

// Where a worker's index and count come from when no flag gives them, in
// this order. A Kubernetes Indexed Job sets JOB_COMPLETION_INDEX but no
// count: the recipe passes its completions as CREDREG_WORKER_COUNT. A
// Cloud Run job sets both of its own.
var (
	workerIndexEnv = []string{"CREDREG_WORKER_INDEX", "JOB_COMPLETION_INDEX", "CLOUD_RUN_TASK_INDEX"}
	workerCountEnv = []string{"CREDREG_WORKER_COUNT", "CLOUD_RUN_TASK_COUNT"}
)

func (o *workerOptions) AddFlags(f *pflag.FlagSet) {
	f.IntVar(&o.WorkerIndex, "worker-index", 0, "this worker's index, 0 to --worker-count minus 1; when not given, read from "+
		strings.Join(workerIndexEnv, ", ")+" (the first set)")
	f.IntVar(&o.WorkerCount, "worker-count", 1, "workers the tenants are spread over: each takes the tenants a stable hash "+
		"of their id gives it, and 1/N of --app-rate so that together they keep within it; 1: this process takes every "+
		"tenant. When not given, read from "+strings.Join(workerCountEnv, ", ")+" (the first set)")
}

// worker is this process's place among the workers of a run, and where
// its index and count came from: "flag", "env (NAME)" or "default".
type worker struct {
	index, count         int
	indexFrom, countFrom string
}

// resolve reads the flags, falling back on the environment: a flag given
// wins over any variable. changed says whether a flag was given.
func (o workerOptions) resolve(changed func(string) bool, getenv func(string) string) (worker, error) {
	w := worker{index: o.WorkerIndex, count: o.WorkerCount, indexFrom: "default", countFrom: "default"}
	var err error
	if changed("worker-index") {
		w.indexFrom = "--worker-index"
	} else if w.index, w.indexFrom, err = intFromEnv(getenv, workerIndexEnv, w.index, w.indexFrom); err != nil {
		return worker{}, err
	}
	if changed("worker-count") {
		w.countFrom = "--worker-count"
	} else if w.count, w.countFrom, err = intFromEnv(getenv, workerCountEnv, w.count, w.countFrom); err != nil {
		return worker{}, err
	}
	switch {
	case w.count < 1:
		return worker{}, usagef("%s %d: want 1 or more workers", w.countFrom, w.count)
	case w.index < 0:
		return worker{}, usagef("%s %d: want a worker index of 0 or more", w.indexFrom, w.index)
	case w.index >= w.count && w.countFrom == "default":
		return worker{}, usagef("%s %d, but no worker count: pass --worker-count, or set CREDREG_WORKER_COUNT "+
			"(in a Kubernetes Indexed Job, to the Job's completions)", w.indexFrom, w.index)
	case w.index >= w.count:
		return worker{}, usagef("%s %d is not a worker of %d (%s): want 0 to %d", w.indexFrom, w.index, w.count,
			w.countFrom, w.count-1)
	case w.count > 1 && w.indexFrom == "default":
		return worker{}, usagef("%s %d, but no worker index: pass --worker-index, or run as a Kubernetes Indexed Job "+
			"(JOB_COMPLETION_INDEX) or a Cloud Run job (CLOUD_RUN_TASK_INDEX)", w.countFrom, w.count)
	}
	// The flag's own words, as the errors above say them.
	w.indexFrom, w.countFrom = sourceWord(w.indexFrom), sourceWord(w.countFrom)
	return w, nil
}

// intFromEnv reads the first of names that is set, as a whole number; def
// and defFrom when none is.
func intFromEnv(getenv func(string) string, names []string, def int, defFrom string) (int, string, error) {
	for _, name := range names {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, "", usagef("%s %q: want a whole number", name, v)
		}
		return n, name, nil
	}
	return def, defFrom, nil
}

// sourceWord is a source as config check's settings table says it:
// "flag", "env (NAME)" or "default".
func sourceWord(from string) string {
	switch {
	case strings.HasPrefix(from, "--"):
		return "flag"
	case from != "default":
		return "env (" + from + ")"
	}
	return from
}

// shared says whether the run is spread over several workers.
func (w worker) shared() bool { return w.count > 1 }

// String is "worker 2 of 3".
func (w worker) String() string { return fmt.Sprintf("worker %d of %d", w.index, w.count) }

// rate is a limit as --app-rate says it, e.g. 40/10s.
func rate(n int, l extract.Limits) string { return fmt.Sprintf("%d/%s", n, l.AppWindow) }

// takeShare keeps in p.tenants the tenants this worker takes and says so:
// how many at info level, which at debug level. It reports false when the
// worker has none (nothing to do: not a failure). p.limits is already
// this worker's share (plan).
func (p *runPlan) takeShare(log *slog.Logger) bool {
	if !p.worker.shared() {
		return true
	}
	all := len(p.tenants)
	p.tenants = pipeline.AssignTenants(p.tenants, p.worker.index, p.worker.count)
	attrs := []any{"worker_index", p.worker.index, "worker_count", p.worker.count, "tenants", len(p.tenants),
		"tenants_in_config", all, "app_rate", rate(p.limits.App, p.limits)}
	if len(p.tenants) == 0 {
		log.Info(fmt.Sprintf("%s: no tenant falls to this worker (a stable hash of each tenant id spreads %d tenants over %d workers); nothing to do",
			p.worker, all, p.worker.count), attrs...)
		return false
	}
	log.Info(fmt.Sprintf("%s: taking %d of %d tenants", p.worker, len(p.tenants), all), attrs...)
	labels := make([]string, len(p.tenants))
	for i, t := range p.tenants {
		labels[i] = t.Label()
	}
	log.Debug("tenants of this worker", "worker_index", p.worker.index, "tenants", labels)
	if p.limits.App*p.worker.count > p.appRate {
		log.Warn(fmt.Sprintf("%d workers share an app rate of %s: each still takes 1 request a window, so together they may exceed it and Graph answer 429",
			p.worker.count, rate(p.appRate, p.limits)))
	}
	return true
}

// configWorker is config check's account of this worker's share; only
// when the run is spread over several workers.
type configWorker struct {
	Index       int      `json:"index"`
	Count       int      `json:"count"`
	IndexSource string   `json:"index_source"`
	CountSource string   `json:"count_source"`
	AppRate     string   `json:"app_rate"` // this worker's share of --app-rate
	Tenants     []string `json:"tenants"`  // the tenants it takes, as labels
	Of          int      `json:"of"`       // tenants in the config
}

// workerReport says what config check shows of the worker, and marks the
// settings: worker-index and worker-count with their values and sources
// (from plan, which reads the environment), app-rate with this worker's
// share. nil when the run is not spread.
func (p *runPlan) workerReport(settings []configSetting) *configWorker {
	for i, s := range settings {
		switch s.Name {
		case "worker-index":
			settings[i].Value, settings[i].Source = strconv.Itoa(p.worker.index), p.worker.indexFrom
		case "worker-count":
			settings[i].Value, settings[i].Source = strconv.Itoa(p.worker.count), p.worker.countFrom
		case "app-rate":
			if p.worker.shared() {
				settings[i].Value += fmt.Sprintf(" (this worker: %s, 1/%d)", rate(p.limits.App, p.limits), p.worker.count)
			}
		}
	}
	if !p.worker.shared() {
		return nil
	}
	c := &configWorker{Index: p.worker.index, Count: p.worker.count, IndexSource: p.worker.indexFrom,
		CountSource: p.worker.countFrom, AppRate: rate(p.limits.App, p.limits), Tenants: []string{}, Of: len(p.tenants)}
	for _, t := range pipeline.AssignTenants(p.tenants, p.worker.index, p.worker.count) {
		c.Tenants = append(c.Tenants, t.Label())
	}
	return c
}

// writeText prints the worker's share for a person.
func (c *configWorker) writeText(w io.Writer) {
	if c == nil {
		return
	}
	fmt.Fprintf(w, "\nworker %d of %d (index: %s; count: %s): app rate %s, tenants %d of %d", c.Index, c.Count,
		c.IndexSource, c.CountSource, c.AppRate, len(c.Tenants), c.Of)
	if len(c.Tenants) > 0 {
		fmt.Fprintf(w, ": %s", strings.Join(c.Tenants, ", "))
	}
	fmt.Fprintln(w)
}
