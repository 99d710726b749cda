package odata

import (
	"bytes"
	"testing"
)

// The byte-at-a-time cursor moves, as they were before the eight-byte
// scans: the fast ones must agree with them on any bytes.

func refSkipString(c *Cursor) bool {
	b, i := c.b, c.i
	if i >= len(b) {
		c.i = len(b)
		return false
	}
	for j := i + 1; ; {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			c.i = len(b)
			return false
		}
		j += k
		backslashes := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			backslashes++
		}
		j++
		if backslashes%2 == 0 {
			c.i = j
			return true
		}
	}
}

func refSkipValue(c *Cursor) bool {
	b := c.b
	if c.i >= len(b) {
		return false
	}
	switch b[c.i] {
	case '"':
		return refSkipString(c)
	case '{', '[':
		depth := 0
		for c.i < len(b) {
			switch b[c.i] {
			case '"':
				if !refSkipString(c) {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					c.i++
					return true
				}
			}
			c.i++
		}
		return false
	}
	for c.i < len(b) {
		switch b[c.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return true
		}
		c.i++
	}
	return true
}

// refWalk lists what a Container reads from b, the reference way: members
// as name=value and elements as value, then whether it went bad.
func refWalk(b []byte) (items []string, bad bool) {
	c := Cursor{b: b, i: 1}
	close := byte('}')
	if len(b) > 0 && b[0] == '[' {
		close = ']'
	}
	for n := 0; ; n++ {
		c.Space()
		if n > 0 {
			if c.Next(close) {
				return items, false
			}
			if !c.Next(',') {
				return items, true
			}
			c.Space()
		} else if c.Next(close) {
			return items, false
		}
		if c.i >= len(b) {
			return items, true
		}
		name := ""
		if close == '}' {
			start := c.i
			if b[c.i] != '"' || !refSkipString(&c) {
				return items, true
			}
			name = string(b[start:c.i]) + "="
			c.Space()
			if !c.Next(':') {
				return items, true
			}
			c.Space()
		}
		start := c.i
		if !refSkipValue(&c) || c.i == start {
			return items, true
		}
		items = append(items, name+string(b[start:c.i]))
	}
}

func walk(b []byte) (items []string, bad bool) {
	it := NewContainer(b)
	for {
		if len(b) > 0 && b[0] == '[' {
			v, ok := it.Element()
			if !ok {
				return items, it.Bad()
			}
			items = append(items, string(v))
			continue
		}
		name, v, ok := it.Member()
		if !ok {
			return items, it.Bad()
		}
		items = append(items, string(name)+"="+string(v))
	}
}

// FuzzCursor checks SkipString, SkipValue and Container against the
// byte-at-a-time moves, from every start, on any bytes.
func FuzzCursor(f *testing.F) {
	f.Add([]byte(`{"id":"a\"b\\","n":[1,{"x":"]"}],"t":true}`), uint8(0))
	f.Add([]byte(`["abcdefgh\\\"ijklmnop", "q\\\\\"" , null ,]`), uint8(1))
	f.Add([]byte(`{"a" :"b" , "c":tru}`), uint8(5))
	f.Fuzz(func(t *testing.T, b []byte, from uint8) {
		for i := int(from) % (len(b) + 2); i <= len(b)+1; i += 1 + len(b)/4 {
			got, want := Cursor{b: b, i: i}, Cursor{b: b, i: i}
			if gok, wok := got.SkipString(), refSkipString(&want); gok != wok || got.i != want.i {
				t.Fatalf("SkipString(%q) from %d = %d, %v; want %d, %v", b, i, got.i, gok, want.i, wok)
			}
			got, want = Cursor{b: b, i: i}, Cursor{b: b, i: i}
			if gok, wok := got.SkipValue(), refSkipValue(&want); gok != wok || got.i != want.i {
				t.Fatalf("SkipValue(%q) from %d = %d, %v; want %d, %v", b, i, got.i, gok, want.i, wok)
			}
		}
		gotItems, gotBad := walk(b)
		wantItems, wantBad := refWalk(b)
		if gotBad != wantBad || len(gotItems) != len(wantItems) {
			t.Fatalf("Container(%q) = %q bad %v; want %q bad %v", b, gotItems, gotBad, wantItems, wantBad)
		}
		for k := range gotItems {
			if gotItems[k] != wantItems[k] {
				t.Fatalf("Container(%q) = %q; want %q", b, gotItems, wantItems)
			}
		}
	})
}
