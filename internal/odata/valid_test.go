package odata

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	inputs := []string{
		``, ` `, `null`, `nul`, `nullx`, `true`, `false`, `0`, `-0`, `01`, `-`, `1.`, `1.5`, `1e`, `1e+`, `1E-7`,
		`.5`, `"a"`, `"a`, `"\u00e9"`, `"\u00g9"`, `"\x"`, "\"\x01\"", "\"\xff\"", `"\/\b\f\n\r\t\"\\"`,
		`{}`, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{1:1}`, `[]`, `[1,]`, `[,1]`, `[1 2]`, `[1]]`, ` {"a":[{"b":null}]} `,
		deep(10000), deep(10001), `{"a":` + deep(9999) + `}`, `{"a":` + deep(10000) + `}`,
	}
	for _, in := range inputs {
		if got, want := valid([]byte(in)), json.Valid([]byte(in)); got != want {
			t.Errorf("valid(%.40q) = %v, json.Valid says %v", in, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	f.Add([]byte(`{"value":[{"id":"a\u00e9","n":-1.5e3,"b":[true,false,null]}]}`))
	f.Add([]byte(`{"a" 1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := valid(b), json.Valid(b); got != want {
			t.Fatalf("valid(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}
