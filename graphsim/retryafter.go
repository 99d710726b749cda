package graphsim

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// retryAfterLog remembers, per (tenant, request target), until when the
// last 429 or 503 asked the client to wait, and counts requests for that
// target that came earlier: the test of a client honouring Retry-After.
// Keyed by target, not tenant, because requests of other shards already
// on the wire when the answer was written cannot have seen it.
type retryAfterLog struct {
	mu    sync.Mutex
	until map[targetKey]time.Time
	early atomic.Int64
}

// note records the Retry-After the response w carries, if any.
func (l *retryAfterLog) note(k targetKey, arrived time.Time, w http.ResponseWriter) {
	secs, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if err != nil || secs <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.until == nil {
		l.until = map[targetKey]time.Time{}
	}
	l.until[k] = arrived.Add(time.Duration(secs) * time.Second)
}

// check counts a request that arrived before its target's wait was over.
func (l *retryAfterLog) check(k targetKey, arrived time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until, ok := l.until[k]; ok && arrived.Before(until) {
		l.early.Add(1)
	}
}
