package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
)

// WriteFile writes the Set as Prometheus text to path, atomically: to a
// temporary file in the same folder, renamed over path once complete, so
// node_exporter's textfile collector never reads half a file. The
// temporary file's name does not end in .prom, which the collector would
// read. The file is 0644: metrics hold no personal data.
func (s *Set) WriteFile(path string) error {
	if err := prometheus.WriteToTextfile(path, s.reg); err != nil {
		return fmt.Errorf("metrics: writing %s: %w", path, err)
	}
	return nil
}

// Job is the Pushgateway job the metrics are pushed under.
const Job = "credreg"

// PushOptions configure Push. The zero value pushes under job credreg,
// with no other grouping label, with a one-minute timeout.
type PushOptions struct {
	// Grouping labels the pushed group besides job, e.g. command=run or
	// the worker index of a scaled-out run, so that one group's push
	// does not replace another's metrics.
	Grouping map[string]string
	// Client is the HTTP client; nil means one with Timeout.
	Client *http.Client
	// Timeout bounds the push; 0 means a minute.
	Timeout time.Duration
}

// Push sends the Set to the Pushgateway at gatewayURL, replacing its
// group's metrics (HTTP PUT). User info in the URL becomes basic auth, and
// is kept out of errors.
func (s *Set) Push(ctx context.Context, gatewayURL string, o PushOptions) error {
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	u, err := url.Parse(gatewayURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("metrics: the Pushgateway URL is not an http(s) URL")
	}
	user := u.User
	u.User = nil
	p := push.New(u.String(), Job).Gatherer(s.reg).Client(o.Client)
	if user != nil {
		pass, _ := user.Password()
		p = p.BasicAuth(user.Username(), pass)
	}
	for k, v := range o.Grouping {
		p = p.Grouping(k, v)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := p.PushContext(ctx); err != nil {
		return fmt.Errorf("metrics: pushing to %s: %w", u.Redacted(), err)
	}
	return nil
}
