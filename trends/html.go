package trends

import (
	"fmt"
	"html/template"
	"io"
	"time"
)

// ListLimit is the most rows each list of people shows; the report says
// how many more there are.
const ListLimit = 200

// HTMLOptions adjust the HTML report. The zero value is the default.
type HTMLOptions struct {
	// Title heads the page; "" : "credreg registration trends".
	Title string
	// Generated is the time printed as the report's; zero: now.
	Generated time.Time
}

// tenantView is a tenant's section of the page.
type tenantView struct {
	*TenantReport
	Anchor        string
	End           string
	Latest        *Day
	Charts        []*Chart
	Missing       string
	NoSummary     string
	NoChanges     string
	Admins        []AdminLostMFA
	AdminsMore    int
	Stale         []NoMethodUser
	StaleMore     int
	StaleDays     int
	NoWeeklyChart bool
}

// Charts renders every chart of the report: per tenant, in page order.
func (r *Report) Charts() ([][]*Chart, error) {
	out := make([][]*Chart, len(r.Tenants))
	for n, tr := range r.Tenants {
		prefix := fmt.Sprintf("t%d-", n+1)
		for _, draw := range []func() (*Chart, error){
			func() (*Chart, error) { return SharesChart(prefix+"shares", tr.TenantHistory) },
			func() (*Chart, error) { return FamiliesChart(prefix+"families", tr.TenantHistory) },
			func() (*Chart, error) { return WeeklyChart(prefix+"weekly", tr) },
			func() (*Chart, error) { return UsersChart(prefix+"users", tr.TenantHistory) },
		} {
			c, err := draw()
			if err != nil {
				return nil, err
			}
			if c != nil {
				out[n] = append(out[n], c)
			}
		}
	}
	return out, nil
}

