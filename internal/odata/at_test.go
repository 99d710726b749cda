package odata

import (
	"bytes"
	"testing"
)

// TestIndexMovesMatchCursor holds the index-form moves to the Cursor's
// (and, for QuoteAt and LiteralAt, to their plain definitions) at every
// index of bodies that end anywhere: inside strings, escapes, literals
// and containers.
func TestIndexMovesMatchCursor(t *testing.T) {
	bodies := []string{
		`{"id":"a\"b","n":null,"t":true,"f":false,"l":["x","y\\"],"o":{"k":[1,{"z":"}"}]}}`,
		" \t\r\n{ \"a\" : nulls , \"b\":truex,\"c\":[ ] }",
		`"unterminated \"`,
		`[true,false,null,nul,tru,fals]`,
		`"é\u00e9\\\\"x`,
		``,
	}
	for _, body := range bodies {
		for cut := 0; cut <= len(body); cut++ {
			b := []byte(body[:cut])
			for i := 0; i <= len(b); i++ {
				c := NewCursor(b)
				c.Seek(i)
				c.Space()
				if got := SpaceEnd(b, i); got != c.Pos() {
					t.Fatalf("SpaceEnd(%q, %d) = %d, Cursor.Space %d", b, i, got, c.Pos())
				}

				want := -1
				if i < len(b) {
					if k := bytes.IndexByte(b[i:], '"'); k >= 0 {
						want = i + k
					}
				}
				if got := QuoteAt(b, i); got != want {
					t.Fatalf("QuoteAt(%q, %d) = %d, want %d", b, i, got, want)
				}

				c.Seek(i)
				want = -1
				if c.SkipString() {
					want = c.Pos()
				}
				if got := StringEnd(b, i); got != want {
					t.Fatalf("StringEnd(%q, %d) = %d, Cursor.SkipString %d", b, i, got, want)
				}

				c.Seek(i)
				want = -1
				if c.SkipValue() && c.Pos() > i {
					want = c.Pos()
				}
				if got := ValueEnd(b, i); got != want {
					t.Fatalf("ValueEnd(%q, %d) = %d, Cursor.SkipValue %d", b, i, got, want)
				}

				for _, lit := range []string{"null", "true", "false"} {
					end := i + len(lit)
					want := end <= len(b) && string(b[i:end]) == lit &&
						(end == len(b) || bytes.IndexByte([]byte(",}] \t\n\r"), b[end]) >= 0)
					if got := LiteralAt(b, i, lit); got != want {
						t.Fatalf("LiteralAt(%q, %d, %q) = %v, want %v", b, i, lit, got, want)
					}
				}
			}
		}
	}
}
