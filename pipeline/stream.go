package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/sourcegraph/conc/pool"

	"github.com/credreg/credreg/extract"
)

// landedPage is a page on its way from a shard to the transformer.
type landedPage struct {
	seq   int64 // the run's page number, the raw file's and rejected_records.page_seq
	shard string
	page  extract.Page
}

// stream reads every shard of the plan side by side, lands each page in the
// raw zone, and feeds the transformer from one goroutine, which writes the
// batches to sw. The shards share the client and so the tenant's throttle.
// The first shard goes alone until it has handed on a page with records
// (or ended): a Graph that refuses the plan's $filter then fails one
// request, not all of them, and one that ignores it is caught on a page
// that can show it — an empty page proves nothing. The first error cancels
// everything.
func (r *tenantRun) stream(ctx context.Context, sw SliceWriter) error {
	pages := make(chan landedPage, 2*len(r.plan))
	p := pool.New().WithContext(ctx).WithCancelOnError().WithFirstError()
	p.Go(func(ctx context.Context) error {
		shards := pool.New().WithContext(ctx).WithCancelOnError().WithFirstError()
		ready := make(chan bool, 1)
		var once sync.Once
		signal := func(ok bool) { once.Do(func() { ready <- ok }) }
		shards.Go(func(ctx context.Context) error {
			err := r.readShard(ctx, r.plan[0], pages, func() { signal(true) })
			signal(err == nil)
			return err
		})
		select {
		case ok := <-ready:
			if !ok {
				break
			}
			for _, shard := range r.plan[1:] {
				shards.Go(func(ctx context.Context) error {
					return r.readShard(ctx, shard, pages, nil)
				})
			}
		case <-ctx.Done():
		}
		err := shards.Wait()
		close(pages)
		return err
	})
	p.Go(func(ctx context.Context) error {
		for lp := range pages {
			r.counts.Pages++
			if len(lp.page.Records) == 0 {
				r.counts.EmptyPages++
			}
			if lp.page.Salvaged {
				r.counts.SalvagedPages++
			}
			if err := r.writeAll(ctx, sw, r.tr.AddShardPage(lp.seq, lp.shard, lp.page.ReceivedAt, lp.page.Records)); err != nil {
				return err
			}
			r.progress(false)
		}
		return ctx.Err()
	})
	return p.Wait()
}

// readShard pages through one shard, landing each page before handing it on.
// proven, when set, makes it check its pages against the shard's filter
// until one with records passes, and is then called once.
func (r *tenantRun) readShard(ctx context.Context, shard extract.Shard, out chan<- landedPage, proven func()) error {
	pager := r.client.Pages(r.o.Endpoint, shard.Filter)
	for read := 0; ; read++ {
		link := pager.Link()
		page, err := pager.Next(pagePriority(ctx, shard, read))
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return r.shardError(ctx, shard, r.seq.Add(1), link, err)
		}
		if proven != nil {
			// A Graph that ignored the filter would hand every shard
			// the whole listing.
			if err := shard.Check(page); err != nil {
				return err
			}
		}
		n := r.seq.Add(1)
		if _, err := r.raw.Land(ctx, n, shard.Name, page); err != nil {
			return err
		}
		select {
		case out <- landedPage{seq: n, shard: shard.Name, page: page}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if proven != nil && len(page.Records) > 0 {
			proven()
			proven = nil
		}
	}
}

// pagePriority is ctx with the priority of a shard's next page when read
// pages were read already: its pages left by the plan (see
// extract.PlanFromIndex), at least one while the chain runs longer than
// planned. A plan without counts (a tenant's first run) sets none, so its
// shards are served in turn.
func pagePriority(ctx context.Context, shard extract.Shard, read int) context.Context {
	if shard.Pages <= 0 {
		return ctx
	}
	return extract.WithPriority(ctx, max(shard.Pages-read, 1))
}

// shardError names where a shard failed. A body that was not a report
// page is landed in the raw zone so a person can see what Graph sent.
func (r *tenantRun) shardError(ctx context.Context, shard extract.Shard, seq int64, link string, err error) error {
	where := fmt.Sprintf("shard %s", shard.Name)
	if shard.Filter != "" {
		where += fmt.Sprintf(" ($filter=%s)", shard.Filter)
	}
	var pe *extract.PageError
	if !errors.As(err, &pe) || pe.Body == nil || ctx.Err() != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	key, lerr := r.raw.LandInvalid(ctx, seq, shard.Name, pe, link)
	if lerr != nil {
		return fmt.Errorf("%s: %w (and it could not be landed: %v)", where, err, lerr)
	}
	return fmt.Errorf("%s: %w; the body Graph sent is in %s (page %d of the run)", where, err, r.rawFile(key), seq)
}

// rawFile is the location of a raw object a person can open.
func (r *tenantRun) rawFile(key string) string {
	if r.o.RawURL == "" {
		return key
	}
	return r.o.RawURL + "/" + key
}
