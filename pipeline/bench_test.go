package pipeline

import (
	"context"
	"testing"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/schemas"
)

// BenchmarkRunTenant measures a whole run (HTTPS, raw landing, decode,
// explode, Parquet, publish) with Graph's throttling switched off on both
// sides, so it shows credreg's own cost per user.
//
//	go test -run '^$' -bench RunTenant -benchmem ./pipeline/
func BenchmarkRunTenant(b *testing.B) {
	const users = 50000
	for _, ep := range schemas.Endpoints {
		b.Run(string(ep), func(b *testing.B) {
			e := newEnv(b, graphsim.Options{Limits: graphsim.Limits{Disabled: true}, EmptyPageEvery: -1,
				Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: users, UsersOn: testDay}}})
			o := e.options(b, ep)
			o.Source.Throttle = extract.NewThrottle(extract.Limits{PerTenant: 1 << 20, App: 1 << 20})
			e.sim.Users(e.tenant, testDay) // generate the day before timing
			b.ResetTimer()
			for b.Loop() {
				m, err := RunTenant(context.Background(), o)
				if err != nil {
					b.Fatal(err)
				}
				if m.Counts.Users != users {
					b.Fatalf("%d users", m.Counts.Users)
				}
			}
			b.ReportMetric(float64(users)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
		})
	}
}
