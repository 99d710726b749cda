package graphsim

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"
)

type faultKind int

const (
	noFault faultKind = iota
	faultThrottle
	faultUnavailable
	faultReset
	faultTruncate
	faultUnauthorized
	numFaultKinds
)

// decideFault picks the fault of a report request: one uniform draw
// against the cumulative probabilities in Faults field order.
func decideFault(d draw, f Faults) faultKind {
	u := d.unit(drawFault)
	acc := 0.0
	for k, p := range []float64{f.Throttle, f.Unavailable, f.Reset, f.Truncate, f.Unauthorized} {
		if math.IsNaN(p) {
			continue
		}
		acc += min(max(p, 0), 1)
		if u < acc {
			return faultKind(k + 1)
		}
	}
	return noFault
}

// writeUnavailable answers 503 the way a Graph front end does when a backend
// is busy; every other such answer carries Retry-After.
func (s *Server) writeUnavailable(w http.ResponseWriter, r *http.Request, d draw) {
	if d.bits(drawUnavailableRetryAfter)&1 == 0 {
		w.Header().Set("Retry-After", "1")
	}
	s.writeGraphError(w, r, http.StatusServiceUnavailable, "ServiceUnavailable",
		"The service is temporarily unavailable. Please retry the request later.")
}

// resetGrace lets the bytes already written reach the client before the
// reset, so it fails mid-body rather than before the status line.
const resetGrace = 50 * time.Millisecond

// writeBroken sends a 200 page that never completes: for faultReset the
// headers and half the body, then a TCP reset; for faultTruncate a
// Content-Length larger than what is sent, then an orderly close. Half of
// the truncations send the whole JSON document and only lack trailing
// bytes, which a client that stops reading at the closing brace misses.
func (s *Server) writeBroken(w http.ResponseWriter, fault faultKind, d draw, body []byte) {
	declared, sent := len(body), len(body)/2
	if fault == faultTruncate {
		sent = len(body) * 2 / 3
		if d.bits(drawTruncateVariant)&1 == 0 {
			declared, sent = len(body)+512, len(body)
		}
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (the server speaks HTTP/1.1 only, so this does not
		// happen): abort the response the way net/http can.
		w.Header().Set("Content-Length", strconv.Itoa(declared))
		w.Write(body[:sent])
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "HTTP/1.1 200 OK\r\n")
	h := w.Header().Clone()
	h.Set("Content-Length", strconv.Itoa(declared))
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Write(&head)
	head.WriteString("\r\n")
	head.Write(body[:sent])
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	conn.Write(head.Bytes())
	if fault == faultTruncate {
		conn.Close()
		return
	}
	time.Sleep(resetGrace)
	abort(conn)
}

// abort closes the TCP connection under conn with a reset (SO_LINGER 0),
// skipping TLS close_notify, as a crashed front end or a middlebox would.
func abort(conn net.Conn) {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetLinger(0)
	}
	conn.Close()
}
