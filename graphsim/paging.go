package graphsim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const (
	// defaultTop is the page size without $top. Graph does not document the
	// default page size of this report; 100 is the common Graph default.
	defaultTop = 100
	maxTop     = 999
)

// listQuery is a parsed report request.
type listQuery struct {
	top    int
	filter string // as sent, "" for none
	pred   predicate
	token  string // $skiptoken, "" on the first page
	// keep is the raw query without $skiptoken, so the next link carries the
	// client's own $top and $filter verbatim.
	keep []string
}

func badRequest(code, format string, args ...any) error {
	return &graphError{http.StatusBadRequest, code, fmt.Sprintf(format, args...)}
}

// parseListQuery reads $top, $filter and $skiptoken; other options are
// ignored, as Graph ignores what a report does not support.
func parseListQuery(rep *report, raw string) (listQuery, error) {
	q := listQuery{top: defaultTop}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return q, badRequest("BadRequest", "Invalid percent-encoding in query option %q.", k)
		}
		key = strings.ToLower(key)
		switch key {
		case "$top", "$filter", "$skiptoken":
			if seen[key] {
				return q, badRequest("Request_BadRequest", "Query option '%s' was specified more than once, but it must be specified at most once.", key)
			}
			seen[key] = true
		}
		switch key {
		case "$top":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > maxTop || strings.TrimLeft(val, "0123456789") != "" {
				return q, badRequest("Request_UnsupportedQuery", "Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", val, maxTop)
			}
			q.top = n
		case "$filter":
			if strings.TrimSpace(val) == "" {
				return q, badRequest("Request_UnsupportedQuery", "The $filter query option is empty; leave it out to list every user.")
			}
			pred, err := parseFilter(rep, val)
			if err != nil {
				return q, badRequest("Request_UnsupportedQuery", "%s", err.Error())
			}
			q.filter, q.pred = val, pred
		case "$skiptoken":
			q.token = val
			continue
		}
		q.keep = append(q.keep, part)
	}
	return q, nil
}

// pageToken is the state a $skiptoken carries: which page comes next,
// where it starts, and the day whose data the listing serves, so that a
// listing that spans midnight stays on one day. The position is an index
// into the day's universe (every user who exists at some tick of it, in
// the day's listing order, see listingKey) and how many of that user's items (its record, then its
// defects) were served already: it stays valid while users appear,
// change and vanish under Churn.
type pageToken struct {
	page   uint32 // 1-based number of the page this token fetches
	offset uint32 // universe index of the next user
	sub    uint32 // items of that user already served
	day    int32
}

const (
	tokenVersion = 2
	tokenBody    = 1 + 4 + 4 + 4 + 4 + 8 // version, page, offset, sub, day, query hash
	tokenMACLen  = 16
)

var errPageToken = &graphError{http.StatusBadRequest, "Directory_ExpiredPageToken",
	"The specified page token value has expired and can no longer be included in your request."}

// queryHash binds a token to its tenant, report and query, and to the
// churn that shapes the day's universe.
func queryHash(rep *report, tenant string, q listQuery, c Churn) []byte {
	h := sha256.Sum256([]byte(string(rep.endpoint) + "\x00" + tenant + "\x00" + strconv.Itoa(q.top) + "\x00" + q.filter +
		"\x00" + fmt.Sprint(c)))
	return h[:8]
}

