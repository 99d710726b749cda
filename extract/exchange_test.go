package extract

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/credreg/credreg/schemas"
)

// A body past the cap is a transport fault, retried, whether Graph says
// its length up front or streams it.
func TestBodyCap(t *testing.T) {
	const limit = 1024
	page := func(size int) string {
		prefix := `{"value":[],"padding":"`
		return prefix + strings.Repeat("x", size-len(prefix)-2) + `"}`
	}
	cases := []struct {
		name    string
		size    int
		chunked bool
		ok      bool
	}{
		{"at-the-cap", limit, false, true},
		{"at-the-cap-streamed", limit, true, true},
		{"over-the-cap", limit + 1, false, false},
		{"over-the-cap-streamed", 4 * limit, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newGraphStub(t, func(w http.ResponseWriter, r *http.Request, n int) {
				body := page(c.size)
				w.Header().Set("Content-Type", "application/json")
				if c.chunked {
					// Flushing before the body makes the server stream it
					// without a Content-Length.
					w.WriteHeader(200)
					w.(http.Flusher).Flush()
				} else {
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				}
				w.Write([]byte(body))
			})
			cl := g.client(t, ClientOptions{MaxBodyBytes: limit})
			p, err := cl.FetchPage(context.Background(), cl.ReportURL(schemas.UserRegistrationDetails, ""), false)
			if c.ok {
				if err != nil || len(p.Body) != c.size {
					t.Fatalf("%d bytes, err %v", len(p.Body), err)
				}
				return
			}
			if !errors.Is(err, ErrBodyTooLarge) || !errors.Is(err, ErrTransient) || classOf(err) != Transient {
				t.Fatalf("err = %v (class %v), want a transient ErrBodyTooLarge", err, classOf(err))
			}
			if !strings.Contains(err.Error(), "1024 bytes") {
				t.Errorf("error %q does not say the cap", err)
			}
			// Retried, then given up on.
			_, err = cl.Pages(schemas.UserRegistrationDetails, "").Next(context.Background())
			if !errors.Is(err, ErrRetriesExceed) || !errors.Is(err, ErrBodyTooLarge) {
				t.Fatalf("pager err = %v", err)
			}
			if n := g.n.Load(); n != 1+4 {
				t.Errorf("%d requests, want 1 and 4 attempts", n)
			}
		})
	}
	// The zero value is the default cap.
	cl := newGraphStub(t, nil).client(t, ClientOptions{})
	if cl.maxBody != DefaultMaxBodyBytes {
		t.Errorf("default cap %d", cl.maxBody)
	}
}
