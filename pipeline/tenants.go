package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/credreg/credreg/extract"
)

// TenantSource is one tenant of a multi-tenant run and how to sign in to it.
type TenantSource struct {
	ID         string
	Name       string // a label for people, e.g. "contoso"; may be empty
	Credential extract.CredentialOptions
}

// Label names the tenant for people: "contoso (0b1e…)" or the id.
func (t TenantSource) Label() string {
	if t.Name == "" {
		return t.ID
	}
	return t.Name + " (" + t.ID + ")"
}

// RunOptions configure Run: Tenant carries the options every tenant shares
// (its Key.Tenant and Source.Credential are replaced per tenant).
type RunOptions struct {
	Tenant  Options
	Tenants []TenantSource
	// Concurrency is how many tenants run at once; 0 means enough to keep
	// the app-wide limit busy (app limit / per-tenant limit, rounded up).
	Concurrency int
	// Started, when set, is called as each tenant starts, and Finished
	// with each tenant's result as it ends. Calls are never concurrent.
	Started  func(TenantSource)
	Finished func(TenantResult)
}

// TenantResult is how one tenant of a run ended.
type TenantResult struct {
	Tenant   TenantSource
	Manifest *Manifest // nil when Err is set
	Err      error
}

// Result is the outcome of a run over a tenant set, in the order the
// tenants were given.
type Result struct {
	Tenants []TenantResult
}

// Failed returns the results that ended in an error.
func (r Result) Failed() []TenantResult {
	var out []TenantResult
	for _, t := range r.Tenants {
		if t.Err != nil {
			out = append(out, t)
		}
	}
	return out
}

// Err is nil when every tenant published; the tenant's own error for a run
// of one tenant; else a *PartialError naming each failed tenant (it wraps
// ErrPartial when some tenant published, else every tenant's error).
func (r Result) Err() error {
	failed := r.Failed()
	if len(failed) == 0 {
		return nil
	}
	if len(failed) == 1 && len(r.Tenants) == 1 {
		return failed[0].Err
	}
	return &PartialError{Failed: failed, Total: len(r.Tenants)}
}

// ErrPartial: some tenants of a run failed; the others published.
var ErrPartial = errors.New("some tenants failed")

// PartialError lists the tenants that failed and why.
type PartialError struct {
	Failed []TenantResult
	Total  int
	// What names what failed, "tenants" when empty; a backfill's are
	// "slices", each labelled with its date.
	What string
}

func (e *PartialError) Error() string {
	what := e.What
	if what == "" {
		what = "tenants"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d %s failed:", len(e.Failed), e.Total, what)
	for _, f := range e.Failed {
		fmt.Fprintf(&b, "\n  %s: %v", f.Tenant.Label(), f.Err)
	}
	return b.String()
}

// Unwrap returns ErrPartial when some tenant published, so errors.Is tells
// a partial run from a failed one; when none published it returns every
// tenant's error.
func (e *PartialError) Unwrap() []error {
	if len(e.Failed) < e.Total {
		return []error{ErrPartial}
	}
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}

// Run takes the snapshot of every tenant, side by side under one shared
// throttle. A tenant that fails does not stop the others: each publishes
// its own slice or nothing. Cancelling ctx stops them all.
func Run(ctx context.Context, o RunOptions) Result {
	if o.Tenant.RunID == "" {
		o.Tenant.RunID = NewRunID(time.Now())
	}
	if o.Tenant.Source.Throttle == nil {
		o.Tenant.Source.Throttle = extract.NewThrottle(extract.Limits{})
	}
	n := o.Concurrency
	if n <= 0 {
		l := o.Tenant.Source.Throttle.Limits()
		n = (l.App + l.PerTenant - 1) / l.PerTenant
	}
	results := make([]TenantResult, len(o.Tenants))
	var mu sync.Mutex // serializes the callbacks
	call := func(f func()) {
		mu.Lock()
		defer mu.Unlock()
		f()
	}
	p := pool.New().WithMaxGoroutines(max(1, min(n, len(o.Tenants))))
	for i, t := range o.Tenants {
		p.Go(func() {
			if o.Started != nil {
				call(func() { o.Started(t) })
			}
			to := o.Tenant
			to.Key.Tenant = t.ID
			to.Source.Credential = t.Credential
			m, err := RunTenant(ctx, to)
			results[i] = TenantResult{Tenant: t, Manifest: m, Err: err}
			if o.Finished != nil {
				call(func() { o.Finished(results[i]) })
			}
		})
	}
	p.Wait()
	return Result{Tenants: results}
}

// CheckTenants rejects an empty or repeated tenant list.
func CheckTenants(ts []TenantSource) error {
	if len(ts) == 0 {
		return errors.New("no tenant")
	}
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = strings.ToLower(t.ID)
	}
	sort.Strings(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			return fmt.Errorf("tenant %s is listed twice", ids[i])
		}
	}
	return nil
}