func (s *Server) encodePageToken(tok pageToken, qh []byte) string {
	b := make([]byte, 0, tokenBody+tokenMACLen)
	b = append(b, tokenVersion)
	b = binary.BigEndian.AppendUint32(b, tok.page)
	b = binary.BigEndian.AppendUint32(b, tok.offset)
	b = binary.BigEndian.AppendUint32(b, tok.sub)
	b = binary.BigEndian.AppendUint32(b, uint32(tok.day))
	b = append(b, qh...)
	b = append(b, s.pageMAC(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) decodePageToken(raw string, qh []byte) (pageToken, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(raw)
	if err != nil || len(b) != tokenBody+tokenMACLen || b[0] != tokenVersion {
		return pageToken{}, errPageToken
	}
	body, mac := b[:tokenBody], b[tokenBody:]
	if !hmac.Equal(mac, s.pageMAC(body)) || !bytes.Equal(body[17:], qh) {
		return pageToken{}, errPageToken
	}
	return pageToken{
		page:   binary.BigEndian.Uint32(body[1:]),
		offset: binary.BigEndian.Uint32(body[5:]),
		sub:    binary.BigEndian.Uint32(body[9:]),
		day:    int32(binary.BigEndian.Uint32(body[13:])),
	}, nil
}

func (s *Server) pageMAC(b []byte) []byte {
	m := hmac.New(sha256.New, s.pageKey)
	m.Write(b)
	return m.Sum(nil)[:tokenMACLen]
}

// servedPage is the response body of one report page (or looked-up
// record). empty reports a page left empty on purpose, defects how many
// injected records it holds.
type servedPage struct {
	body     []byte
	empty    bool
	defects  int
	withheld []string // ids of the user records Tenant.Withhold left out
}

// listed is one element of a listing: a user's record, or with defect > 0
// the bad record Tenant.Defects[defect-1], served after that user's.
type listed struct {
	user   *User
	defect int
}

// page builds one report page as the tenant's data is at tick: it walks
// the day's universe from the token's position, serving the users that
// exist at tick and match the $filter at tick, each followed by its
// defects. A page costs what the stretch of users it walks costs.
func (s *Server) page(r *http.Request, rep *report, t *tenantData, tick int64) (servedPage, error) {
	q, err := parseListQuery(rep, r.URL.RawQuery)
	if err != nil {
		return servedPage{}, err
	}
	qh := queryHash(rep, t.ID, q, s.opts.Churn)
	tok := pageToken{page: 1, day: int32(dayNumber(s.opts.Now()))}
	if q.token != "" {
		if tok, err = s.decodePageToken(q.token, qh); err != nil {
			return servedPage{}, err
		}
	}
	d := int(tok.day)
	uni := s.days.universe(t, d, s.opts.Churn)
	if int(tok.offset) > len(uni) {
		return servedPage{}, errPageToken
	}
	w := walker{t: t, uni: uni, rel: s.clocks[t.ID].rel(d, tick), pred: q.pred, pos: int(tok.offset), sub: int(tok.sub)}
	every := s.opts.EmptyPageEvery
	pg := servedPage{empty: every > 0 && tok.page%uint32(every) == 0}
	var records []listed
	if !pg.empty {
		records = w.take(q.top)
		if rep == reports[0] {
			records, pg.withheld = withhold(t, q.filter, tok.page, records)
		}
	}
	pg.empty = pg.empty && w.more()
	next := ""
	if w.more() {
		nt := s.encodePageToken(pageToken{page: tok.page + 1, offset: uint32(w.pos), sub: uint32(w.sub), day: tok.day}, qh)
		next = "https://" + r.Host + r.URL.Path + "?" + strings.Join(append(q.keep, "$skiptoken="+nt), "&")
	}
	for _, l := range records {
		if l.defect > 0 {
			pg.defects++
		}
	}
	pg.body = encodePage(rep, t, next, records)
	return pg, nil
}

// walker steps through a listing's items at one relative tick: for each
// member that exists then and matches, its record and then its defects.
// (pos, sub) is the next item: member pos, after sub of its items.
type walker struct {
	t        *tenantData
	uni      []member
	rel      int64
	pred     predicate
	pos, sub int
}

// items are the listing items of member i: none when it does not exist or
// match at the walker's tick, else its record and its defects.
func (w *walker) items(i int) (*User, []int) {
	m := &w.uni[i]
	u := m.at(w.rel)
	if u == nil || (w.pred != nil && !w.pred(u)) {
		return nil, nil
	}
	if m.frozen < 0 {
		return u, nil
	}
	return u, w.t.defectsAfter[int(m.frozen)]
}

// take returns up to n items from the walker's position and moves past them.
func (w *walker) take(n int) []listed {
	var out []listed
	for ; w.pos < len(w.uni) && len(out) < n; w.pos, w.sub = w.pos+1, 0 {
		u, defects := w.items(w.pos)
		if u == nil {
			continue
		}
		for ; w.sub <= len(defects) && len(out) < n; w.sub++ {
			l := listed{user: u}
			if w.sub > 0 {
				l.defect = defects[w.sub-1] + 1
			}
			out = append(out, l)
		}
		if w.sub <= len(defects) {
			break // the page is full within this user's items
		}
	}
	return out
}

// more reports whether an item is left at or after the walker's position.
func (w *walker) more() bool {
	for i, sub := w.pos, w.sub; i < len(w.uni); i, sub = i+1, 0 {
		if u, defects := w.items(i); u != nil && sub <= len(defects) {
			return true
		}
	}
	return false
}

// encodePage writes the page as Graph does: context, next link, then value.
func encodePage(rep *report, t *tenantData, next string, records []listed) []byte {
	var b bytes.Buffer
	b.WriteString(`{"@odata.context":`)
	appendJSON(&b, rep.context)
	if next != "" {
		b.WriteString(`,"@odata.nextLink":`)
		appendJSON(&b, next)
	}
	b.WriteString(`,"value":[`)
	for i, l := range records {
		if i > 0 {
			b.WriteByte(',')
		}
		if l.defect > 0 {
			writeDefect(&b, rep, t, l.user, l.defect-1)
			continue
		}
		appendJSON(&b, rep.record(l.user))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// appendJSON appends v's JSON to b. Like Graph, it does not escape '&', '<'
// and '>' inside strings.
func appendJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only graphsim's own strings and structs get here.
		panic(fmt.Errorf("graphsim: encode page: %w", err))
	}
	b.Truncate(b.Len() - 1) // Encode's newline
}
