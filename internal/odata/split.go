package odata

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Page is one response page of a Graph collection.
type Page struct {
	// Context is @odata.context, "" if absent or not a string.
	Context string
	// NextLink is @odata.nextLink exactly as sent (JSON-unquoted only), ""
	// if absent or null: the last page.
	NextLink string
	Records  []Record
	// Salvaged reports that the body as a whole was not valid JSON and the
	// records were split by the tolerant scanner.
	Salvaged bool
}

// Record is one element of a page's value array.
type Record struct {
	// Index is the 0-based position in the value array.
	Index int
	// Raw is the element's bytes exactly as received, without surrounding
	// whitespace: a sub-slice of the body.
	Raw []byte
	// Err is non-nil when the element is not valid JSON on its own; it is a
	// *SyntaxError wrapping ErrInvalidRecordJSON.
	Err error
	// Unchecked reports that SplitUnchecked cut the element without
	// checking it: Err is nil whatever Raw holds, and the reader must
	// check Raw itself (CheckRecord gives the Err Split would have set).
	Unchecked bool
}

// Sentinel errors, reached with errors.Is through a *SyntaxError.
var (
	ErrNotJSON           = errors.New("not an OData JSON page")
	ErrNoValue           = errors.New("page has no value array")
	ErrTruncated         = errors.New("page body ends before its JSON object closes")
	ErrInvalidRecordJSON = errors.New("record is not valid JSON")
	ErrBadNextLink       = errors.New("@odata.nextLink is not a string")
)

// SyntaxError says where in a body a page or a record went wrong.
type SyntaxError struct {
	// Offset is the byte offset in the page body.
	Offset int64
	// Err is one of the package's sentinels.
	Err error
	// Detail says what was found, for a person.
	Detail string
}

func (e *SyntaxError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("odata: %v at byte %d", e.Err, e.Offset)
	}
	return fmt.Sprintf("odata: %v at byte %d: %s", e.Err, e.Offset, e.Detail)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// Split finds the records and the links of one page body. See the package
// documentation for what it tolerates and the errors it returns.
func Split(body []byte) (Page, error) {
	if p, ok := fastSplit(body); ok {
		return p, nil
	}
	s := scanner{Cursor: Cursor{b: body}, trusted: valid(body)}
	p, err := s.page()
	if err != nil {
		return Page{}, err
	}
	p.Salvaged = !s.trusted
	return p, nil
}

// SplitUnchecked is Split without the check of the records: the same
// records (Index and Raw), links and errors as Split for every body, but
// each record marked Unchecked and none given an Err, and Salvaged always
// false (whether the body is valid JSON is not known). It is for a reader
// that walks every record anyway and can check it on the way (transform's
// Decoder), so that a page is not walked twice: the records are cut by
// Split's tolerant rule (ElementSplitter), the only one that cuts any
// body, valid or not, where Split does.
func SplitUnchecked(body []byte) (Page, error) { return SplitRead(body, nil) }

// ElementReader reads, for SplitRead, the element of a value array that
// starts at b[i] (its first byte, not whitespace), the index-th: it
// returns the index just past the element when it read all of it and
// found it valid JSON (as Valid judges it on its own), else -1.
type ElementReader func(b []byte, i, index int) int

// SplitRead is SplitUnchecked, but it hands each element to read first:
// one that read reads, followed by ',' or ']' (whitespace aside), is cut
// where read says, and is a checked record (not Unchecked, no Err: read
// found it valid). Split's rule would cut it there too, so the records
// are Split's all the same; but a reader that walks each record anyway
// (transform's Decoder) saves the splitter's walk of those it reads. An
// element read does not read, or reads wrong, is cut by Split's rule as
// SplitUnchecked cuts it; so may be one read read, when the body's error
// ends the split (nothing read is used then).
func SplitRead(body []byte, read ElementReader) (Page, error) {
	s := scanner{Cursor: Cursor{b: body}, trusted: true, unchecked: true, read: read}
	p, err := s.page()
	if err != nil {
		return Page{}, err
	}
	return p, nil
}

// CheckRecord is the check Split makes of a record's bytes: nil when raw
// is one JSON value, else the Err Split gives such a record (its Offset
// counted from raw's first byte, not the page's).
func CheckRecord(raw []byte) error {
	if valid(raw) {
		return nil
	}
	return recordError(raw, 0)
}

// recordError explains why an element is not valid JSON, in encoding/json's
// words. It runs only for invalid elements, so its cost does not matter.
func recordError(span []byte, offset int) error {
	e := &SyntaxError{Offset: int64(offset), Err: ErrInvalidRecordJSON, Detail: "empty element"}
	if len(span) == 0 {
		return e
	}
	e.Detail = "not a single JSON value"
	var v json.RawMessage
	err := json.Unmarshal(span, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		e.Offset += se.Offset
		e.Detail = fmt.Sprintf("%s (byte %d of the record)", se.Error(), se.Offset)
	} else if err != nil {
		e.Detail = err.Error()
	}
	return e
}

// unquote decodes a JSON string token. Names and links are few per page, so
// encoding/json's exact rules (escapes, invalid UTF-8 replaced) win over speed.
func unquote(tok []byte) (string, bool) {
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return "", false
	}
	return s, true
}

// Valid reports whether b is one JSON value. Its verdict is exactly that of
// encoding/json's Valid (invalid UTF-8 inside strings accepted, nesting
// deeper than 10000 rejected); it runs several times faster.
func Valid(b []byte) bool { return valid(b) }
