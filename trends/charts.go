package trends

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/go-analyze/charts"

	"github.com/credreg/credreg/schemas"
)

// Chart is one rendered chart: an SVG document whose root element carries
// id, data-chart and data-series attributes, so a page check (and a
// reader's stylesheet) can find each chart and the series it draws.
type Chart struct {
	ID, Kind string
	// Title is the chart's caption; the page prints it above the SVG,
	// where it cannot collide with a legend that wraps.
	Title  string
	Series []string
	SVG    []byte
}

const (
	chartWidth  = 960
	chartHeight = 360
	// xLabels is about how many dates an x axis names: a year of days
	// cannot all be labelled.
	xLabels = 10
)

// shareSeries are the lines of the shares chart.
var shareSeries = []struct{ name, col string }{
	{"MFA registered", "mfa_registered_share"},
	{"MFA capable", "mfa_capable_share"},
	{"SSPR registered", "sspr_registered_share"},
	{"passwordless capable", "passwordless_capable_share"},
}

// nullify turns NaN (no value) into the charting library's null value,
// which it draws as a break in the line: GetNullValue is math.MaxFloat64,
// and the line painter splits its path at every such point.
func nullify(vals []float64) []float64 {
	out := make([]float64, len(vals))
	for i, v := range vals {
		if math.IsNaN(v) {
			out[i] = charts.GetNullValue()
		} else {
			out[i] = v
		}
	}
	return out
}

func dayLabels(th *TenantHistory) []string {
	out := make([]string, len(th.Days))
	for i := range th.Days {
		out[i] = th.Date(i).Format(time.DateOnly)
	}
	return out
}

func newPainter() *charts.Painter { return newPainterFor(0) }

// newPainterFor is a painter tall enough for a vertical legend of n
// series beside the chart.
func newPainterFor(n int) *charts.Painter {
	return charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputSVG, Width: chartWidth,
		Height: max(chartHeight, 90+26*n)})
}

// sideLegend is the padding that leaves room for a vertical legend on the
// right.
var sideLegend = charts.Box{Top: 20, Left: 20, Right: 20, Bottom: 20}

// SharesChart draws the registration shares over time, one line each;
// a missing day breaks every line.
func SharesChart(id string, th *TenantHistory) (*Chart, error) {
	var data [][]float64
	var names []string
	for _, s := range shareSeries {
		data = append(data, nullify(series(th, share(s.col))))
		names = append(names, s.name)
	}
	opt := charts.NewLineChartOptionWithData(data)
	opt.Theme = charts.GetTheme(charts.ThemeLight)
	opt.XAxis.Labels = dayLabels(th)
	opt.XAxis.LabelCount = xLabels
	opt.Legend.SeriesNames = names
	opt.Legend.Offset = charts.OffsetRight
	opt.YAxis = []charts.YAxisOption{{Min: charts.Ptr(0.0), Max: charts.Ptr(1.0),
		ValueFormatter: func(v float64) string { return strconv.Itoa(int(math.Round(v*100))) + "%" }}}
	opt.Symbol.Shape = charts.SymbolNone
	p := newPainter()
	if err := p.LineChart(opt); err != nil {
		return nil, fmt.Errorf("trends: shares chart: %w", err)
	}
	return finish(p, id, "shares", "Registration shares", names)
}

// UsersChart draws the number of users over time.
func UsersChart(id string, th *TenantHistory) (*Chart, error) {
	names := []string{"users", "users without methods"}
	opt := charts.NewLineChartOptionWithData([][]float64{
		nullify(series(th, count("users"))),
		nullify(series(th, count("users_without_methods"))),
	})
	opt.XAxis.Labels = dayLabels(th)
	opt.XAxis.LabelCount = xLabels
	opt.Legend.SeriesNames = names
	opt.Legend.Offset = charts.OffsetRight
	opt.YAxis = []charts.YAxisOption{{Min: charts.Ptr(0.0)}}
	opt.Symbol.Shape = charts.SymbolNone
	p := newPainter()
	if err := p.LineChart(opt); err != nil {
		return nil, fmt.Errorf("trends: users chart: %w", err)
	}
	return finish(p, id, "users", "Users", names)
}

