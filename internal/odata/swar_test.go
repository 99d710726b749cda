package odata

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// refStringStop is the byte-at-a-time scan that the eight-byte one must
// agree with.
func refStringStop(b []byte, i int) int {
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return len(b)
}

// Every byte value, at every offset around the first two eight-byte words
// and the byte-at-a-time tail, followed by every byte value: a borrow from
// one byte into the next must never move the first stop.
func TestScansAgreeAtEveryOffset(t *testing.T) {
	for n := 0; n <= 24; n++ {
		for k := 0; k < n; k++ {
			for c := 0; c < 256; c++ {
				for _, d := range []byte{0, 0x01, 0x1f, 0x20, 0x21, '"', 0x23, '\\', 0x7f, 0x80, 0xa2, 0xdc, 0xff} {
					b := bytes.Repeat([]byte{'a'}, n)
					b[k] = byte(c)
					if k+1 < n {
						b[k+1] = d
					}
					for from := 0; from <= k; from += max(1, k) {
						if got, want := stringStop(b, from), refStringStop(b, from); got != want {
							t.Fatalf("stringStop(%q, %d) = %d, want %d", b, from, got, want)
						}
					}
				}
			}
		}
	}
}

// inserts are what a string may hold at any offset: escapes, control
// bytes, multi-byte runes and invalid UTF-8 (which encoding/json accepts).
var inserts = []string{
	`\"`, `\\`, `\/`, `\n`, `\u00e9`, `\uD83D\uDE00`, `\u00g9`, `\x`, `\`, `\\\"`, `"`,
	"\x00", "\x1f", "\t", " ", "é", "€", "😀", "\xff", "\xc3", "\x80", "\xed\xa0\x80", "\xa2", "\xdc",
}

// A string with one insert at every offset 0..16, so that each lands
// before, across and after an eight-byte boundary: the validator agrees
// with encoding/json, alone and as a member of a record, and the
// delimiting moves agree with the byte-at-a-time rule.
func TestStringsWithAnInsertAtEveryOffset(t *testing.T) {
	for _, ins := range inserts {
		for k := 0; k <= 16; k++ {
			for _, tail := range []int{0, 1, 7, 8, 9, 20} {
				s := `"` + strings.Repeat("a", k) + ins + strings.Repeat("b", tail) + `"`
				for _, doc := range []string{s, `{"k":` + s + `,"n":1}`, `[` + s + `]`, s[:len(s)-1]} {
					if got, want := valid([]byte(doc)), json.Valid([]byte(doc)); got != want {
						t.Fatalf("valid(%q) = %v, json.Valid says %v", doc, got, want)
					}
				}
				for from := 0; from < 2; from++ {
					b := []byte(`,` + s + `,"x"`)[from:]
					got, want := NewCursor(b), NewCursor(b)
					if gok, wok := got.SkipString(), refSkipString(&want); gok != wok || got.Pos() != want.Pos() {
						t.Fatalf("SkipString(%q) = %d, %v; want %d, %v", b, got.Pos(), gok, want.Pos(), wok)
					}
				}
			}
		}
	}
}

// The validator accepts what encoding/json accepts inside a page, at
// every offset: a page of such strings splits into its records unsalvaged.
func TestSplitStringsAtEveryOffset(t *testing.T) {
	for _, ins := range inserts {
		var body strings.Builder
		body.WriteString(`{"value":[`)
		for k := 0; k <= 16; k++ {
			if k > 0 {
				body.WriteByte(',')
			}
			body.WriteString(`{"s":"` + strings.Repeat("a", k) + ins + `z"}`)
		}
		body.WriteString(`]}`)
		p, err := Split([]byte(body.String()))
		wantValid := json.Valid([]byte(body.String()))
		if !wantValid {
			if err == nil && !p.Salvaged {
				t.Fatalf("%q: invalid page not salvaged", body.String())
			}
			continue
		}
		if err != nil || p.Salvaged || len(p.Records) != 17 {
			t.Fatalf("%q: %d records, salvaged %v, err %v", body.String(), len(p.Records), p.Salvaged, err)
		}
	}
}
