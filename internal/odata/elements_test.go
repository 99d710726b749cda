package odata

import (
	"strings"
	"testing"
)

// TestElementSplitter feeds the inside of value arrays a byte at a time
// and collects the elements it cuts.
func TestElementSplitter(t *testing.T) {
	cases := []struct {
		in, want string // elements joined by |; want ends with ] when the array closes
		open     bool   // the bytes end inside a string or brackets
	}{
		{`1,2]`, `1|2]`, false},
		{`{"a":[1,2]},"x,]"]`, `{"a":[1,2]}|"x,]"]`, false},
		{`"a\"],",1]`, `"a\"],"|1]`, false},
		{`"a\\",1]`, `"a\\"|1]`, false},
		{`{"a":1}},2]`, `{"a":1}}|2]`, false},
		{`[1,2`, `[1,2`, true},
		{`"abc`, `"abc`, true},
	}
	for _, c := range cases {
		var s ElementSplitter
		var got strings.Builder
		for i := range len(c.in) {
			switch s.Step(c.in[i]) {
			case SplitComma:
				got.WriteByte('|')
			case SplitClose:
				got.WriteByte(']')
			default:
				got.WriteByte(c.in[i])
			}
		}
		if got.String() != c.want || (s.Depth() > 0 || s.InString()) != c.open {
			t.Errorf("%s: cut %s open %v, want %s open %v", c.in, got.String(), s.Depth() > 0 || s.InString(), c.want, c.open)
		}
	}
}
