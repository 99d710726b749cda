package transform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/credreg/credreg/schemas"
)

// decodeOne reads the records Graph sends in one walk and leaves the rest
// to decodeSpans, the two-walk decoder that explains every rejection. The
// tests here hold the two to the same answer: wherever decodeOne answers,
// its Record is exactly decodeSpans' (strings, pointers' values, nil
// against empty lists, unknown fields and values, in order), and decode,
// which tries one and then the other, gives what decodeSpans alone gives,
// errors to the byte.

// sameDecode reports how decode and decodeSpans differ on raw, "" when they
// do not; one tells whether decodeOne answered.
func sameDecode(rep *report, raw []byte) (diff string, one bool) {
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] != '{' {
		return "", false // decode rejects it before either walk
	}
	wantRec, wantErr := rep.decodeSpans(raw)
	rec, ok := rep.decodeOne(raw, nil)
	if ok {
		if wantErr != nil {
			return fmt.Sprintf("decodeOne accepts, decodeSpans rejects: %v", wantErr), ok
		}
		if d := deepDiff(rec, wantRec); d != "" {
			return "decodeOne: " + d, ok
		}
	}
	got, gotErr := rep.decode(raw, nil)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && (*gotErr != *wantErr || gotErr.Error() != wantErr.Error()) {
		return fmt.Sprintf("decode: error %v, decodeSpans %v", gotErr, wantErr), ok
	}
	if d := deepDiff(got, wantRec); d != "" {
		return "decode: " + d, ok
	}
	return "", ok
}

// deepDiff compares two Records deeply, lists' capacities too: a list
// with room past its end would let an append write into the next.
func deepDiff(got, want Record) string {
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		return fmt.Sprintf("got %s\nwant %s", g, w)
	}
	for _, l := range [][]string{got.Methods, got.SystemPreferredMethods} {
		if cap(l) != len(l) {
			return fmt.Sprintf("list %q has capacity %d", l, cap(l))
		}
	}
	return ""
}

// genRecord writes a record of the endpoint's report: Graph's shape when
// odd is 0, and with that many oddities otherwise (repeats, nulls, wrong
// types, escapes, Unicode, unknown members, annotations, long strings,
// bad ids and timestamps, whitespace).
func genRecord(r *rand.Rand, rep *report, odd int) []byte {
	type member struct{ name, value string }
	var ms []member
	str := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	for f := range numFields {
		name := rep.names[f]
		if name == "" || r.IntN(10) == 0 && f != fID && f != fUPN {
			continue
		}
		var v string
		switch fields[f].Kind {
		case schemas.KindBool:
			v = []string{"true", "false"}[r.IntN(2)]
		case schemas.KindString:
			switch {
			case f == fID:
				v = str(fmt.Sprintf("%08x-fde0-4fc4-9e0c-a20eb73e54c6", r.Uint32()))
			case len(knownValues[f]) > 0 && r.IntN(4) > 0:
				v = str(knownValues[f][r.IntN(len(knownValues[f]))])
			default:
				v = str(fmt.Sprintf("User %d Dvořák@contoso", r.IntN(1000)))
			}
		case schemas.KindTimestamp:
			v = str(fmt.Sprintf("2026-%02d-%02dT%02d:%02d:%02d.%07dZ", 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e7)))
		case schemas.KindMethodList, schemas.KindStringList:
			var es []string
			for range r.IntN(6) {
				es = append(es, str([]string{"email", "mobilePhone", "fido2", "push", "sms", "someFutureMethod"}[r.IntN(6)]))
			}
			v = "[" + strings.Join(es, ",") + "]"
		}
		ms = append(ms, member{name, v})
	}
	r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	oddValues := []string{"null", "true", "7", "-1.5e3", `""`, `"x"`, "[]", `[1]`, `["a",null]`, `{}`, `{"a":[1,{"b":"\""}]}`,
		`"\u0041\n\"\\"`, `"\ud800"`, `"é\u00e9"`, `"2026-02-30T00:00:00Z"`, `"2026-01-01T00:00:00"`, `"2026-01-01T00:00:00.12345678Z"`,
		`"2026-01-01t00:00:00+01:30"`, `"2026-01-01T00:00:60Z"`, `"a b"`, `"a\u0000"`, `"` + strings.Repeat("y", 300) + `"`,
		`"` + strings.Repeat("é", 200) + `"`, `["email","email","\u0065mail"]`, `"\/\b\f\t\r"`, `"\u2028"`, `"` + "\xff\xfe" + `"`}
	oddNames := []string{"id", "userPrincipalName", "@odata.type", "id@odata.type", "extra", "i\\u0064", "\\u0069sAdmin", "é",
		"userPrincipalNam", "userPrincipalNameX", "isadmin", "methodsRegistered", "authMethods", "lastUpdatedDateTime", "\xff"}
	for range odd {
		switch r.IntN(5) {
		case 0: // a known member's value becomes odd
			if len(ms) > 0 {
				ms[r.IntN(len(ms))].value = oddValues[r.IntN(len(oddValues))]
			}
		case 1: // a repeat or another name, with any value
			v := oddValues[r.IntN(len(oddValues))]
			if len(ms) > 0 && r.IntN(2) == 0 {
				v = ms[r.IntN(len(ms))].value
			}
			ms = append(ms, member{oddNames[r.IntN(len(oddNames))], v})
		case 2: // a member goes
			if len(ms) > 0 {
				i := r.IntN(len(ms))
				ms = append(ms[:i], ms[i+1:]...)
			}
		case 3: // a member repeats
			if len(ms) > 0 {
				ms = append(ms, ms[r.IntN(len(ms))])
			}
		case 4: // a known name spelled with a member's value
			if len(ms) > 0 {
				ms[r.IntN(len(ms))].name = rep.names[r.IntN(int(numFields))]
			}
		}
	}
	var b strings.Builder
	sp := func() {
		if odd > 0 && r.IntN(8) == 0 {
			b.WriteString([]string{" ", "\n", "\t ", "\r\n"}[r.IntN(4)])
		}
	}
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			sp()
			b.WriteByte(',')
		}
		sp()
		b.WriteString(`"` + m.name + `"`)
		sp()
		b.WriteByte(':')
		sp()
		b.WriteString(m.value)
	}
	sp()
	b.WriteByte('}')
	return []byte(b.String())
}

