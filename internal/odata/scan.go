package odata

import (
	"bytes"
	"fmt"
)

// scanner walks one page body. When trusted, the body is known to be valid
// JSON and elements are not checked again.
type scanner struct {
	Cursor
	trusted bool
	// unchecked: the records are cut but not checked (SplitUnchecked).
	unchecked bool
	// read, when not nil, is tried on each element first (SplitRead).
	read ElementReader
}

// valueState is what the last "value" property held.
type valueState int

const (
	valueAbsent valueState = iota
	valueNull
	valueArray
	valueOther
)

func (s *scanner) fail(sentinel error, at int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Offset: int64(at), Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

func (s *scanner) truncated(where string) *SyntaxError {
	return s.fail(ErrTruncated, len(s.b), "the body ends %s", where)
}

func (s *scanner) page() (Page, error) {
	var (
		p          Page
		value      = valueAbsent
		valueAt    int
		nextLinkAt = -1
	)
	s.Space()
	if s.i == len(s.b) {
		return p, s.truncated("before the top-level object starts")
	}
	if s.b[s.i] != '{' {
		return p, s.fail(ErrNotJSON, s.i, "the body starts with %q, not '{'", s.b[s.i])
	}
	s.i++
	for {
		s.Space()
		if s.i == len(s.b) {
			return p, s.truncated("inside the top-level object")
		}
		if s.b[s.i] == '}' {
			s.i++
			break
		}
		if s.b[s.i] != '"' {
			return p, s.fail(ErrNotJSON, s.i, "want a property name, found %q", s.b[s.i])
		}
		start := s.i
		if !s.SkipString() {
			return p, s.truncated("inside a property name")
		}
		name := propertyName(s.b[start:s.i])
		s.Space()
		if s.i == len(s.b) {
			return p, s.truncated("after the property name " + quoteName(name))
		}
		if s.b[s.i] != ':' {
			return p, s.fail(ErrNotJSON, s.i, "want ':' after the property name %s, found %q", quoteName(name), s.b[s.i])
		}
		s.i++
		s.Space()
		if s.i == len(s.b) {
			return p, s.truncated("before the value of " + quoteName(name))
		}
		at := s.i
		switch name {
		case "value":
			valueAt = at
			if s.b[s.i] == '[' {
				recs, ok := s.splitArray()
				if !ok {
					return p, s.truncated("inside the value array")
				}
				p.Records, value = recs, valueArray
				break
			}
			tok, ok := s.skipValue()
			if !ok {
				return p, s.truncated("inside the value of \"value\"")
			}
			p.Records, value = nil, valueOther
			if string(tok) == "null" {
				value = valueNull
			}
		case "@odata.nextLink":
			tok, ok := s.skipValue()
			if !ok {
				return p, s.truncated("inside @odata.nextLink")
			}
			p.NextLink, nextLinkAt = "", -1
			if len(tok) > 0 && tok[0] == '"' {
				link, ok := unquote(tok)
				if !ok {
					nextLinkAt = at
				}
				p.NextLink = link
			} else if string(tok) != "null" {
				nextLinkAt = at
			}
		case "@odata.context":
			tok, ok := s.skipValue()
			if !ok {
				return p, s.truncated("inside @odata.context")
			}
			p.Context = ""
			if len(tok) > 0 && tok[0] == '"' {
				p.Context, _ = unquote(tok)
			}
		default:
			if _, ok := s.skipValue(); !ok {
				return p, s.truncated("inside the value of " + quoteName(name))
			}
		}
		s.Space()
		if s.i == len(s.b) {
			return p, s.truncated("after the value of " + quoteName(name))
		}
		if s.b[s.i] == '}' {
			s.i++
			break
		}
		if s.b[s.i] != ',' {
			return p, s.fail(ErrNotJSON, s.i, "want ',' or '}' after the value of %s, found %q", quoteName(name), s.b[s.i])
		}
		s.i++
	}
	s.Space()
	if s.i < len(s.b) {
		return p, s.fail(ErrNotJSON, s.i, "%d bytes follow the top-level object", len(s.b)-s.i)
	}
	switch value {
	case valueAbsent:
		return p, s.fail(ErrNoValue, len(s.b), "the top-level object has no \"value\" property")
	case valueNull:
		return p, s.fail(ErrNoValue, valueAt, "\"value\" is null")
	case valueOther:
		return p, s.fail(ErrNotJSON, valueAt, "\"value\" is not an array")
	}
	if nextLinkAt >= 0 {
		return p, s.fail(ErrBadNextLink, nextLinkAt, "want a JSON string or null")
	}
	return p, nil
}

// splitArray splits the array whose '[' is at s.i into records, at the
// commas outside strings and brackets (ElementSplitter). It reports false
// when the body ends before the array closes.
func (s *scanner) splitArray() ([]Record, bool) {
	if s.unchecked {
		return s.splitArrayFast()
	}
	s.i++
	var (
		recs  []Record
		split ElementSplitter
	)
	for start := s.i; s.i < len(s.b); s.i++ {
		switch split.Step(s.b[s.i]) {
		case SplitComma:
			recs = s.element(recs, start, s.i, false)
			start = s.i + 1
		case SplitClose:
			recs = s.element(recs, start, s.i, true)
			s.i++
			return recs, true
		}
	}
	return recs, false
}

// splitArrayFast is splitArray with ElementSplitter's rule written out:
// a string is skipped at once to its closing quote (stringEnd: a quote
// after an even run of backslashes closes it, as the splitter's escape
// flag has it), the bytes between strings are stepped as the splitter
// steps them. Without the check of each element, the byte-at-a-time
// splitter would be most of SplitUnchecked's cost.
func (s *scanner) splitArrayFast() ([]Record, bool) {
	b := s.b
	var recs []Record
	depth := 0
	i := s.i + 1
	start := i
	for i < len(b) {
		if i == start && s.read != nil {
			// An element starts: the reader may cut it.
			var closed bool
			if i, closed = s.readElement(&recs, start); closed {
				return recs, true
			}
			start = i
			if i >= len(b) {
				break
			}
		}
		switch b[i] {
		case '"':
			if i = stringEnd(b, i); i < 0 {
				s.i = len(b)
				return recs, false
			}
			continue
		case '{', '[':
			depth++
		case '}':
			if depth > 0 {
				depth--
			}
		case ']':
			if depth == 0 {
				recs = s.element(recs, start, i, true)
				s.i = i + 1
				return recs, true
			}
			depth--
		case ',':
			if depth == 0 {
				recs = s.element(recs, start, i, false)
				start = i + 1
			}
		}
		i++
	}
	s.i = len(b)
	return recs, false
}

// readElement tries s.read on the element that starts at b[start] (after
// whitespace), then on the one after it while read reads them: for each,
// it appends the record and moves past the ',' or ']' that follows it.
// It returns where the splitter goes on (the start of the element read
// did not read, untouched) and whether it moved past the array's ']'.
func (s *scanner) readElement(recs *[]Record, start int) (int, bool) {
	b := s.b
	for {
		j := skipSpace(b, start)
		if j >= len(b) || b[j] == ',' || b[j] == ']' {
			return start, false // empty: Split's rule decides
		}
		end := s.read(b, j, len(*recs))
		if end <= j || end > len(b) {
			return start, false
		}
		k := skipSpace(b, end)
		if k >= len(b) || b[k] != ',' && b[k] != ']' {
			return start, false
		}
		if *recs == nil {
			*recs = make([]Record, 0, 64)
		}
		*recs = append(*recs, Record{Index: len(*recs), Raw: b[j:end:end]})
		if b[k] == ']' {
			s.i = k + 1
			return k + 1, true
		}
		start = k + 1
	}
}

// element appends the record spanning b[start:end], trimmed of whitespace.
// An empty span closing an array with no element before it is the empty
// array, not a record.
func (s *scanner) element(recs []Record, start, end int, closing bool) []Record {
	for start < end && isSpace(s.b[start]) {
		start++
	}
	for end > start && isSpace(s.b[end-1]) {
		end--
	}
	if start == end && closing && len(recs) == 0 {
		return recs
	}
	r := Record{Index: len(recs), Raw: s.b[start:end:end], Unchecked: s.unchecked}
	if !s.trusted && !valid(r.Raw) {
		r.Err = recordError(r.Raw, start)
	}
	if recs == nil {
		// Graph pages hold up to 999 records; one allocation for most.
		recs = make([]Record, 0, 64)
	}
	return append(recs, r)
}

// skipValue moves past the value starting at s.i and returns its span (see
// Cursor.SkipValue). It reports false when the body ends first, a scalar
// running to the end of the body included: in a page, a value is always
// followed by more.
func (s *scanner) skipValue() ([]byte, bool) {
	start := s.i
	if !s.SkipValue() {
		return nil, false
	}
	if c := s.b[start]; s.i == len(s.b) && c != '"' && c != '{' && c != '[' {
		return nil, false
	}
	return s.b[start:s.i], true
}

// propertyName returns the name a property-name token stands for.
func propertyName(tok []byte) string {
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner)
	}
	name, _ := unquote(tok)
	return name
}

// quoteName quotes a property name for a message, cut to a readable length.
func quoteName(name string) string {
	const max = 64
	if len(name) > max {
		return fmt.Sprintf("%q…", name[:max])
	}
	return fmt.Sprintf("%q", name)
}
