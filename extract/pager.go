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
}

// Pages returns a pager over endpoint, optionally restricted by an OData
// $filter (one shard of the listing).
func (c *Client) Pages(endpoint schemas.Endpoint, filter string) *Pager {
	return &Pager{c: c, next: c.ReportURL(endpoint, filter)}
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
	if page.NextLink == p.next {
		// Following it would loop forever.
		p.err = fmt.Errorf("%w: page %d links to itself", ErrBadPage, p.seq)
		return Page{}, p.err
	}
	if page.NextLink == "" {
		p.done = true
	} else {
		p.next = page.NextLink
	}
	return page, nil
}

// Seq is the number of pages returned so far.
func (p *Pager) Seq() int64 { return p.seq }
