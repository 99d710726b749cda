package transform

import (
	"fmt"
	"strings"
	"testing"

	"github.com/credreg/credreg/schemas"
)

// report.lookup reads one byte of a name before comparing it: it must
// find every name of both reports and nothing else, whichever byte or
// length differs, as the plain search over all names does.
func TestLookup(t *testing.T) {
	for _, e := range schemas.Endpoints {
		rep := reportFor(e)
		want := func(name string) (field, bool) {
			for f, n := range rep.names {
				if n != "" && n == name {
					return field(f), true
				}
			}
			return 0, false
		}
		check := func(name string) {
			t.Helper()
			wf, wok := want(name)
			if f, ok := rep.lookup([]byte(name)); f != wf || ok != wok {
				t.Fatalf("%s: lookup(%q) = %d, %t; want %d, %t", e, name, f, ok, wf, wok)
			}
			if strings.ContainsAny(name, `"\`) {
				return // no name token holds them unescaped
			}
			// match reads the token in place, with what follows it (as
			// in a record) or nothing: it finds what lookup finds, or
			// nothing when eight bytes cannot be read.
			for _, tok := range []string{`"` + name + `":1}`, `"` + name + `"`} {
				f, end, ok := rep.match([]byte(tok), 0)
				if ok && (!wok || f != wf || end != len(name)+1) || !ok && wok && len(tok) >= 9 {
					t.Fatalf("%s: match(%q) = %d, %d, %t; want %d, %t", e, tok, f, end, ok, wf, wok)
				}
			}
		}
		found := 0
		for _, n := range rep.names {
			if n == "" {
				continue
			}
			found++
			check(n)
			check(n[1:])
			check(n[:len(n)-1])
			check(n + "x")
			check("x" + n)
			for i := range len(n) {
				for _, c := range []byte{0, 'a', 'A', n[i] ^ 0x20, n[i] + 1, n[i] - 1, 0xff} {
					b := []byte(n)
					b[i] = c
					check(string(b))
				}
			}
			// Every byte in each of the eight match hashes: some land in
			// this name's slot, and must not pass for it.
			for i := range min(len(n), 8) {
				for c := range 256 {
					b := []byte(n)
					b[i] = byte(c)
					check(string(b))
				}
			}
			// Every other name of the same length with this one's byte at
			// each place: the byte lookup reads must not be the only check.
			for _, o := range rep.names {
				if len(o) == len(n) && o != n {
					for i := range len(n) {
						b := []byte(o)
						b[i] = n[i]
						check(string(b))
					}
				}
			}
		}
		if found < 5 {
			t.Fatalf("%s: only %d names", e, found)
		}
		if rep.nlinear > 2 {
			t.Fatalf("%s: match compares %d names in turn, hashes %d", e, rep.nlinear, found-rep.nlinear)
		}
		for _, n := range []string{"", "i", "id@odata.type", "@odata.type", fmt.Sprint(make([]byte, 70))} {
			check(n)
		}
	}
}

// A property name with escapes is looked up by its value; an unknown one
// is listed by its value, once, and an annotation not at all, escaped or
// not.
func TestDecodeEscapedNames(t *testing.T) {
	raw := `{"\u0069d":"u1","user\u0050rincipalName":"a@b","isAdm\u0069n":true,"methods\u0052egistered":["email"],` +
		`"newThing":1,"new\u0054hing":2,"n\u00e9w":3,"né\u0077":4,"@odata.type":"x","id@\u006fdata.type":"y","odd\u0040":5}`
	rec, err := DecodeRecord(v1, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := Record{ID: "u1", UserPrincipalName: "a@b", IsAdmin: ptr(true), Methods: []string{"email"},
		UnknownFields: []string{"newThing", "néw"}}
	if d := diffRecord(rec, want); d != "" {
		t.Fatalf("decoded %s", d)
	}
	if fmt.Sprint(rec.UnknownFields) != fmt.Sprint(want.UnknownFields) {
		t.Fatalf("unknown fields %q, want %q", rec.UnknownFields, want.UnknownFields)
	}
}

// The names of one length differ at the byte lookup reads, so a lookup
// compares one name at most.
func TestLookupTellsNamesApart(t *testing.T) {
	for _, e := range schemas.Endpoints {
		rep := reportFor(e)
		for l, s := range rep.byLen {
			for i := range s.n {
				for j := range i {
					if s.at[i] == s.at[j] {
						t.Errorf("%s: %q and %q (length %d) share byte %d, the one lookup reads",
							e, rep.names[s.fields[i]], rep.names[s.fields[j]], l, s.pos)
					}
				}
			}
		}
	}
}
