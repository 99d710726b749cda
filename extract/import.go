package extract

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"gocloud.dev/blob"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

// ImportOptions say where an import lands.
type ImportOptions struct {
	Bucket   *blob.Bucket // the raw zone
	Key      schemas.Key  // date and tenant (lowercase) the pages are landed under
	Endpoint schemas.Endpoint
	RunID    string // the new raw run's id (the caller makes it with pipeline.NewRunID)
	// PageSize is the records per landed page for record files; 0 means
	// MaxPageSize, the size of Graph's own pages.
	PageSize int
	// Now stamps received_at on every page; nil means time.Now. A saved
	// export does not say when Graph sent it.
	Now func() time.Time
}

// ImportFile is one saved export: Name (its base name is used in errors
// and the index) and Open.
type ImportFile struct {
	Name string
	Open func() (io.ReadCloser, error)
}

// ErrNotExport: a file is none of the formats Import reads (an HTML error
// page, a CSV, a JSON value that is neither a page nor records), or is
// damaged (truncated, a bad gzip stream, junk after its values, a record
// where a page belongs, a page or line past the body cap). Reading it
// again will not help. A failure to open or read the file is not
// ErrNotExport.
var ErrNotExport = errors.New("not a saved Graph response")

// ImportError says which file, and where in it, stopped an import.
type ImportError struct {
	File string // base name
	// Line is the 1-based line of the decompressed file where the
	// offending page, record or byte starts; 0 when the file could not be
	// opened.
	Line int
	Err  error
}

