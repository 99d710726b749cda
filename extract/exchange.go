package extract

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/credreg/credreg/internal/odata"
)

// Page is one response of a report listing.
type Page struct {
	URL        string // the link it was fetched from
	Body       []byte // exactly as received
	NextLink   string // "" on the last page
	Records    []odata.Record
	Salvaged   bool // the body was not valid JSON; some records carry Err
	ReceivedAt time.Time
	Attempts   int // requests it took, 1 when nothing was retried
}

// FetchPage makes one request for link, without retrying. The error's
// class (see Class) says whether a retry may help; a 401 is returned as
// Unauthorized after the caller's token was refused.
func (c *Client) FetchPage(ctx context.Context, link string, refreshToken bool) (Page, error) {
	a, err := c.exchange(ctx, link, refreshToken)
	if err != nil {
		return Page{}, err
	}
	p, err := odata.Split(a.body)
	if err != nil {
		return Page{}, &PageError{Err: err, Body: a.body}
	}
	return Page{URL: link, Body: a.body, NextLink: p.NextLink, Records: p.Records, Salvaged: p.Salvaged,
		ReceivedAt: a.received, Attempts: 1}, nil
}

// answer is what one request got back.
type answer struct {
	body     []byte // exactly as received, at most the cap
	received time.Time
}

// exchange makes one GET of link on the Graph host: it waits for the
// throttle, takes a token (a fresh one when refresh), sends, and reads the
// body up to the cap. Every request of the package goes through it, so a
// page and a lookup are throttled, authorised and classified alike. A
// status other than 200 is returned as *GraphError together with the
// answer, whose body the caller may keep (a lookup's 404).
func (c *Client) exchange(ctx context.Context, link string, refresh bool) (answer, error) {
	u, err := url.Parse(link)
	if err != nil {
		return answer{}, fmt.Errorf("%w: bad next link: %v", ErrBadRequest, err)
	}
	if !sameHost(u, c.base) {
		return answer{}, &ForeignHostError{Host: u.Host, Want: c.base.Host}
	}
	// The token is asked for after the wait, which can be long (a
	// Retry-After, a backed-off rate): a token taken before could expire
	// in between. A slow token fetch does not spend the slot early:
	// Slot.Sent moves it to when the request is written.
	slot, waited, err := c.throttle.Wait(ctx, c.tenant)
	c.stats.throttleWait.Add(int64(waited))
	if err != nil {
		return answer{}, err
	}
	tro := policy.TokenRequestOptions{Scopes: []string{c.scope}}
	if refresh {
		tro.Claims = tokenClaimsRefresh(time.Now().Unix())
		c.stats.tokenRefreshes.Add(1)
	}
	tok, err := c.cred.GetToken(ctx, tro)
	if err != nil {
		if ctx.Err() != nil {
			return answer{}, ctx.Err()
		}
		return answer{}, classifyTokenError(err)
	}
	// The timeout covers the whole exchange, body included: a server that
	// stalls mid-body must not hang a nightly run.
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// Graph counts a request when it arrives: the slot is moved to each
	// write, including a second one on a fresh connection after a dead
	// keep-alive connection ate the first.
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { slot.Sent(time.Now()) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(rctx, trace), http.MethodGet, link, nil)
	if err != nil {
		return answer{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "credreg")
	c.stats.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return answer{}, ctx.Err()
		}
		if fh := asForeignHost(err); fh != nil {
			return answer{}, fh
		}
		return answer{}, &TransportError{Op: "request", Err: stripURL(err)}
	}
	defer resp.Body.Close()
	body, err := c.readBody(resp)
	if err != nil {
		if ctx.Err() != nil {
			return answer{}, ctx.Err()
		}
		return answer{}, err
	}
	a := answer{body: body, received: time.Now().UTC()}
	if resp.StatusCode != http.StatusOK {
		ge := graphError(resp, body)
		if ge.Class == Throttled {
			c.stats.throttled.Add(1)
		}
		return a, ge
	}
	c.throttle.Succeeded(c.tenant)
	return a, nil
}

// readBody reads a response body up to the client's cap. A body past the
// cap is a transport fault: a proxy gone wrong or a broken stream, which
// a retry may not repeat; if it does, the retries end the run.
func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	tooLarge := &TransportError{Op: "read body", Err: fmt.Errorf("%w: more than %d bytes (the cap, ClientOptions.MaxBodyBytes)",
		ErrBodyTooLarge, c.maxBody)}
	if resp.ContentLength > c.maxBody {
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, &TransportError{Op: "read body", Err: stripURL(err)}
	}
	if int64(len(body)) > c.maxBody {
		return nil, tooLarge
	}
	return body, nil
}

func graphError(resp *http.Response, body []byte) *GraphError {
	ge := &GraphError{Status: resp.StatusCode, Class: classifyStatus(resp.StatusCode),
		RequestID: resp.Header.Get("request-id")}
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil {
		ge.Code, ge.Message = env.Error.Code, env.Error.Message
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && s >= 0 {
			ge.RetryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			ge.RetryAfter = max(time.Until(t), 0)
		}
	}
	return ge
}
