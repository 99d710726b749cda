package extract

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/credreg/credreg/schemas"
)

// Pager walks one report listing by its next links, in order. It is not
// safe for concurrent use; run one pager per shard.
type Pager struct {
	c    *Client
	next string
	seq  int64
	done bool
	err  error
	// visited holds every link followed, to stop a cycle of next links.
	visited map[string]struct{}
}

// Pages returns a pager over endpoint, optionally restricted by an OData
// $filter (one shard of the listing).
func (c *Client) Pages(endpoint schemas.Endpoint, filter string) *Pager {
	first := c.ReportURL(endpoint, filter)
	return &Pager{c: c, next: first, visited: map[string]struct{}{first: {}}}
}

// Next returns the next page, or io.EOF after the last. A failed page is
// retried from the last good link (a link obtained during a failed request
// is never used); once Next returns an error other than io.EOF the pager
// is done and returns that error again.
func (p *Pager) Next(ctx context.Context) (Page, error) {
	if p.err != nil {
		return Page{}, p.err
	}
	if p.done {
		return Page{}, io.EOF
	}
	page, err := p.c.fetch(ctx, p.next)
	if err != nil {
		var pe *PageError
		if errors.As(err, &pe) {
			pe.Seq = p.seq + 1
		}
		p.err = err
		return Page{}, err
	}
	p.seq++
	if _, seen := p.visited[page.NextLink]; seen {
		// Following it would loop forever, landing the same pages again.
		p.err = fmt.Errorf("%w: page %d links back to a page already read", ErrBadPage, p.seq)
		return Page{}, p.err
	}
	p.visited[page.NextLink] = struct{}{}
	if page.NextLink == "" {
		p.done = true
	} else {
		p.next = page.NextLink
	}
	return page, nil
}

// Link is the link the next call to Next fetches: the last good next link.
func (p *Pager) Link() string { return p.next }

// Seq is the number of pages returned so far.
func (p *Pager) Seq() int64 { return p.seq }
