package trends

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-analyze/charts"
)

// gappyHistory is a tenant of 12 days with days 4 and 5 and day 9
// missing: three runs of days.
func gappyHistory() *TenantHistory {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	th := &TenantHistory{Tenant: "t", Start: start, Days: make([]*Day, 12)}
	for i := range th.Days {
		if i == 4 || i == 5 || i == 9 {
			th.Missing = append(th.Missing, th.Date(i))
			continue
		}
		users := int64(100)
		th.Days[i] = &Day{Date: th.Date(i), Tenant: "t", values: map[string]any{
			"users": users, "users_without_methods": int64(10),
			"mfa_registered_share": 0.3 + 0.05*float64(i), "mfa_capable_share": 0.2 + 0.05*float64(i),
			"sspr_registered_share": 0.5, "passwordless_capable_share": 0.1,
			"users_authenticator_app": int64(30 + i), "users_phone": int64(20), "users_email": int64(40),
		}}
	}
	return th
}

var pathRE = regexp.MustCompile(`<path d="([^"]*)" style="([^"]*)"`)

// paths returns the d attributes of the SVG's paths whose style holds all of
// the given parts.
func paths(svg []byte, parts ...string) []string {
	var out []string
	for _, m := range pathRE.FindAllSubmatch(svg, -1) {
		style := string(m[2])
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(style, p)
		}
		if ok {
			out = append(out, string(m[1]))
		}
	}
	return out
}

func rgb(c charts.Color) string { return fmt.Sprintf("rgb(%d,%d,%d)", c.R, c.G, c.B) }

// The library's null value is what breaks a line: each series is drawn as
// one path per run of days, so nothing is drawn across a missing day.
func TestSharesChartBreaksAtMissingDays(t *testing.T) {
	th := gappyHistory()
	c, err := SharesChart("x-shares", th)
	if err != nil {
		t.Fatal(err)
	}
	palette := charts.GetTheme(charts.ThemeLight)
	for i, name := range []string{"MFA registered", "MFA capable", "SSPR registered", "passwordless capable"} {
		lines := paths(c.SVG, "stroke-width:2;", "stroke:"+rgb(palette.GetSeriesColor(i)), "fill:none")
		if len(lines) != 3 {
			t.Errorf("%s: %d line paths, want 3 (one per run of days): %q", name, len(lines), lines)
		}
		if !bytes.Contains(c.SVG, []byte(">"+name+"</text>")) {
			t.Errorf("%s: not in the legend", name)
		}
	}
	if !bytes.HasPrefix(c.SVG, []byte(`<svg id="x-shares" class="chart" data-chart="shares" data-series="MFA registered|MFA capable|SSPR registered|passwordless capable" `)) {
		t.Errorf("root element: %.200s", c.SVG)
	}
}

// The stacked area is filled per run of days too: each family's band is
// one filled shape per run, so no shape covers a missing day.
func TestFamiliesChartBreaksAtMissingDays(t *testing.T) {
	th := gappyHistory()
	c, err := FamiliesChart("x-families", th)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Series, "|"); got != "email|phone|authenticator_app" {
		t.Errorf("series %s, want the families used, top of the stack first", got)
	}
	palette := charts.GetTheme(charts.ThemeLight)
	for k, fam := range []string{"authenticator_app", "phone", "email"} {
		fills := paths(c.SVG, "stroke:none", "fill:"+rgb(palette.GetSeriesColor(k)))
		starts := map[string]bool{}
		for _, d := range fills {
			starts[strings.Fields(d)[1]] = true
		}
		if len(fills) != 3 || len(starts) != 3 {
			t.Errorf("%s: %d filled shapes starting at %d places, want 3 (one per run of days)", fam, len(fills), len(starts))
		}
		if !bytes.Contains(c.SVG, []byte(">"+fam+"</text>")) {
			t.Errorf("%s: not in the legend", fam)
		}
	}
}

func TestWeeklyChart(t *testing.T) {
	tr := &TenantReport{TenantHistory: gappyHistory(), Weeks: []Week{
		{Year: 2026, Week: 44, Added: map[string]int64{"passkey": 3, "phone": 1}},
		{Year: 2026, Week: 45, Added: map[string]int64{"passkey": 5}, Partial: true},
	}}
	c, err := WeeklyChart("x-weekly", tr)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Series, "|"); got != "phone|passkey" {
		t.Errorf("series %s", got)
	}
	if !bytes.Contains(c.SVG, []byte(">2026-W45*</text>")) {
		t.Errorf("the partial week is not marked")
	}
	if c, err := WeeklyChart("x", &TenantReport{TenantHistory: gappyHistory()}); c != nil || err != nil {
		t.Errorf("no events: chart %v, err %v; want none", c, err)
	}
}

func TestSeriesNeverInterpolates(t *testing.T) {
	got := series(gappyHistory(), share("mfa_registered_share"))
	for i, v := range got {
		if missing := i == 4 || i == 5 || i == 9; missing != math.IsNaN(v) {
			t.Errorf("day %d: %v", i, v)
		}
	}
}

// The page is one file that fetches nothing: no script, stylesheet, font
// or image from anywhere, and every chart inline.
func TestWriteHTMLIsSelfContained(t *testing.T) {
	r, f := buildFixtureReport(t)
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf, HTMLOptions{Generated: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", "@import", "url(", " src=", " href="} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q", bad)
		}
	}
	for _, want := range []string{`id="t1-shares"`, `id="t1-families"`, `id="t1-weekly"`, `id="t1-users"`,
		"Missing days (no snapshot; Graph cannot serve a past day): 2026-10-11..2026-10-12, 2026-10-26",
		f.upn(100), f.upn(33), "≥ 39"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Every http URL in it is an XML namespace name, never fetched.
	for _, m := range regexp.MustCompile(`https?://[^"'\s<>]+`).FindAllString(page, -1) {
		if m != "http://www.w3.org/2000/svg" && m != "http://www.w3.org/1999/xlink" {
			t.Errorf("URL %s in the page", m)
		}
	}
	_ = context.Background()
}
