package transform

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// copyASCII checks eight bytes at a time and the rest one by one: a
// backslash, a control byte (below 0x20) or a byte of 0x80 and up at any
// place, in any of those, makes the span not plain, and the copy is exact
// either way.
func TestCopyASCII(t *testing.T) {
	for n := range 26 {
		for at := -1; at < n; at++ {
			for _, c := range []byte{'\\', 0x80, 0xdc, 0xff, 0x7f, '"', 0, '\n', 0x1f, ' ', '!'} {
				src := bytes.Repeat([]byte{'a'}, n)
				if at >= 0 {
					src[at] = c
				}
				want := at < 0 || (c < 0x80 && c != '\\' && c >= 0x20)
				dst := make([]byte, n)
				if got := copyASCII(dst, src); got != want {
					t.Fatalf("copyASCII(%q) = %t, want %t", src, got, want)
				}
				if !bytes.Equal(dst, src) {
					t.Fatalf("copyASCII(%q) copied %q", src, dst)
				}
			}
		}
	}
}

// A record's strings are sliced out of one copy of its string spans when
// the span is plain (ASCII without escapes), checked token by token when it
// is not, and copied into an allocation of their own when they do not fit
// the record's buffer: every way, the record is the oracle's.
func TestDecodeStringSpans(t *testing.T) {
	long := strings.Repeat("é", textBytes)
	for _, raw := range []string{
		`{"id":"u1","userPrincipalName":"a@b","userDisplayName":"Ivan Dvořák","methodsRegistered":["email","fido2"]}`,
		`{"id":"u1","userPrincipalName":"a@b","methodsRegistered":["email","e\u006dail","fido2","email"]}`,
		`{"id":"u1","userPrincipalName":"a@b","methodsRegistered":["\u00e9mail","émail","fido2"],"userType":"m\u0065mber"}`,
		`{"id":"u1","userPrincipalName":"a@b","methodsRegistered":["` + "\xffx" + `","\ufffdx","x\\"]}`,
		`{"id":"u\u0031","userPrincipalName":"\u00e9@b","userDisplayName":"` + long + `","methodsRegistered":["email","fido2","email"]}`,
		`{"id":"u1","userPrincipalName":"` + strings.Repeat("a", textBytes-30) + `","userDisplayName":"` + long + `"}`,
		`{"id":"u1","userPrincipalName":"a@b","lastUpdatedDateTime":"2024-05-06T07:08:09\u002e1Z","systemPreferredAuthenticationMethods":["push","p\u0075sh"]}`,
	} {
		t.Run(fmt.Sprintf("%.40s", raw), func(t *testing.T) {
			got, err := DecodeRecord(v1, []byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			want, code, _ := oracleDecode(v1Report, []byte(raw))
			if code != "" {
				t.Fatalf("oracle rejects: %s", code)
			}
			if d := diffRecord(got, want); d != "" {
				t.Fatalf("decoded record differs from the oracle's: %s", d)
			}
		})
	}
}

// values and its text buffer take one 576 B object (568 B and the 8 B
// header Go puts on an object of over 512 B with pointers): no more than
// the two allocations it replaced.
func TestValuesFitTheirSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(values{}) + 8; size > 576 {
		t.Fatalf("values is %d B with its header, more than the 576 B size class: shrink textBytes", size)
	}
}