// TestDecodeOneAgreesWithDecodeSpans decodes generated records, Graph's
// and odd ones, both ways. Graph's must all take the one walk (or the test
// would compare nothing); the odd ones, valid JSON or not, must decode to
// the same Record or the same rejection whichever way they go.
func TestDecodeOneAgreesWithDecodeSpans(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, e := range schemas.Endpoints {
		rep := reportFor(e)
		ones := 0
		for n := range 8000 {
			odd := 0
			if n%2 == 1 {
				odd = 1 + r.IntN(4)
			}
			raw := genRecord(r, rep, odd)
			if !json.Valid(raw) {
				continue // decodeValid's callers validate first
			}
			d, one := sameDecode(rep, raw)
			if d != "" {
				t.Fatalf("%s: %s\nrecord %s", e, d, raw)
			}
			if odd == 0 && !one {
				t.Fatalf("%s: a record shaped like Graph's took the two walks: %s", e, raw)
			}
			if one {
				ones++
			}
		}
		t.Logf("%s: %d of the records took the one walk", e, ones)
	}
}

// FuzzDecodeOne holds decodeOne and decode to decodeSpans on any valid
// JSON, for both endpoints.
func FuzzDecodeOne(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, rep := range []*report{v1Report, betaReport} {
		for odd := range 4 {
			f.Add(genRecord(r, rep, odd))
		}
	}
	f.Add([]byte(`{"id":"u1","userPrincipalName":"a@b","i\u0064":"u2"}`))
	f.Add([]byte(`{"id":"u1","userPrincipalName":"a@b","methodsRegistered":["a\"b","a\u0022b"]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		for _, rep := range []*report{v1Report, betaReport} {
			if d, _ := sameDecode(rep, raw); d != "" {
				t.Fatalf("%s: %s", rep.endpoint, d)
			}
		}
	})
}

// printableASCII reads eight bytes at a time: every byte, at every place
// of every length up to three words, must count as the plain definition
// counts it.
func TestPrintableASCII(t *testing.T) {
	plain := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] <= ' ' || s[i] >= 0x7f {
				return false
			}
		}
		return true
	}
	for n := range 25 {
		for i := range n {
			for c := range 256 {
				b := []byte(strings.Repeat("a", n))
				b[i] = byte(c)
				if got, want := printableASCII(string(b)), plain(string(b)); got != want {
					t.Fatalf("printableASCII(%q) = %t, want %t", b, got, want)
				}
			}
		}
	}
	// Two odd bytes in one word: a borrow out of the lower one must not
	// hide the upper one (nor flag a good one after it, unnoticed).
	edges := []byte{0x00, 0x01, 0x20, 0x21, 0x22, 0x7e, 0x7f, 0x80, 0xfe, 0xff}
	for i := range 16 {
		for j := i + 1; j < 16; j++ {
			for _, x := range edges {
				for _, y := range edges {
					b := []byte(strings.Repeat("~", 16))
					b[i], b[j] = x, y
					if got, want := printableASCII(string(b)), plain(string(b)); got != want {
						t.Fatalf("printableASCII(%q) = %t, want %t", b, got, want)
					}
				}
			}
		}
	}
}
