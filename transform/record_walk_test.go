package transform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/credreg/credreg/internal/odata"
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
	rec, ok := rep.decodeOne(raw, nil, false)
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

// sameUnchecked decodes body's records as odata.Split cuts them and as
// odata.SplitUnchecked does (each then checked as decodeOne walks it):
// the same records, rejections and keys, and the same splitting error.
// "" when they agree; n is the number of records.
func sameUnchecked(t *testing.T, d Decoder, body []byte) (diff string, n int) {
	t.Helper()
	want, wantErr := odata.Split(body)
	got, gotErr := odata.SplitUnchecked(body)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		return fmt.Sprintf("SplitUnchecked error %v, Split's %v", gotErr, wantErr), 0
	}
	w := d.DecodePage(nil, want.Records)
	if d := sameDecodedPage(d.DecodePage(nil, got.Records), w); d != "" {
		return "SplitUnchecked, DecodePage: " + d, len(w)
	}
	// ReadPage, into a slice holding another page's records.
	read, readErr := d.ReadPage(make([]Decoded, 3, 5), body)
	if fmt.Sprint(readErr) != fmt.Sprint(wantErr) {
		return fmt.Sprintf("ReadPage error %v, Split's %v", readErr, wantErr), len(w)
	}
	if d := sameDecodedPage(read, w); d != "" {
		return "ReadPage: " + d, len(w)
	}
	return "", len(w)
}

// sameDecodedPage compares two decodings of a page's records: ""
// when they are the same.
func sameDecodedPage(g, w []Decoded) string {
	if a, b := renderDecodedValues(g), renderDecodedValues(w); a != b {
		return "decoded:\n" + lineDiff(a, b)
	}
	for i := range g {
		if g[i].key != w[i].key || g[i].keyed != w[i].keyed {
			return fmt.Sprintf("record %d: key %v %v, Split's %v %v", i, g[i].key, g[i].keyed, w[i].key, w[i].keyed)
		}
		if g[i].Err == nil {
			if d := deepDiff(g[i].Rec, w[i].Rec); d != "" {
				return fmt.Sprintf("record %d: %s", i, d)
			}
		}
	}
	return ""
}

// renderDecodedValues is renderDecoded, without a testing.T.
func renderDecodedValues(ds []Decoded) string {
	var sb strings.Builder
	for _, d := range ds {
		rec, err := json.Marshal(d.Rec)
		if err != nil {
			rec = []byte(err.Error())
		}
		fmt.Fprintf(&sb, "%d %s %s %v\n", d.Index, d.Raw, rec, d.Err)
	}
	return sb.String()
}

