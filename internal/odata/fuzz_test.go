package odata

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzSplit checks that Split never panics, that every record is a span of
// the body that is valid JSON exactly when it has no Err, and that on valid
// JSON it agrees with encoding/json decoding the body into a map.
func FuzzSplit(f *testing.F) {
	f.Add([]byte(`{"value":[{"id":"a"},{"id":"b"}],"@odata.nextLink":"https://h/x?$skiptoken=1"}`))
	f.Add([]byte(`{"value":[],"@odata.nextLink":null}`))
	f.Add([]byte(`{"value":[{"authMethods": {"email", "mobileSMS"}},1,,]}`))
	f.Add([]byte(`{"value":[{"a":"]\"}"}`))
	f.Add([]byte(`{"val\u0075e":[1],"value":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := Split(body)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > int64(len(body)) {
				t.Fatalf("error %v: want a *SyntaxError with an offset in the body", err)
			}
		}
		for i, r := range p.Records {
			if r.Index != i {
				t.Fatalf("record %d has Index %d", i, r.Index)
			}
			if (r.Err == nil) != json.Valid(r.Raw) {
				t.Fatalf("record %d %q: Err %v disagrees with json.Valid", i, r.Raw, r.Err)
			}
			if len(r.Raw) > 0 && !bytes.Contains(body, r.Raw) {
				t.Fatalf("record %d is not from the body", i)
			}
		}
		if !json.Valid(body) {
			if err == nil && !p.Salvaged {
				t.Fatal("invalid JSON body not marked Salvaged")
			}
			return
		}
		want, wantErr := oracle(body)
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Fatalf("Split error %v, encoding/json says %v", err, wantErr)
			}
			return
		}
		if err != nil {
			t.Fatalf("Split error %v on a body encoding/json reads", err)
		}
		if p.Salvaged || p.NextLink != want.NextLink || len(p.Records) != len(want.Records) {
			t.Fatalf("got next %q salvaged %v %d records; encoding/json: next %q %d records",
				p.NextLink, p.Salvaged, len(p.Records), want.NextLink, len(want.Records))
		}
		for i, r := range p.Records {
			if !bytes.Equal(compact(t, r.Raw), compact(t, want.Records[i].Raw)) {
				t.Fatalf("record %d: %q, encoding/json %q", i, r.Raw, want.Records[i].Raw)
			}
		}
	})
}

// oracle is encoding/json's view of a page: names matched exactly, the last
// of repeated names winning.
func oracle(body []byte) (Page, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return Page{}, ErrNotJSON
	}
	var p Page
	value, ok := top["value"]
	if !ok || string(value) == "null" {
		return p, ErrNoValue
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(value, &elems); err != nil {
		return p, ErrNotJSON
	}
	for i, e := range elems {
		p.Records = append(p.Records, Record{Index: i, Raw: e})
	}
	if link, ok := top["@odata.nextLink"]; ok && string(link) != "null" {
		if err := json.Unmarshal(link, &p.NextLink); err != nil {
			return p, ErrBadNextLink
		}
	}
	return p, nil
}

func compact(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("compact %q: %v", b, err)
	}
	return buf.Bytes()
}