func (e *ImportError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("import %s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("import %s, line %d: %v", e.File, e.Line, e.Err)
}

func (e *ImportError) Unwrap() error { return e.Err }

// Import lands every page of files, in order (file order, then page or
// line order), as one new raw run marked Imported, and writes its index
// Complete. On any error it writes the index with Complete=false (the run
// stays for inspection and is never replayed) and returns an
// *ImportError naming the file and the line. Options that are wrong land
// nothing.
//
// A file holds one page as Graph sends it, a JSON array of records, JSON
// Lines of records, records pretty-printed one after another (as
// PowerShell's ConvertTo-Json writes one item), or JSON Lines of pages
// (or pages pretty-printed one after another), optionally gzip-compressed
// (known by its magic bytes), with or without a UTF-8 byte order mark. A
// UTF-16 file (Windows PowerShell 5.1's Out-File default) is refused with
// ErrNotExport and a message saying how to save it as UTF-8.
// Pages keep their bytes exactly as saved. Records are cut into pages of
// PageSize, landed as {"value":[…]} around the records' own bytes. A
// record line that is not JSON is landed too, so that the data contract
// rejects it as one record: verbatim when odata.Split would see it as one
// element, else as an invalid element quoting the line (a line whose
// brackets do not balance would otherwise swallow its neighbours).
//
// Files are streamed: one page, or one page's worth of records, is held
// at a time, and no page, line or array element may exceed
// DefaultMaxBodyBytes (ErrBodyTooLarge).
//
// Every fault of a file's content (see ErrNotExport) satisfies
// errors.Is(err, ErrNotExport) besides wrapping its cause; a failure to
// open or read a file, or to land a page, does not.
func Import(ctx context.Context, files []ImportFile, o ImportOptions) (RawIndex, error) {
	switch {
	case o.Bucket == nil:
		return RawIndex{}, errors.New("import: no raw zone bucket")
	case o.RunID == "":
		return RawIndex{}, errors.New("import: no run id")
	case len(files) == 0:
		return RawIndex{}, errors.New("import: no files")
	case o.PageSize < 0:
		return RawIndex{}, fmt.Errorf("import: page size %d", o.PageSize)
	}
	if o.PageSize == 0 {
		o.PageSize = MaxPageSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// The replay reads the pages of the index's plan: the unsharded plan
	// a run that read the listing whole would record.
	plan, err := PlanShards(o.Endpoint, 1)
	if err != nil {
		return RawIndex{}, fmt.Errorf("import: %w", err)
	}
	key := o.Key
	key.Tenant = strings.ToLower(key.Tenant)
	im := &importer{zone: NewRawZone(o.Bucket, key, o.Endpoint, o.RunID), o: o, shard: plan[0].Name}
	idx := RawIndex{Tenant: key.Tenant, SnapshotDate: key.DateString(), Endpoint: o.Endpoint, RunID: o.RunID,
		Shards: plan, Listing: "unsharded", Imported: true}
	for _, f := range files {
		idx.Sources = append(idx.Sources, baseName(f.Name))
	}
	for _, f := range files {
		if err = im.file(ctx, f); err != nil {
			break
		}
	}
	if err != nil {
		if ferr := im.zone.Finish(context.WithoutCancel(ctx), idx, false); ferr != nil {
			err = errors.Join(err, ferr)
		}
		idx.Prefix = im.zone.Prefix()
		return idx, err
	}
	if err := im.zone.Finish(ctx, idx, true); err != nil {
		return RawIndex{}, fmt.Errorf("import: %w", err)
	}
	return ReadRawIndex(ctx, o.Bucket, im.zone.Prefix())
}

// baseName drops the directories of a path written with either slash, so
// that a Windows path names its file on any system.
func baseName(name string) string {
	return name[strings.LastIndexAny(name, `/\`)+1:]
}

// importer lands the pages of one import run.
type importer struct {
	zone  *RawZone
	o     ImportOptions
	shard string
	seq   int64
}

func (im *importer) file(ctx context.Context, f ImportFile) (err error) {
	name := baseName(f.Name)
	rc, err := f.Open()
	if err != nil {
		return &ImportError{File: name, Err: err}
	}
	defer rc.Close()
	fr := &fileImport{im: im, name: name}
	in := bufio.NewReader(sourceReader{rc})
	if magic, _ := in.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(in)
		if err != nil {
			return &ImportError{File: name, Line: 1, Err: notExport(fmt.Errorf("gzip: %w", err))}
		}
		defer gz.Close()
		fr.r = newExportReader(gz)
	} else {
		fr.r = newExportReader(in)
	}
	if err := fr.read(ctx); err != nil {
		var ie *ImportError
		if errors.As(err, &ie) {
			return err
		}
		return &ImportError{File: name, Line: fr.r.line, Err: err}
	}
	return nil
}

// fileImport reads one file and lands its pages.
type fileImport struct {
	im    *importer
	name  string
	r     *exportReader
	pages int // landed from this file, for the page URLs
	batch recordBatch
}

func (fr *fileImport) fail(line int, err error) error {
	return &ImportError{File: fr.name, Line: line, Err: err}
}

// bad is fail for an error of reading the file: its content's fault
// (ErrNotExport) unless reading itself failed.
func (fr *fileImport) bad(line int, err error) error {
	return fr.fail(line, notExport(err))
}

// notExport marks err, met reading a file, as the file's fault
// (ErrNotExport), keeping its cause, unless it is a *readError: the
// bucket or disk failed, and a retry may succeed.
func notExport(err error) error {
	var re *readError
	if errors.Is(err, ErrNotExport) || errors.As(err, &re) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNotExport, err)
}

// readError is a failure to read a file's bytes, as opposed to a fault
// in the bytes read: it is told apart below the gzip reader, which turns
// a damaged stream into errors of its own.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// sourceReader marks the errors of the file's own reader as *readError.
type sourceReader struct{ r io.Reader }

func (s sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &readError{err}
	}
	return n, err
}

// read tells the format from the first bytes and lands the file's pages.
func (fr *fileImport) read(ctx context.Context) error {
	if fr.r.utf16() {
		return fr.fail(1, fmt.Errorf("%w: the file is UTF-16 text (Windows PowerShell's Out-File and > write it); "+
			"save it as UTF-8, e.g. with Out-File -Encoding utf8, and import that", ErrNotExport))
	}
	c, err := fr.r.skipSpace()
	if errors.Is(err, io.EOF) {
		return fr.flush(ctx, true) // an empty file is an empty listing
	}
	if err != nil {
		return fr.bad(fr.r.line, err)
	}
	switch {
	case c == '[':
		return fr.readArray(ctx)
	case c == '{' && fr.r.looksLikePage():
		return fr.readPages(ctx)
	case c == '{' && fr.r.firstLineOpen():
		return fr.readRecordValues(ctx)
	case c == '{':
		return fr.readRecordLines(ctx)
	}
	return fr.fail(fr.r.line, fmt.Errorf("%w: it starts with %q, not a JSON page, array or record", ErrNotExport, c))
}

// readPages lands each JSON value of the file as a page, bytes as saved.
func (fr *fileImport) readPages(ctx context.Context) error {
	for {
		c, err := fr.r.skipSpace()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fr.bad(fr.r.line, err)
		}
		line := fr.r.line
		if c != '{' {
			return fr.fail(line, fmt.Errorf("%w: after page %d, want another page, found %q", ErrNotExport, fr.pages, c))
		}
		body, err := fr.r.readValue()
		if err != nil {
			return fr.bad(line, fmt.Errorf("page %d: %w", fr.pages+1, err))
		}
		p, err := odata.Split(body)
		if err != nil {
			var se *odata.SyntaxError
			if errors.As(err, &se) {
				line += bytes.Count(body[:min(int(se.Offset), len(body))], []byte("\n"))
			}
			return fr.bad(line, fmt.Errorf("page %d: %w", fr.pages+1, err))
		}
		if err := fr.land(ctx, body, len(p.Records)); err != nil {
			return fr.fail(line, err)
		}
	}
}

// readArray lands the elements of a JSON array of records.
func (fr *fileImport) readArray(ctx context.Context) error {
	fr.r.discard() // '['
	for n := 0; ; n++ {
		line := fr.r.line
		el, closed, err := fr.r.readElement()
		if err != nil {
			return fr.bad(line, err)
		}
		// An empty element ("[1,,2]", "[1,]") is kept, as odata.Split
		// keeps it, so that nothing between two commas vanishes unseen;
		// "[]" is no element.
		if len(el) > 0 || !closed || n > 0 {
			if err := fr.add(ctx, el); err != nil {
				return fr.fail(line, err)
			}
		}
		if closed {
			break
		}
	}
	if c, err := fr.r.skipSpace(); err == nil {
		return fr.fail(fr.r.line, fmt.Errorf("%w: %q follows the array", ErrNotExport, c))
	} else if !errors.Is(err, io.EOF) {
		return fr.bad(fr.r.line, err)
	}
	return fr.flush(ctx, true)
}

// readRecordLines lands JSON Lines of records, a line a record.
func (fr *fileImport) readRecordLines(ctx context.Context) error {
	for {
		line := fr.r.line
		text, err := fr.r.readLine()
		if errors.Is(err, io.EOF) {
			return fr.flush(ctx, true)
		}
		if err != nil {
			return fr.bad(line, err)
		}
		text = bytes.TrimSpace(text)
		if len(text) == 0 {
			continue
		}
		if err := fr.addRecord(ctx, text); err != nil {
			return fr.fail(line, err)
		}
	}
}

// readRecordValues lands a stream of JSON objects, records, each over as
// many lines as it likes: PowerShell's ConvertTo-Json writes one item as
// one pretty-printed object, not an array, and a script appending items
// writes such objects one after another. Only objects may follow one
// another; anything else is ErrNotExport.
func (fr *fileImport) readRecordValues(ctx context.Context) error {
	for n := 0; ; n++ {
		c, err := fr.r.skipSpace()
		if errors.Is(err, io.EOF) {
			return fr.flush(ctx, true)
		}
		if err != nil {
			return fr.bad(fr.r.line, err)
		}
		line := fr.r.line
		if c != '{' {
			return fr.fail(line, fmt.Errorf("%w: after record %d, want another record, found %q", ErrNotExport, n, c))
		}
		rec, err := fr.r.readValue()
		if err != nil {
			return fr.bad(line, fmt.Errorf("record %d: %w", n+1, err))
		}
		if err := fr.addRecord(ctx, rec); err != nil {
			return fr.fail(line, err)
		}
	}
}

// addRecord adds a record as read, unless odata.Split would not see it as
// one element: then a quoted copy of it, which the data contract rejects
// as one record without swallowing its neighbours.
func (fr *fileImport) addRecord(ctx context.Context, rec []byte) error {
	if !odata.Valid(rec) && !oneElement(rec) {
		rec = quoteLine(rec)
	}
	return fr.add(ctx, rec)
}

// add puts a record into the page being built, landing the page when it
// is full or would pass the body cap. An empty element (of an array such
// as "[1,,2]") never starts a page and a page is never one empty element
// alone: odata reads "[]" as no element, so such a page would lose it.
// The page then holds a record more than PageSize.
func (fr *fileImport) add(ctx context.Context, rec []byte) error {
	b := &fr.batch
	if len(rec) > 0 && b.n > 0 && !(b.n == 1 && b.firstEmpty) &&
		(b.n >= fr.im.o.PageSize || len(b.body)+len(rec)+3 > DefaultMaxBodyBytes) {
		if err := fr.flush(ctx, false); err != nil {
			return err
		}
	}
	fr.batch.add(rec)
	return nil
}

// flush lands the records gathered so far. At the end of a file it lands
// an empty page when the file had no record at all.
func (fr *fileImport) flush(ctx context.Context, last bool) error {
	if fr.batch.n == 0 && !(last && fr.pages == 0) {
		return nil
	}
	body := fr.batch.finish()
	p, err := odata.Split(body)
	if err != nil {
		return fmt.Errorf("%w: %w", errEnvelope, err)
	}
	if len(p.Records) != fr.batch.n {
		return fmt.Errorf("%w: %d elements, not %d", errEnvelope, len(p.Records), fr.batch.n)
	}
	fr.batch.n = 0
	return fr.land(ctx, body, len(p.Records))
}

func (fr *fileImport) land(ctx context.Context, body []byte, records int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fr.pages++
	fr.im.seq++
	page := Page{URL: fmt.Sprintf("import:%s#%d", fr.name, fr.pages), Body: body,
		Records: make([]odata.Record, records), ReceivedAt: fr.im.o.Now().UTC()}
	_, err := fr.im.zone.Land(ctx, fr.im.seq, fr.im.shard, page)
	return err
}

// errEnvelope: the records of a page did not split back into themselves.
// Elements are cut by odata's own rules, so this is a bug, checked here
// rather than found by a replay.
var errEnvelope = errors.New("records made a page that odata does not split into them")

// recordBatch builds a page envelope around records' bytes, without
// decoding them again.
type recordBatch struct {
	body       []byte
	n          int
	firstEmpty bool
}

func (b *recordBatch) add(rec []byte) {
	if b.n == 0 {
		b.firstEmpty = len(rec) == 0
		b.body = append(b.body[:0], `{"value":[`...)
	} else {
		b.body = append(b.body, ',')
	}
	b.body = append(b.body, rec...)
	b.n++
}

func (b *recordBatch) finish() []byte {
	if b.n == 0 {
		b.body = append(b.body[:0], `{"value":[`...)
	}
	return append(b.body, "]}"...)
}

// oneElement reports whether odata.Split, meeting rec inside a value
// array, would take it as exactly one element: no comma or ']' outside
// strings and brackets, every bracket closed, no string left open.
func oneElement(rec []byte) bool {
	var s odata.ElementSplitter
	for _, c := range rec {
		if s.Step(c) != odata.SplitNone {
			return false
		}
	}
	return s.Depth() == 0 && !s.InString()
}

// quoteLine turns a record line that would not be one element into one
// element that is still not JSON, holding the line as a JSON string, so
// the data contract rejects it and a person can read it.
func quoteLine(line []byte) []byte {
	out := append([]byte(nil), `invalid JSON line quoted by credreg import: "`...)
	for _, c := range line {
		switch {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c < 0x20:
			out = fmt.Appendf(out, `\u%04x`, c)
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}

// exportReader reads a saved export, counting lines for errors.
type exportReader struct {
	r    *bufio.Reader
	line int    // 1-based line of the next byte
	buf  []byte // the last value, element or line; reused
}

// peekSize bounds how far looksLikePage looks for a page's "value": Graph
// writes it after @odata.context (and @odata.count), well within this.
const peekSize = 64 << 10

func newExportReader(r io.Reader) *exportReader {
	br := bufio.NewReaderSize(r, peekSize)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte{0xef, 0xbb, 0xbf}) {
		br.Discard(3)
	}
	return &exportReader{r: br, line: 1}
}

// utf16 reports whether the file starts with a UTF-16 byte order mark,
// either way round. It peeks: nothing is consumed.
func (r *exportReader) utf16() bool {
	b, _ := r.r.Peek(2)
	return bytes.Equal(b, []byte{0xff, 0xfe}) || bytes.Equal(b, []byte{0xfe, 0xff})
}

// skipSpace moves past whitespace and returns the next byte, unread.
func (r *exportReader) skipSpace() (byte, error) {
	for {
		b, err := r.r.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case '\n':
			r.line++
		case ' ', '\t', '\r':
		default:
			return b[0], nil
		}
		r.r.Discard(1)
	}
}

// discard drops the byte skipSpace returned.
func (r *exportReader) discard() { r.r.Discard(1) }

// looksLikePage reports whether the object about to be read has a
// top-level "value" property holding an array, as a page has and a
// record never does. It peeks: nothing is consumed. Properties before
// "value" are skipped by span, so an object that is not JSON, or whose
// first properties do not fit in the peek, is taken for a record.
func (r *exportReader) looksLikePage() bool {
	b, _ := r.r.Peek(peekSize)
	c := odata.NewCursor(b)
	c.Seek(1) // past '{'
	for {
		c.Space()
		start := c.Pos()
		if start >= len(b) || b[start] != '"' || !c.SkipString() {
			return false
		}
		name := string(b[start:c.Pos()])
		c.Space()
		if !c.Next(':') {
			return false
		}
		c.Space()
		if c.Pos() >= len(b) {
			return false
		}
		if name == `"value"` {
			return b[c.Pos()] == '['
		}
		if !c.SkipValue() {
			return false
		}
		c.Space()
		if !c.Next(',') {
			return false
		}
	}
}

func (r *exportReader) next() (byte, error) {
	c, err := r.r.ReadByte()
	if err != nil {
		return 0, err
	}
	if c == '\n' {
		r.line++
	}
	r.buf = append(r.buf, c)
	if len(r.buf) > DefaultMaxBodyBytes {
		return 0, fmt.Errorf("%w: more than %d bytes in one page, record or line", ErrBodyTooLarge, DefaultMaxBodyBytes)
	}
	return c, nil
}

// firstLineOpen reports whether the object about to be read is still
// open at the end of its first line, as a pretty-printed one is: a file
// of such records is not JSON Lines. A line that ends inside a string is
// no pretty-printed JSON (a JSON string holds no raw newline), and a
// first line longer than the peek is taken for a JSON Lines record. It
// peeks: nothing is consumed.
func (r *exportReader) firstLineOpen() bool {
	b, _ := r.r.Peek(peekSize)
	end := bytes.IndexByte(b, '\n')
	if end < 0 {
		return false
	}
	var s odata.ElementSplitter
	for _, c := range b[:end] {
		s.Step(c)
	}
	return s.Depth() > 0 && !s.InString()
}

// readValue reads the object starting at the next byte, up to the bracket
// that closes it, as odata's scanner would delimit it.
func (r *exportReader) readValue() ([]byte, error) {
	r.buf = r.buf[:0]
	var s odata.ElementSplitter
	for {
		c, err := r.next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file ends inside the object", odata.ErrTruncated)
		}
		if err != nil {
			return nil, err
		}
		s.Step(c)
		if s.Depth() == 0 && !s.InString() {
			return r.buf, nil
		}
	}
}

// readElement reads one element of an array whose '[' is consumed, up to
// the ',' or ']' that ends it, and returns it trimmed; closed reports the
// ']'.
func (r *exportReader) readElement() (el []byte, closed bool, err error) {
	r.buf = r.buf[:0]
	var s odata.ElementSplitter
	for {
		c, err := r.next()
		if errors.Is(err, io.EOF) {
			return nil, false, fmt.Errorf("%w: the file ends inside the array", odata.ErrTruncated)
		}
		if err != nil {
			return nil, false, err
		}
		if e := s.Step(c); e != odata.SplitNone {
			return bytes.TrimSpace(r.buf[:len(r.buf)-1]), e == odata.SplitClose, nil
		}
	}
}

// readLine returns the next line without its newline; io.EOF once the
// file is read.
func (r *exportReader) readLine() ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		chunk, err := r.r.ReadSlice('\n')
		r.buf = append(r.buf, chunk...)
		if len(r.buf) > DefaultMaxBodyBytes {
			return nil, fmt.Errorf("%w: a line of more than %d bytes", ErrBodyTooLarge, DefaultMaxBodyBytes)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(r.buf) > 0:
			return r.buf, nil
		case err != nil:
			return nil, err
		}
		r.line++
		return r.buf[:len(r.buf)-1], nil
	}
}