// mutate breaks a record the ways a page can be broken: cut short, a byte
// gone, a byte replaced by one that matters to JSON (a quote, a backslash,
// a bracket, a control byte...), a bad escape, a stray byte after it.
func mutate(r *rand.Rand, raw []byte) []byte {
	if len(raw) == 0 {
		return raw
	}
	b := bytes.Clone(raw)
	i := r.IntN(len(b))
	switch r.IntN(6) {
	case 0:
		return b[:i]
	case 1:
		return append(b[:i], b[i+1:]...)
	case 2:
		b[i] = "\"\\[]{},:\x00\x1f\n x1-e\xff"[r.IntN(17)]
		return b
	case 3:
		bad := []string{`\x`, `\u12`, `\u00zz`, `\`, `\ud800`, `\"`, "\t"}[r.IntN(7)]
		if k := bytes.IndexByte(b[i:], '"'); k >= 0 {
			i += k + 1
		}
		return append(b[:i], append([]byte(bad), raw[i:]...)...)
	case 4:
		return append(b, []byte{' ', ',', '}', ']', 'x', '0'}[r.IntN(6)])
	default:
		return append(b[:i], append([]byte(" \t"), raw[i:]...)...)
	}
}

// TestDecodeUncheckedAgrees holds the one walk that checks records as it
// decodes them (SplitUnchecked, DecodePage) to the two it replaces
// (Split's check, then DecodePage) on generated pages: Graph's records,
// odd ones (repeats, wrong types, escapes, unknown members...) and broken
// ones (mutate), for both endpoints.
func TestDecodeUncheckedAgrees(t *testing.T) {
	// Strings broken where the walk reads them fast: a bad escape or a
	// control byte with an escaped quote last (the token's end is looked
	// for), without (copied as they are), in a name, in a list.
	broken := []string{`"a\x\""`, "\"a\x01\\\"\"", `"a\x"`, "\"a\x01\"", "\"\xc3\xa9\x01\"", `"\u12\""`, `"\ud800\""`}
	for _, e := range schemas.Endpoints {
		d := Decoder{rep: reportFor(e)}
		for _, s := range broken {
			for _, rec := range []string{`{"id":"u1","userPrincipalName":` + s + `}`, `{"id":"u1",` + s + `:1,"userPrincipalName":"a"}`,
				`{"id":"u1","userPrincipalName":"a","methodsRegistered":["email",` + s + `]}`, `{"id":"u1","userPrincipalName":"a","x":[` + s + `]}`} {
				body := []byte(`{"value":[{"id":"u0","userPrincipalName":"a@b"},` + rec + `]}`)
				if diff, _ := sameUnchecked(t, d, body); diff != "" {
					t.Fatalf("%s: %s\npage %s", e, diff, body)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, e := range schemas.Endpoints {
		rep := reportFor(e)
		d := Decoder{rep: rep}
		records, invalid := 0, 0
		for range 1000 {
			var recs []string
			for k := range 1 + r.IntN(8) {
				odd := 0
				if k%2 == 1 {
					odd = 1 + r.IntN(4)
				}
				raw := genRecord(r, rep, odd)
				if r.IntN(3) == 0 {
					raw = mutate(r, raw)
				}
				if !json.Valid(raw) {
					invalid++
				}
				recs = append(recs, string(raw))
			}
			body := []byte(`{"@odata.context":"c","value":[` + strings.Join(recs, ",") + `],"@odata.nextLink":"n"}`)
			if r.IntN(10) == 0 {
				body = mutate(r, body)
			}
			diff, n := sameUnchecked(t, d, body)
			if diff != "" {
				t.Fatalf("%s: %s\npage %s", e, diff, body)
			}
			records += n
		}
		if invalid < 200 || records < 2000 {
			t.Fatalf("%s: %d records, %d of them invalid: too few to compare", e, records, invalid)
		}
		t.Logf("%s: %d records, %d of them invalid JSON", e, records, invalid)
	}
}

// FuzzDecodeUnchecked holds SplitUnchecked and DecodePage to Split and
// DecodePage on any page body, and on any record inside a page.
func FuzzDecodeUnchecked(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, rep := range []*report{v1Report, betaReport} {
		for odd := range 4 {
			f.Add(genRecord(r, rep, odd), false)
		}
	}
	f.Add([]byte(`{"value":[{"id":"u1","userPrincipalName":"a@b"},{"id":"u1","userPrincipalName":"a\u0000"}]}`), true)
	f.Add([]byte(`{"id":"u1","userPrincipalName":"a@b","x":[1,{"y":"\"]"}],"methodsRegistered":["a\"b","a\u0022b"]}`), false)
	f.Add([]byte(`{"id":"u1","userPrincipalName":"a`+"\x01"+`b"}`), false)
	f.Add([]byte(`{"id":"u1","userPrincipalName":"a@b"} `), false)
	f.Fuzz(func(t *testing.T, b []byte, page bool) {
		body := b
		if !page {
			body = []byte(`{"value":[{"id":"u0","userPrincipalName":"a@b"},` + string(b) + `]}`)
		}
		for _, rep := range []*report{v1Report, betaReport} {
			if d, _ := sameUnchecked(t, Decoder{rep: rep}, body); d != "" {
				t.Fatalf("%s: %s", rep.endpoint, d)
			}
		}
	})
}
