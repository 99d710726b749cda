package odata

import "bytes"

// fastSplit splits, in one validating pass, a body that is valid JSON and
// shaped like every page Graph sends: plain property names, value an array,
// the links strings. It reports false for anything else, which Split then
// handles with the scanner, so the unusual cases have one implementation.
func fastSplit(body []byte) (Page, bool) {
	var p Page
	v := Cursor{b: body, depth: 1}
	sawValue := false
	v.Space()
	if !v.Next('{') {
		return p, false
	}
	v.Space()
	for {
		start := v.i
		if !v.Next('"') {
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
		v.Space()
		if !v.Next(':') {
			return p, false
		}
		v.Space()
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
		v.Space()
		if v.Next('}') {
			break
		}
		if !v.Next(',') {
			return p, false
		}
		v.Space()
	}
	v.Space()
	return p, sawValue && v.i == len(body)
}

// stringValue reads a string value and unquotes it.
func (v *Cursor) stringValue() (string, bool) {
	start := v.i
	if v.i >= len(v.b) || v.b[v.i] != '"' || !v.str() {
		return "", false
	}
	return unquote(v.b[start:v.i])
}

// elements validates the array at v.i and returns its elements as records.
func (v *Cursor) elements() ([]Record, bool) {
	if !v.Next('[') {
		return nil, false
	}
	v.depth++
	v.Space()
	if v.Next(']') {
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
		v.Space()
		if v.Next(']') {
			v.depth--
			return recs, true
		}
		if !v.Next(',') {
			return nil, false
		}
		v.Space()
	}
}
