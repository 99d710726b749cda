package odata

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// sameSplit reports how SplitUnchecked's answer differs from Split's on
// body: the same error, links and records (the same spans of the body),
// each record Unchecked without an Err, and CheckRecord giving each the
// Err Split gave it (offset aside: CheckRecord counts from the record).
// "" when they agree.
func sameSplit(body []byte) string {
	if d := sameSplitRead(body, "SplitUnchecked", nil); d != "" {
		return d
	}
	// Readers that read every valid element, or every other one (those
	// with an odd index), as a decoder reads the records it knows.
	valid := func(b []byte, i, index int) int { return ValidEnd(b, i, 0) }
	odd := func(b []byte, i, index int) int {
		if index%2 == 0 {
			return -1
		}
		return ValidEnd(b, i, 0)
	}
	if d := sameSplitRead(body, "SplitRead(valid)", valid); d != "" {
		return d
	}
	return sameSplitRead(body, "SplitRead(odd)", odd)
}

// sameSplitRead is sameSplit for SplitRead with read (nil:
// SplitUnchecked): the records read are not Unchecked, and valid.
func sameSplitRead(body []byte, name string, read ElementReader) string {
	want, wantErr := Split(body)
	got, gotErr := SplitRead(body, read)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !errors.Is(gotErr, unwrapSentinel(wantErr)) {
		return fmt.Sprintf("%s: error %v, Split's %v", name, gotErr, wantErr)
	}
	if got.Context != want.Context || got.NextLink != want.NextLink || got.Salvaged {
		return fmt.Sprintf("%s: links %q %q salvaged %v, Split's %q %q", name, got.Context, got.NextLink, got.Salvaged, want.Context, want.NextLink)
	}
	if len(got.Records) != len(want.Records) {
		return fmt.Sprintf("%s: %d records, Split's %d", name, len(got.Records), len(want.Records))
	}
	for i, g := range got.Records {
		w := want.Records[i]
		if g.Index != w.Index || !sameSpan(g.Raw, w.Raw) || g.Err != nil || w.Unchecked {
			return fmt.Sprintf("%s: record %d: %d %q unchecked %v err %v; Split's %d %q", name, i, g.Index, g.Raw, g.Unchecked, g.Err, w.Index, w.Raw)
		}
		if !g.Unchecked && (read == nil || w.Err != nil) {
			return fmt.Sprintf("%s: record %d %q read, Split's Err %v", name, i, g.Raw, w.Err)
		}
		at := int64(-1) // unknown for an empty record
		if len(w.Raw) > 0 {
			at = int64(uintptr(unsafe.Pointer(&w.Raw[0])) - uintptr(unsafe.Pointer(&body[0])))
		}
		if d := sameRecordErr(CheckRecord(g.Raw), w.Err, at); d != "" {
			return fmt.Sprintf("%s: record %d %q: %s", name, i, g.Raw, d)
		}
	}
	return ""
}

// unwrapSentinel is the sentinel a SyntaxError wraps (nil for nil).
func unwrapSentinel(err error) error {
	var se *SyntaxError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

// sameSpan reports whether a and b are the same bytes of the same body.
func sameSpan(a, b []byte) bool {
	if len(a) != len(b) || cap(a) != cap(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0]
}

// sameRecordErr compares CheckRecord's error with Split's for a record at
// offset at of the page (-1: not known, not compared).
func sameRecordErr(got, want error, at int64) string {
	if (got == nil) != (want == nil) {
		return fmt.Sprintf("CheckRecord %v, Split's Err %v", got, want)
	}
	if got == nil {
		return ""
	}
	var g, w *SyntaxError
	if !errors.As(got, &g) || !errors.As(want, &w) || g.Err != w.Err || g.Detail != w.Detail || at >= 0 && g.Offset+at != w.Offset {
		return fmt.Sprintf("CheckRecord %#v, Split's Err %#v (record at %d)", got, want, at)
	}
	return ""
}

// TestSplitUnchecked holds SplitUnchecked to Split on pages valid and not:
// a Graph-shaped page, then that page cut short at every byte, with every
// byte deleted in turn, and with bytes replaced by the ones that change a
// scan's state (quotes, backslashes, brackets, commas, control bytes).
func TestSplitUnchecked(t *testing.T) {
	page := []byte(`{"@odata.context":"https://graph/$metadata#x","value":[` +
		`{"id":"a\"]},","userPrincipalName":"a@x","methodsRegistered":["email","fido2"],"n":[1,{"x":[true,null]}]},` +
		` {"id":"b\\","userDisplayName":"B \u00e9","isAdmin":false,"o":{"a":-1.5e3}} ,` +
		`"str",123,[],{},null],"@odata.nextLink":"https://graph/next?$skiptoken=z\u0021"}`)
	bodies := [][]byte{page, []byte(`{"value":[]}`), []byte(`{"value":[ ]}`), []byte(`{"value":[1,,2,]}`)}
	for i := range page {
		bodies = append(bodies, page[:i])
		bodies = append(bodies, append(bytes.Clone(page[:i]), page[i+1:]...))
		for _, c := range []byte("\"\\[]{},:\x01 x") {
			b := bytes.Clone(page)
			b[i] = c
			bodies = append(bodies, b)
		}
	}
	for _, b := range bodies {
		if d := sameSplit(b); d != "" {
			t.Fatalf("%q: %s", b, d)
		}
	}
	// The page itself is read as Split reads it: records and links.
	p, err := SplitUnchecked(page)
	if err != nil || len(p.Records) != 7 || !strings.HasSuffix(p.NextLink, "z!") {
		t.Fatalf("got %+v, %v", p, err)
	}
	// A reader reads them all, the splitter none.
	p, err = SplitRead(page, func(b []byte, i, index int) int { return ValidEnd(b, i, 0) })
	for _, r := range p.Records {
		if err != nil || r.Unchecked {
			t.Fatalf("record %d %q not read (%v)", r.Index, r.Raw, err)
		}
	}
}

// FuzzSplitUnchecked holds SplitUnchecked to Split on any body.
func FuzzSplitUnchecked(f *testing.F) {
	f.Add([]byte(`{"value":[{"id":"a"},{"id":"b"}],"@odata.nextLink":"https://h/x?$skiptoken=1"}`))
	f.Add([]byte(`{"value":[],"@odata.nextLink":null}`))
	f.Add([]byte(`{"value":[{"authMethods": {"email", "mobileSMS"}},1,,]}`))
	f.Add([]byte(`{"value":[{"a":"]\"}"}`))
	f.Add([]byte(`{"val\u0075e":[1],"value":null}`))
	f.Add([]byte(`{"value":[{"a":"\\"},"\\\"",}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if d := sameSplit(body); d != "" {
			t.Fatalf("%q: %s", body, d)
		}
	})
}
