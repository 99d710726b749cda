package trends

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium package; .ci/run installs it.
const chromiumPath = "/usr/bin/chromium"

// screenshotPath is where CREDREG_UPDATE_SCREENSHOT=1 writes the picture
// the README shows.
const screenshotPath = "../docs/trends-report.png"

// chartDOM is what the page's DOM says of one chart.
type chartDOM struct {
	ID     string   `json:"id"`
	Kind   string   `json:"kind"`
	Series []string `json:"series"`
	Paths  int      `json:"paths"`
	Texts  []string `json:"texts"`
	Width  float64  `json:"width"`
}

// The report opens in a real browser with every chart drawn, and asks the
// network for nothing.
func TestReportInHeadlessChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		msg := fmt.Sprintf("\n\n*** the browser check of the HTML report needs Chromium at %s (apt-get install -y chromium);"+
			" it is NOT INSTALLED, so the report was NOT checked in a browser. ***\n\n", chromiumPath)
		// go test hides a passing package's output, skips included: CI
		// sets CREDREG_REQUIRE_CHROMIUM=1 so that a missing browser fails.
		if os.Getenv("CREDREG_REQUIRE_CHROMIUM") == "1" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED:" + msg)
	}
	r, _ := buildFixtureReport(t)
	page := filepath.Join(t.TempDir(), "report.html")
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf, HTMLOptions{Generated: time.Date(2026, 11, 10, 6, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	var mu sync.Mutex
	var requests []string
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}))
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()

	const js = `JSON.stringify([...document.querySelectorAll("svg.chart")].map(s => ({
		id: s.id, kind: s.dataset.chart, series: s.dataset.series.split("|"),
		paths: s.querySelectorAll("path").length,
		texts: [...s.querySelectorAll("text")].map(t => t.textContent),
		width: s.getBoundingClientRect().width})))`
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+page), chromedp.WaitVisible(chromedp.CSS("svg.chart"))); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	var got []chartDOM
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"t1-shares": "shares", "t1-families": "families", "t1-weekly": "weekly", "t1-users": "users"}
	if len(got) != len(want) {
		t.Errorf("%d charts in the page, want %d: %+v", len(got), len(want), got)
	}
	for _, c := range got {
		if want[c.ID] != c.Kind {
			t.Errorf("chart %s is %q", c.ID, c.Kind)
		}
		// Axes and grid are paths too: a drawn chart has more than one
		// per series besides them.
		if c.Paths < 2*len(c.Series)+5 || c.Width < 300 {
			t.Errorf("chart %s: %d paths, %.0f px wide: not drawn", c.ID, c.Paths, c.Width)
		}
		for _, s := range c.Series {
			found := false
			for _, txt := range c.Texts {
				found = found || txt == s
			}
			if !found {
				t.Errorf("chart %s: series %q not in its legend %q", c.ID, s, c.Texts)
			}
		}
	}
	mu.Lock()
	for _, u := range requests {
		if !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s", u)
		}
	}
	mu.Unlock()

	if os.Getenv("CREDREG_UPDATE_SCREENSHOT") == "1" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(screenshotPath, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", screenshotPath)
	}
}
