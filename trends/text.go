package trends

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// sparkBlocks are the eight heights of a sparkline, lowest first.
var sparkBlocks = []rune("▁▂▃▄▅▆▇█")

// SparkWidth is the most characters a sparkline takes: a longer range
// shares each character among several days.
const SparkWidth = 90

// Sparkline draws values (NaN: no value that day) as block characters,
// scaled from their minimum to their maximum. Each character covers
// ceil(len/width) consecutive days and shows their mean; it is a space when
// any of its days has no value, so a missed day is never hidden.
func Sparkline(values []float64, width int) string {
	if width <= 0 {
		width = SparkWidth
	}
	per := max(1, (len(values)+width-1)/width)
	var cells []float64
	for i := 0; i < len(values); i += per {
		sum, gap := 0.0, false
		chunk := values[i:min(i+per, len(values))]
		for _, v := range chunk {
			if math.IsNaN(v) {
				gap = true
			}
			sum += v
		}
		if gap {
			cells = append(cells, math.NaN())
		} else {
			cells = append(cells, sum/float64(len(chunk)))
		}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range cells {
		if !math.IsNaN(v) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	var b strings.Builder
	for _, v := range cells {
		switch {
		case math.IsNaN(v):
			b.WriteByte(' ')
		case hi == lo:
			b.WriteRune(sparkBlocks[len(sparkBlocks)/2-1])
		default:
			b.WriteRune(sparkBlocks[int(math.Round((v-lo)/(hi-lo)*float64(len(sparkBlocks)-1)))])
		}
	}
	return b.String()
}

// series is a column's value on each day of th: NaN where the day is
// missing or the value NULL.
func series(th *TenantHistory, value func(d *Day) (float64, bool)) []float64 {
	out := make([]float64, len(th.Days))
	for i, d := range th.Days {
		out[i] = math.NaN()
		if d == nil {
			continue
		}
		if v, ok := value(d); ok {
			out[i] = v
		}
	}
	return out
}

func share(col string) func(d *Day) (float64, bool) {
	return func(d *Day) (float64, bool) { return d.Float(col) }
}

func count(col string) func(d *Day) (float64, bool) {
	return func(d *Day) (float64, bool) {
		v, ok := d.Int(col)
		return float64(v), ok
	}
}

// tableMetrics are the rows of each tenant's block in WriteTable.
var tableMetrics = []struct {
	label  string
	value  func(d *Day) (float64, bool)
	format func(float64) string
}{
	{"MFA registered", share("mfa_registered_share"), pct},
	{"SSPR registered", share("sspr_registered_share"), pct},
	{"passwordless capable", share("passwordless_capable_share"), pct},
	{"users", count("users"), func(v float64) string { return strconv.FormatInt(int64(v), 10) }},
}

func pct(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" }

// WriteTable prints, per tenant, its range and a line per metric: the
// first and last value, and a sparkline; then the missing days.
func WriteTable(w io.Writer, h *History) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for n, th := range h.Tenants {
		if n > 0 {
			fmt.Fprintln(tw)
		}
		present := len(th.Days) - len(th.Missing) - len(th.NoSummary)
		fmt.Fprintf(tw, "tenant %s\t%s .. %s\t%d of %d days\t\n", th.Tenant, th.Start.Format(time.DateOnly),
			h.To.Format(time.DateOnly), present, len(th.Days))
		for _, m := range tableMetrics {
			vals := series(th, m.value)
			first, last := "-", "-"
			for _, v := range vals {
				if !math.IsNaN(v) {
					first = m.format(v)
					break
				}
			}
			for i := len(vals) - 1; i >= 0; i-- {
				if !math.IsNaN(vals[i]) {
					last = m.format(vals[i])
					break
				}
			}
			fmt.Fprintf(tw, "  %s\t%s → %s\t%s\t\n", m.label, first, last, Sparkline(vals, SparkWidth))
		}
		writeGaps(tw, th, "  ")
	}
	return tw.Flush()
}

// writeGaps prints the notes on a tenant's missing days, if any.
func writeGaps(w io.Writer, th *TenantHistory, indent string) {
	if len(th.Missing) > 0 {
		fmt.Fprintf(w, "%smissing days: %s\n", indent, DayList(th.Missing))
	}
	if len(th.NoSummary) > 0 {
		fmt.Fprintf(w, "%sdays without a summary (written before schema version 4; rebuild with credreg backfill): %s\n",
			indent, DayList(th.NoSummary))
	}
}

// WriteGapNotes prints, for every tenant with gaps, one line naming its
// missing days: what CSV and JSON print to stderr, as their rows list only
// the days that have data.
func WriteGapNotes(w io.Writer, h *History) {
	for _, th := range h.Tenants {
		if len(th.Missing) > 0 || len(th.NoSummary) > 0 {
			fmt.Fprintf(w, "tenant %s:\n", th.Tenant)
			writeGaps(w, th, "  ")
		}
	}
}

// DayList writes days compactly: runs of consecutive days as first..last.
func DayList(days []time.Time) string {
	var parts []string
	for i := 0; i < len(days); {
		j := i
		for j+1 < len(days) && days[j+1].Equal(days[j].AddDate(0, 0, 1)) {
			j++
		}
		s := days[i].Format(time.DateOnly)
		if j > i {
			s += ".." + days[j].Format(time.DateOnly)
		}
		parts = append(parts, s)
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// WriteCSV prints one row per (snapshot_date, tenant_id) that has a
// summary, with every column of registration_daily_summary; NULL is empty.
func WriteCSV(w io.Writer, h *History) error {
	cw := csv.NewWriter(w)
	cols := SummaryColumns()
	if err := cw.Write(append([]string{"snapshot_date", "tenant_id"}, cols...)); err != nil {
		return err
	}
	for _, th := range h.Tenants {
		for _, d := range th.Present() {
			rec := []string{d.Date.Format(time.DateOnly), d.Tenant}
			for _, c := range cols {
				rec = append(rec, csvValue(d.Value(c)))
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// WriteJSON prints one JSON object per line per (snapshot_date,
// tenant_id) that has a summary, with every column of
// registration_daily_summary in the table's order; NULL is null.
func WriteJSON(w io.Writer, h *History) error {
	cols := SummaryColumns()
	var b []byte
	for _, th := range h.Tenants {
		for _, d := range th.Present() {
			b = append(b[:0], `{"snapshot_date":"`...)
			b = d.Date.AppendFormat(b, time.DateOnly)
			b = append(b, `","tenant_id":`...)
			t, _ := json.Marshal(d.Tenant)
			b = append(b, t...)
			for _, c := range cols {
				b = append(b, ',', '"')
				b = append(b, c...) // column names are snake_case ASCII
				b = append(b, '"', ':')
				v, err := json.Marshal(d.Value(c))
				if err != nil {
					return err
				}
				b = append(b, v...)
			}
			b = append(b, "}\n"...)
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
	}
	return nil
}
