package odata

import "testing"

func TestValueEnd(t *testing.T) {
	cases := []struct {
		in      string
		end     int
		ok      bool
		comment string
	}{
		{`"a\"b",1`, 6, true, "escaped quote"},
		{`"a\\",1`, 5, true, "escaped backslash"},
		{`"abc`, 4, false, "unterminated string"},
		{`{"a":[1,"]"]},`, 13, true, "bracket inside a string"},
		{`[1,{2]}`, 7, true, "mixed brackets close by depth"},
		{`{"a":1`, 6, false, "unterminated object"},
		{`true,`, 4, true, "scalar"},
		{`123`, 3, true, "scalar to the end"},
		{`,`, 0, true, "empty scalar"},
	}
	for _, c := range cases {
		end, ok := ValueEnd([]byte(c.in), 0)
		if end != c.end || ok != c.ok {
			t.Errorf("%s: ValueEnd(%q) = %d, %v; want %d, %v", c.comment, c.in, end, ok, c.end, c.ok)
		}
	}
}
