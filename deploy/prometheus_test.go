package deploy

import (
	"bufio"
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// alertRules is a Prometheus rule file, with the fields the recipe uses.
// decodeStrict refuses any other, so a misspelt one (expression:, label:)
// fails here, as promtool check rules would.
type alertRules struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for,omitempty"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// exportedMetrics reads prometheus/metrics.txt, the list of the metrics
// credreg exports; credreg's own tests (pipeline/metrics) fail when the
// code exports other names, so an alert here cannot name a metric that
// was renamed there.
func exportedMetrics(t *testing.T) []string {
	t.Helper()
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(readRecipe(t, "prometheus/metrics.txt")))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			names = append(names, l)
		}
	}
	if len(names) == 0 {
		t.Fatal("prometheus/metrics.txt lists no metric")
	}
	return names
}

// The labels credreg's metrics carry, and those node_exporter or the
// Pushgateway add.
var metricLabels = []string{"tenant_id", "status", "class", "outcome", "instance", "job"}

var (
	metricToken = regexp.MustCompile(`\bcredreg_[a-z0-9_]+`)
	byClause    = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	labelRef    = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
)

func TestAlertRules(t *testing.T) {
	var rules alertRules
	if err := decodeStrict(readRecipe(t, "prometheus/alerts.yaml"), &rules); err != nil {
		t.Fatal(err)
	}
	known := exportedMetrics(t)
	var alerts []string
	used := map[string]bool{}
	for _, g := range rules.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: no name or no rules", g.Name)
		}
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("rule %q: an alert needs a name and an expr", r.Alert)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: no severity label or no summary", r.Alert)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for: %v", r.Alert, err)
				}
			}
			if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") {
				t.Errorf("%s: unbalanced parentheses in %q", r.Alert, r.Expr)
			}
			names := metricToken.FindAllString(r.Expr, -1)
			if len(names) == 0 {
				t.Errorf("%s: the expr names no credreg metric", r.Alert)
			}
			for _, n := range names {
				used[n] = true
				if !slices.Contains(known, n) {
					t.Errorf("%s: %s is not a metric credreg exports (prometheus/metrics.txt)", r.Alert, n)
				}
			}
			var kept []string
			for _, m := range byClause.FindAllStringSubmatch(r.Expr, -1) {
				for _, l := range strings.Split(m[1], ",") {
					l = strings.TrimSpace(l)
					kept = append(kept, l)
					if !slices.Contains(metricLabels, l) {
						t.Errorf("%s: no credreg metric has the label %q", r.Alert, l)
					}
				}
			}
			for _, text := range r.Annotations {
				for _, m := range labelRef.FindAllStringSubmatch(text, -1) {
					if !slices.Contains(kept, m[1]) {
						t.Errorf("%s: the annotation uses $labels.%s, which the expr aggregates away", r.Alert, m[1])
					}
				}
			}
		}
	}
	// What issue 13 asks the rules to catch.
	for _, want := range []string{"CredregNoSuccessIn36h", "CredregRejectsAboveBudget", "CredregThrottledRatioHigh", "CredregMissedNight"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
	for _, m := range []string{"credreg_last_success_timestamp_seconds", "credreg_days_since_last_slice",
		"credreg_rejected_records", "credreg_reject_budget_ratio", "credreg_throttled_requests_total", "credreg_requests_total"} {
		if !used[m] {
			t.Errorf("no alert uses %s", m)
		}
	}
}
