package odata

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// Entity checks the body of a single-entity response (a lookup by id,
// whose @odata.context ends in /$entity) and returns it as one record:
// Index 0, Raw the object without surrounding whitespace, a sub-slice of
// body. Unlike a page, an entity is not salvaged: it is one record, and a
// damaged one is no record at all.
//
// The error is a *SyntaxError wrapping ErrTruncated when the body ends
// before the object closes (fetching it again may help), or ErrNotJSON
// when it is not exactly one JSON object.
func Entity(body []byte) (Record, error) {
	const space = " \t\r\n" // JSON's whitespace, not Unicode's
	lead := bytes.TrimLeft(body, space)
	start := int64(len(body) - len(lead))
	raw := bytes.TrimRight(lead, space)
	if len(raw) == 0 {
		return Record{}, &SyntaxError{Offset: int64(len(body)), Err: ErrTruncated, Detail: "empty body"}
	}
	if raw[0] != '{' {
		return Record{}, &SyntaxError{Offset: start, Err: ErrNotJSON, Detail: "an entity is a JSON object"}
	}
	if valid(raw) {
		return Record{Raw: raw}, nil
	}
	// Only the failure is explained by encoding/json; its cost does not matter.
	dec := json.NewDecoder(bytes.NewReader(raw))
	var v json.RawMessage
	err := dec.Decode(&v)
	e := &SyntaxError{Offset: start + dec.InputOffset(), Err: ErrNotJSON, Detail: "data after the object"}
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		e.Err, e.Offset, e.Detail = ErrTruncated, int64(len(body)), "the object does not close"
	case errors.As(err, &se):
		e.Offset, e.Detail = start+se.Offset, se.Error()
	case err != nil:
		e.Detail = err.Error()
	}
	return Record{}, e
}
