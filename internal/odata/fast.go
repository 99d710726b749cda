package odata

import "bytes"

// fastSplit splits, in one validating pass, a body that is valid JSON and
// shaped like every page Graph sends: plain property names, value an array,
// the links strings. It reports false for anything else, which Split then
// handles with the scanner, so the unusual cases have one implementation.
func fastSplit(body []byte) (Page, bool) {
	var p Page
	v := validator{b: body, depth: 1}
	sawValue := false
	v.space()
	if !v.next('{') {
		return p, false
	}
	v.space()
	for {
		start := v.i
		if !v.next('"') {
			return p, false
		}
		v.i--
		if !v.str() {
			return p, false
		}
		tok := body[start:v.i]
		if bytes.IndexByte(tok, '\\') >= 0 {
			return p, false
		}
		v.space()
		if !v.next(':') {
			return p, false
		}
		v.space()
		switch string(tok[1 : len(tok)-1]) {
		case "value":
			recs, ok := v.elements()
			if !ok {
				return p, false
			}
			p.Records, sawValue = recs, true
		case "@odata.nextLink":
			link, ok := v.stringValue()
			if !ok {
				return p, false
			}
			p.NextLink = link
		case "@odata.context":
			ctx, ok := v.stringValue()
			if !ok {
				return p, false
			}
			p.Context = ctx
		default:
			if !v.value() {
				return p, false
			}
		}
		v.space()
		if v.next('}') {
			break
		}
		if !v.next(',') {
			return p, false
		}
		v.space()
	}
	v.space()
	return p, sawValue && v.i == len(body)
}

// next consumes c if it is the next byte.
func (v *validator) next(c byte) bool {
	if v.i < len(v.b) && v.b[v.i] == c {
		v.i++
		return true
	}
	return false
}

// stringValue reads a string value and unquotes it.
func (v *validator) stringValue() (string, bool) {
	start := v.i
	if v.i >= len(v.b) || v.b[v.i] != '"' || !v.str() {
		return "", false
	}
	return unquote(v.b[start:v.i])
}

// elements validates the array at v.i and returns its elements as records.
func (v *validator) elements() ([]Record, bool) {
	if !v.next('[') {
		return nil, false
	}
	v.depth++
	v.space()
	if v.next(']') {
		v.depth--
		return nil, true
	}
	// Graph pages hold up to 999 records; one allocation for most.
	recs := make([]Record, 0, 64)
	for {
		start := v.i
		if !v.value() {
			return nil, false
		}
		recs = append(recs, Record{Index: len(recs), Raw: v.b[start:v.i:v.i]})
		v.space()
		if v.next(']') {
			v.depth--
			return recs, true
		}
		if !v.next(',') {
			return nil, false
		}
		v.space()
	}
}
