package odata

import (
	"strings"
	"testing"
)

func TestCursorSkipValue(t *testing.T) {
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
		{`{"a":"1`, 7, false, "unterminated string in an object"},
		{`true,`, 4, true, "scalar"},
		{`123`, 3, true, "scalar to the end"},
		{`,`, 0, true, "empty scalar"},
		{``, 0, false, "nothing"},
	}
	for _, c := range cases {
		cur := NewCursor([]byte(c.in))
		ok := cur.SkipValue()
		if cur.Pos() != c.end || ok != c.ok {
			t.Errorf("%s: SkipValue(%q) = %d, %v; want %d, %v", c.comment, c.in, cur.Pos(), ok, c.end, c.ok)
		}
	}
}

// SkipString at or past the end of the bytes has no quote to skip: it
// reports false and stays at the end instead of slicing past it.
func TestCursorSkipStringAtTheEnd(t *testing.T) {
	cases := []struct {
		in   string
		seek int
		end  int
		ok   bool
	}{
		{`ab`, 2, 2, false},
		{`ab`, 5, 2, false},
		{``, 0, 0, false},
		{`"`, 0, 1, false},
		{`""`, 0, 2, true},
	}
	for _, c := range cases {
		cur := NewCursor([]byte(c.in))
		cur.Seek(c.seek)
		ok := cur.SkipString()
		if cur.Pos() != c.end || ok != c.ok {
			t.Errorf("SkipString(%q) from %d = %d, %v; want %d, %v", c.in, c.seek, cur.Pos(), ok, c.end, c.ok)
		}
	}
}

func TestContainer(t *testing.T) {
	cases := []struct {
		in   string
		want string // members as name=value, elements as value, joined by |
		bad  bool
	}{
		{`{}`, ``, false},
		{`{ "a" : 1 , "b":[1,{"c":"]"}] }`, `"a"=1|"b"=[1,{"c":"]"}]`, false},
		{`[ "x" ,{"y":2}, null]`, `"x"|{"y":2}|null`, false},
		{`[]`, ``, false},
		{`{"a":1,}`, `"a"=1`, true},
		{`{"a" 1}`, ``, true},
		{`[1,,2]`, `1`, true},
		{`{"a":1`, `"a"=1`, true},
		{`{"a":`, ``, true},
		{`{"a" 12}`, ``, true},
		{`{0":1}`, ``, true},
		{`{"a":"x" "b":1}`, `"a"="x"`, true},
		{`[1 2]`, `1`, true},
		{`[ "a\\" , "b\"" ]`, `"a\\"|"b\""`, false},
		{`{"aaaaaaaaaa\"":"bbbbbbbbbbbbbbbbbbbb\\\"c","d":[[]]}`, `"aaaaaaaaaa\""="bbbbbbbbbbbbbbbbbbbb\\\"c"|"d"=[[]]`, false},
	}
	for _, c := range cases {
		it := NewContainer([]byte(c.in))
		var got []string
		for {
			if c.in[0] == '{' {
				name, value, ok := it.Member()
				if !ok {
					break
				}
				got = append(got, string(name)+"="+string(value))
			} else {
				value, ok := it.Element()
				if !ok {
					break
				}
				got = append(got, string(value))
			}
		}
		if g := strings.Join(got, "|"); g != c.want || it.Bad() != c.bad {
			t.Errorf("%s: got %q bad %v, want %q bad %v", c.in, g, it.Bad(), c.want, c.bad)
		}
	}
}