// usedFamilies are the families with a value above zero on some day, in
// schemas.MethodFamilies order.
func usedFamilies(th *TenantHistory) []schemas.MethodFamily {
	var out []schemas.MethodFamily
	for _, f := range schemas.MethodFamilies() {
		for _, d := range th.Days {
			if v, ok := d.intOK(schemas.SummaryFamilyColumn(f)); ok && v > 0 {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

func (d *Day) intOK(col string) (int64, bool) {
	if d == nil {
		return 0, false
	}
	return d.Int(col)
}

// FamiliesChart draws users per method family as a stacked area, with a
// gap on a missing day.
//
// The library's own stacking cannot leave a gap: it stacks a null as zero,
// so the area would dip to the axis. So the stack is summed here, and each
// family is drawn as filled areas from its cumulative top down to the
// axis, the highest first so each lower one paints over it and leaves
// only its own band visible. A filled area with a break inside fills
// across the break, so each run of consecutive days is a series of its
// own, ending at the run's last day and null before its first: the area
// of a run closes on the run alone. The legend names the families once.
func FamiliesChart(id string, th *TenantHistory) (*Chart, error) {
	fams := usedFamilies(th)
	if len(fams) == 0 {
		return nil, nil
	}
	n := len(th.Days)
	cum := make([][]float64, len(fams)) // cum[k][i]: families 0..k on day i
	for k, f := range fams {
		cum[k] = make([]float64, n)
		for i, d := range th.Days {
			v, _ := d.intOK(schemas.SummaryFamilyColumn(f))
			cum[k][i] = float64(v)
			if k > 0 {
				cum[k][i] += cum[k-1][i]
			}
		}
	}
	var list charts.LineSeriesList
	var colors []charts.Color
	palette := charts.GetTheme(charts.ThemeLight)
	names := make([]string, len(fams))
	for _, r := range runs(th) {
		for k := len(fams) - 1; k >= 0; k-- {
			vals := make([]float64, r[1]+1)
			for i := range vals {
				vals[i] = charts.GetNullValue()
				if i >= r[0] {
					vals[i] = cum[k][i]
				}
			}
			// No name: the library sorts named series into the
			// legend's order, which would undo the drawing order; the
			// legend names the first run's series, one per family.
			list = append(list, charts.LineSeries{Values: vals})
			colors = append(colors, palette.GetSeriesColor(k))
		}
	}
	for k := range fams {
		names[len(fams)-1-k] = string(fams[k])
	}
	opt := charts.NewLineChartOptionWithSeries(list)
	opt.Theme = palette.WithSeriesColors(colors)
	opt.XAxis.Labels = dayLabels(th)
	opt.XAxis.LabelCount = xLabels
	opt.Legend.SeriesNames = names
	opt.Legend.Offset = charts.OffsetRight
	opt.Padding = sideLegend
	opt.FillArea = charts.Ptr(true)
	opt.FillOpacity = 255
	opt.YAxis = []charts.YAxisOption{{Min: charts.Ptr(0.0)}}
	opt.Symbol.Shape = charts.SymbolNone
	p := newPainterFor(len(fams))
	if err := p.LineChart(opt); err != nil {
		return nil, fmt.Errorf("trends: families chart: %w", err)
	}
	return finish(p, id, "families", "Users per method family (stacked)", names)
}

// runs are the [first, last] indexes of th's runs of consecutive days
// with a summary.
func runs(th *TenantHistory) [][2]int {
	var out [][2]int
	for i := 0; i < len(th.Days); i++ {
		if th.Days[i] == nil {
			continue
		}
		j := i
		for j+1 < len(th.Days) && th.Days[j+1] != nil {
			j++
		}
		out = append(out, [2]int{i, j})
		i = j
	}
	return out
}

// WeeklyChart draws method_added events per ISO week, stacked by family;
// a week with a missing day is labelled with a trailing *.
func WeeklyChart(id string, tr *TenantReport) (*Chart, error) {
	var fams []string
	for _, f := range schemas.MethodFamilies() {
		for _, w := range tr.Weeks {
			if w.Added[string(f)] > 0 {
				fams = append(fams, string(f))
				break
			}
		}
	}
	if len(fams) == 0 {
		return nil, nil
	}
	data := make([][]float64, len(fams))
	for k, f := range fams {
		for _, w := range tr.Weeks {
			data[k] = append(data[k], float64(w.Added[f]))
		}
	}
	var labels []string
	for _, w := range tr.Weeks {
		l := w.Label()
		if w.Partial {
			l += "*"
		}
		labels = append(labels, l)
	}
	opt := charts.NewBarChartOptionWithData(data)
	opt.CategoryAxis.Labels = labels
	opt.CategoryAxis.LabelCount = xLabels
	opt.Legend.SeriesNames = fams
	opt.Legend.Offset = charts.OffsetRight
	opt.Padding = sideLegend
	opt.StackSeries = charts.Ptr(true)
	p := newPainterFor(len(fams))
	if err := p.BarChart(opt); err != nil {
		return nil, fmt.Errorf("trends: weekly chart: %w", err)
	}
	return finish(p, id, "weekly", "Methods added per ISO week (* a day of the week is missing, so its count is short)", fams)
}

// finish renders p and names the chart on its root element.
func finish(p *charts.Painter, id, kind, title string, series []string) (*Chart, error) {
	svg, err := p.Bytes()
	if err != nil {
		return nil, fmt.Errorf("trends: render %s chart: %w", kind, err)
	}
	attrs := fmt.Sprintf(`<svg id="%s" class="chart" data-chart="%s" data-series="%s" `, html.EscapeString(id),
		html.EscapeString(kind), html.EscapeString(strings.Join(series, "|")))
	svg, ok := bytes.CutPrefix(svg, []byte("<svg "))
	if !ok {
		return nil, fmt.Errorf("trends: the %s chart is not an <svg> element", kind)
	}
	return &Chart{ID: id, Kind: kind, Title: title, Series: series, SVG: append([]byte(attrs), svg...)}, nil
}
