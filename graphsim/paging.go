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

// pageToken is the state a $skiptoken carries: which page comes next, where
// it starts, and the day whose data the listing serves, so that a listing
// that spans midnight stays one consistent snapshot.
type pageToken struct {
	page   uint32 // 1-based number of the page this token fetches
	offset uint32
	day    int32
}

const (
	tokenVersion = 1
	tokenBody    = 1 + 4 + 4 + 4 + 8 // version, page, offset, day, query hash
	tokenMACLen  = 16
)

var errPageToken = &graphError{http.StatusBadRequest, "Directory_ExpiredPageToken",
	"The specified page token value has expired and can no longer be included in your request."}

// queryHash binds a token to its tenant, report and query.
func queryHash(rep *report, tenant string, q listQuery) []byte {
	h := sha256.Sum256([]byte(string(rep.endpoint) + "\x00" + tenant + "\x00" + strconv.Itoa(q.top) + "\x00" + q.filter))
	return h[:8]
}

func (s *Server) encodePageToken(tok pageToken, qh []byte) string {
	b := make([]byte, 0, tokenBody+tokenMACLen)
	b = append(b, tokenVersion)
	b = binary.BigEndian.AppendUint32(b, tok.page)
	b = binary.BigEndian.AppendUint32(b, tok.offset)
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
	if !hmac.Equal(mac, s.pageMAC(body)) || !bytes.Equal(body[13:], qh) {
		return pageToken{}, errPageToken
	}
	return pageToken{
		page:   binary.BigEndian.Uint32(body[1:]),
		offset: binary.BigEndian.Uint32(body[5:]),
		day:    int32(binary.BigEndian.Uint32(body[9:])),
	}, nil
}

func (s *Server) pageMAC(b []byte) []byte {
	m := hmac.New(sha256.New, s.pageKey)
	m.Write(b)
	return m.Sum(nil)[:tokenMACLen]
}

// servedPage is the response body of one report page. empty reports a
// page left empty on purpose, defects how many injected records it holds.
type servedPage struct {
	body    []byte
	empty   bool
	defects int
}

// listed is one element of a listing: a user's record, or with defect > 0
// the bad record Tenant.Defects[defect-1], served after that user's.
type listed struct {
	user   *User
	defect int
}

// page builds one report page.
func (s *Server) page(r *http.Request, rep *report, t *tenantData) (servedPage, error) {
	q, err := parseListQuery(rep, r.URL.RawQuery)
	if err != nil {
		return servedPage{}, err
	}
	qh := queryHash(rep, t.ID, q)
	tok := pageToken{page: 1, day: int32(dayNumber(s.opts.Now()))}
	if q.token != "" {
		if tok, err = s.decodePageToken(q.token, qh); err != nil {
			return servedPage{}, err
		}
	}
	all := s.days.users(t, int(tok.day))
	// A defect goes with its user, so that every listing holding the user
	// (the whole report or one $filter shard) holds the defect too.
	matched := make([]listed, 0, len(all)+len(t.Defects))
	for i := range all {
		if q.pred == nil || q.pred(&all[i]) {
			matched = append(matched, listed{user: &all[i]})
			for _, j := range t.defectsAfter[i] {
				matched = append(matched, listed{user: &all[i], defect: j + 1})
			}
		}
	}
	off := int(tok.offset)
	if off > len(matched) {
		return servedPage{}, errPageToken
	}
	every := s.opts.EmptyPageEvery
	pg := servedPage{empty: every > 0 && tok.page%uint32(every) == 0 && off < len(matched)}
	var records []listed
	if !pg.empty {
		records = matched[off:min(off+q.top, len(matched))]
	}
	next := ""
	if end := off + len(records); end < len(matched) {
		nt := s.encodePageToken(pageToken{page: tok.page + 1, offset: uint32(end), day: tok.day}, qh)
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
