package odata

import (
	"encoding/binary"
	"math/bits"
)

// Strings are most of a Graph page's bytes, and most of a string's bytes
// need no attention. The scans below test eight bytes at a time for the
// few that do, with the classic bit tricks on a little-endian uint64:
// (x - 0x01…01) &^ x & 0x80…80 flags the bytes of x that are zero, and
// (x - n*0x01…01) &^ x & 0x80…80 those below n (n <= 0x80). A flag can be
// wrong only above a true one (a borrow runs upwards), so the lowest flag
// always marks the first byte wanted. The last bytes, fewer than eight,
// go one at a time.

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// stringStop returns the index of the first byte of b at or after i that
// ends a run of plain string bytes: '"', '\\' or a control byte (below
// 0x20); len(b) if there is none. Bytes of 0x80 and above are plain: like
// encoding/json, the validator accepts any byte sequence that is not one
// of these.
func stringStop(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// x ^ 0x02 maps '"' to 0x20 and the control bytes among
		// themselves: one "below 0x21" test finds them all.
		q := x ^ (ones * 0x02)
		e := x ^ (ones * '\\')
		if m := ((q-ones*0x21)&^q | (e-ones)&^e) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if !plain[b[i]] {
			return i
		}
	}
	return len(b)
}

// quoteOrEscape returns the index of the first '"' or '\\' of b at or
// after i; len(b) if there is none. It is the scan of a cursor that only
// delimits strings, where a control byte is no concern.
func quoteOrEscape(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ (ones * '"')
		e := x ^ (ones * '\\')
		if m := ((q-ones)&^q | (e-ones)&^e) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' {
			return i
		}
	}
	return len(b)
}

// quoteIndex returns the index of the first '"' of b at or after i; len(b)
// if there is none. Graph's strings are short (names, ids, addresses), so
// a test of eight bytes at a time beats bytes.IndexByte's call and set-up.
func quoteIndex(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		q := binary.LittleEndian.Uint64(b[i:]) ^ (ones * '"')
		if m := (q - ones) &^ q & highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if b[i] == '"' {
			return i
		}
	}
	return len(b)
}