// WriteHTML writes the report as one self-contained page: styles inline,
// charts as inline SVG, no script and nothing fetched, so it opens
// offline and can be mailed as it is.
func (r *Report) WriteHTML(w io.Writer, opts HTMLOptions) error {
	all, err := r.Charts()
	if err != nil {
		return err
	}
	if opts.Title == "" {
		opts.Title = "credreg registration trends"
	}
	if opts.Generated.IsZero() {
		opts.Generated = time.Now()
	}
	views := make([]tenantView, len(r.Tenants))
	for n, tr := range r.Tenants {
		v := tenantView{TenantReport: tr, Anchor: fmt.Sprintf("t%d", n+1), End: r.To.Format(time.DateOnly), Latest: tr.Latest(), Charts: all[n],
			Missing: DayList(tr.Missing), NoSummary: DayList(tr.NoSummary), NoChanges: DayList(tr.NoChanges),
			Admins: tr.AdminsLostMFA, Stale: tr.WithoutMethods, StaleDays: StaleDays}
		if len(v.Admins) > ListLimit {
			v.Admins, v.AdminsMore = v.Admins[:ListLimit], len(v.Admins)-ListLimit
		}
		if len(v.Stale) > ListLimit {
			v.Stale, v.StaleMore = v.Stale[:ListLimit], len(v.Stale)-ListLimit
		}
		views[n] = v
	}
	return pageTemplate.Execute(w, map[string]any{
		"Title": opts.Title, "Generated": opts.Generated.UTC().Format(time.RFC3339),
		"From": r.From.Format(time.DateOnly), "To": r.To.Format(time.DateOnly), "Tenants": views,
	})
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"svg":  func(c *Chart) template.HTML { return template.HTML(c.SVG) }, // rendered by the charting library from numbers only
	"date": func(t time.Time) string { return t.Format(time.DateOnly) },
	"pct": func(d *Day, col string) string {
		if v, ok := d.Float(col); ok {
			return pct(v)
		}
		return "–"
	},
	"num": func(d *Day, col string) string {
		if v, ok := d.Int(col); ok {
			return fmt.Sprint(v)
		}
		return "–"
	},
}).Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1000px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .3rem; margin-top: 2.5rem; }
.meta, .note { color: #555; font-size: .9rem; }
.gaps { background: #fff4e5; border-left: 4px solid #f0a030; padding: .5rem .8rem; font-size: .9rem; }
.kpis { display: flex; flex-wrap: wrap; gap: 1rem; margin: 1rem 0; }
.kpi { border: 1px solid #ddd; border-radius: 6px; padding: .5rem .9rem; min-width: 8rem; }
.kpi b { display: block; font-size: 1.4rem; }
figure { margin: 1.5rem 0; }
figcaption { font-weight: 600; margin-bottom: .3rem; }
svg.chart { width: 100%; height: auto; }
table { border-collapse: collapse; font-size: .9rem; width: 100%; }
th, td { text-align: left; padding: .25rem .6rem; border-bottom: 1px solid #eee; }
th { background: #f6f6f6; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="meta">{{.From}} to {{.To}} · generated {{.Generated}} by credreg trends · missing days are gaps, never drawn across</p>
{{range .Tenants}}
<section class="tenant" id="{{.Anchor}}" data-tenant="{{.Tenant}}">
<h2>Tenant {{.Tenant}}</h2>
<p class="meta">{{date .Start}} to {{.End}}: {{len .Days}} days</p>
{{with .Latest}}
<div class="kpis">
<div class="kpi">users<b>{{num . "users"}}</b></div>
<div class="kpi">MFA registered<b>{{pct . "mfa_registered_share"}}</b></div>
<div class="kpi">SSPR registered<b>{{pct . "sspr_registered_share"}}</b></div>
<div class="kpi">passwordless capable<b>{{pct . "passwordless_capable_share"}}</b></div>
<div class="kpi">admins without MFA<b>{{num . "admins_without_mfa"}}</b></div>
<div class="kpi">users without methods<b>{{num . "users_without_methods"}}</b></div>
</div>
<p class="note">Latest snapshot: {{date .Date}}.</p>
{{end}}
{{if or .Missing .NoSummary .NoChanges}}<div class="gaps">
{{if .Missing}}<p class="missing-days">Missing days (no snapshot; Graph cannot serve a past day): {{.Missing}}</p>{{end}}
{{if .NoSummary}}<p>Days without a summary (published before schema version 4; rebuild them with credreg backfill): {{.NoSummary}}</p>{{end}}
{{if .NoChanges}}<p>Days without change events (published before schema version 5): {{.NoChanges}}</p>{{end}}
</div>{{end}}
{{range .Charts}}<figure data-chart="{{.Kind}}"><figcaption>{{.Title}}</figcaption>{{svg .}}</figure>
{{end}}
<h3>Admins who lost MFA</h3>
{{if .Admins}}<table class="admins-lost-mfa"><tr><th>day</th><th>user</th><th>admin then</th><th>admin now</th></tr>
{{range .Admins}}<tr><td>{{date .Date}}</td><td>{{.UPN}}</td><td>{{if .AdminThen}}yes{{else}}no{{end}}</td><td>{{if .AdminNow}}yes{{else}}no{{end}}</td></tr>
{{end}}</table>{{if .AdminsMore}}<p class="note">… and {{.AdminsMore}} more.</p>{{end}}
{{else}}<p class="note">None in the range.</p>{{end}}
<h3>Users without any method for {{.StaleDays}} days or more</h3>
{{if .Stale}}<table class="without-methods"><tr><th>user</th><th>without a method since</th><th>days</th></tr>
{{range .Stale}}<tr><td>{{.UPN}}</td><td>{{date .Since}}</td><td>{{if .AtLeast}}≥ {{end}}{{.Days}}</td></tr>
{{end}}</table>{{if .StaleMore}}<p class="note">… and {{.StaleMore}} more.</p>{{end}}
<p class="note">"≥": no appeared or method_removed event in the range; the user had no method since the range's first day at least.</p>
{{else}}<p class="note">None.</p>{{end}}
</section>
{{end}}
</body>
</html>
`
