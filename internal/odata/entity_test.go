package odata

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func TestEntity(t *testing.T) {
	cases := []struct {
		name string
		body string
		raw  string // the record's bytes when ok
		err  error
	}{
		{"object", `{"@odata.context":"https://g/v1.0/$metadata#x/$entity","id":"a"}`,
			`{"@odata.context":"https://g/v1.0/$metadata#x/$entity","id":"a"}`, nil},
		{"surrounding-space", " \n{\"id\":\"a\"}\r\n", `{"id":"a"}`, nil},
		{"empty", "", "", ErrTruncated},
		{"blank", "  \n", "", ErrTruncated},
		{"truncated", `{"id":"a","methodsRegistered":["sms"`, "", ErrTruncated},
		{"unclosed-string", `{"id":"a`, "", ErrTruncated},
		{"array", `[{"id":"a"}]`, "", ErrNotJSON},
		{"string", `"a"`, "", ErrNotJSON},
		{"html", `<html>404</html>`, "", ErrNotJSON},
		{"trailing-data", `{"id":"a"} {"id":"b"}`, "", ErrNotJSON},
		{"bad-member", `{"id":"a",,"x":1}`, "", ErrNotJSON},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Entity([]byte(c.body))
			if c.err != nil {
				var se *SyntaxError
				if !errors.Is(err, c.err) || !errors.As(err, &se) {
					t.Fatalf("Entity(%q) = %v, want a *SyntaxError wrapping %v", c.body, err, c.err)
				}
				if se.Offset < 0 || se.Offset > int64(len(c.body)) {
					t.Errorf("offset %d outside the body of %d bytes", se.Offset, len(c.body))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Raw) != c.raw || r.Index != 0 || r.Err != nil {
				t.Errorf("record %+v, want Raw %s", r, c.raw)
			}
		})
	}
}

// FuzzEntity checks Entity against encoding/json: a record exactly when
// the body is one valid JSON object, and then the body's trimmed bytes.
func FuzzEntity(f *testing.F) {
	f.Add([]byte(`{"@odata.context":"x/$entity","id":"a","methodsRegistered":["sms"]}`))
	f.Add([]byte(` {"id":"a"} `))
	f.Add([]byte(`{"id":"a"`))
	f.Add([]byte(`[1]`))
	f.Add([]byte("\v{}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Entity(body)
		trimmed := bytes.Trim(body, " \t\r\n")
		want := json.Valid(body) && len(trimmed) > 0 && trimmed[0] == '{'
		if (err == nil) != want {
			t.Fatalf("Entity(%q) = %v, want ok %v", body, err, want)
		}
		if err == nil && !bytes.Equal(r.Raw, trimmed) {
			t.Fatalf("Raw %q, want %q", r.Raw, trimmed)
		}
		var se *SyntaxError
		if err != nil && (!errors.As(err, &se) || se.Offset < 0 || se.Offset > int64(len(body))) {
			t.Fatalf("error %v: want a *SyntaxError with an offset in the body", err)
		}
	})
}
