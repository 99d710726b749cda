package extract

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

// ids reads every record id of a listing.
func ids(t *testing.T, p *Pager) []string {
	t.Helper()
	var out []string
	for {
		page, err := p.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			out = append(out, recordID(t, r))
		}
	}
}

func recordID(t *testing.T, r odata.Record) string {
	t.Helper()
	_, rest, ok := strings.Cut(string(r.Raw), `"id":"`)
	id, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 {
		t.Fatalf("record without id: %s", r.Raw)
	}
	return id
}

// Against the simulator, which applies $filter as Graph documents it: the
// shards of every plan are disjoint and together hold exactly the users of
// the unfiltered listing, for both endpoints.
func TestShardPlansPartitionTheListing(t *testing.T) {
	s := newSim(t, graphsim.Options{Limits: graphsim.Limits{Disabled: true}})
	c := newTestClient(t, s, graphsim.DefaultClientSecret)
	c.throttle = NewThrottle(Limits{PerTenant: 1000, PerTenantWindow: time.Millisecond, Margin: -1})
	for _, ep := range schemas.Endpoints {
		all := ids(t, c.Pages(ep, ""))
		if len(all) < 2000 {
			t.Fatalf("%s: only %d users", ep, len(all))
		}
		for _, n := range []int{1, 2, 4, 8, 16} {
			plan, err := PlanShards(ep, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(plan) != n {
				t.Fatalf("%s: %d shards, want %d", ep, len(plan), n)
			}
			seen := map[string]string{}
			empty := 0
			for _, sh := range plan {
				got := ids(t, c.Pages(ep, sh.Filter))
				if len(got) == 0 {
					empty++
				}
				for _, id := range got {
					if prev, dup := seen[id]; dup {
						t.Fatalf("%s, %d shards: %s is in %s and %s", ep, n, id, prev, sh.Name)
					}
					seen[id] = sh.Name
				}
			}
			if len(seen) != len(all) {
				t.Errorf("%s, %d shards: %d users, unfiltered %d", ep, n, len(seen), len(all))
			}
			for _, id := range all {
				if _, ok := seen[id]; !ok {
					t.Fatalf("%s, %d shards: %s is in no shard", ep, n, id)
				}
			}
			if n == AutoShards && empty > 0 {
				t.Errorf("%s: %d of the auto plan's shards are empty: %v", ep, empty, plan)
			}
		}
	}
}

func TestPlanShardsNames(t *testing.T) {
	plan, err := PlanShards(schemas.UserRegistrationDetails, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, filter string }{
		{"s0-mfa0-sspr0", "isMfaRegistered eq false and isSsprRegistered eq false"},
		{"s1-mfa0-sspr1", "isMfaRegistered eq false and isSsprRegistered eq true"},
		{"s2-mfa1-sspr0", "isMfaRegistered eq true and isSsprRegistered eq false"},
		{"s3-mfa1-sspr1", "isMfaRegistered eq true and isSsprRegistered eq true"},
	}
	for i, w := range want {
		if plan[i].Name != w.name || plan[i].Filter != w.filter || len(plan[i].Where) != 2 {
			t.Errorf("shard %d = %+v, want %s %q", i, plan[i], w.name, w.filter)
		}
	}
	if p, _ := PlanShards(schemas.CredentialUserRegistrationDetails, 1); len(p) != 1 || p[0].Filter != "" {
		t.Errorf("one shard = %+v, want the unfiltered listing", p)
	}
}

func TestParseShards(t *testing.T) {
	cases := []struct {
		in   string
		want int
		err  string
	}{
		{"auto", AutoShards, ""},
		{"off", 1, ""},
		{"OFF", 1, ""},
		{"1", 1, ""},
		{"8", 8, ""},
		{"16", 16, ""},
		{"3", 0, "1, 2, 4, 8 or 16"},
		{"32", 0, "1, 2, 4, 8 or 16"},
		{"0", 0, "1, 2, 4, 8 or 16"},
		{"many", 0, "want auto, off or a count"},
	}
	for _, c := range cases {
		got, err := ParseShards(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseShards(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseShards(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

// Once the tenant's retry budget is spent the pager stops, saying so,
// even though each page still had attempts left.
func TestRetryBudgetStopsARun(t *testing.T) {
	s := newSim(t, graphsim.Options{Faults: graphsim.Faults{Unavailable: 1}})
	c := newTestClient(t, s, graphsim.DefaultClientSecret)
	c.retry.MaxAttempts, c.retry.Budget = 100, 7
	_, _, err := drain(context.Background(), c.Pages(schemas.UserRegistrationDetails, ""))
	if !errors.Is(err, ErrRetriesExceed) || !errors.Is(err, ErrTransient) {
		t.Fatalf("err = %v, want retries exhausted wrapping the transient failure", err)
	}
	if !strings.Contains(err.Error(), "retry budget of 7") {
		t.Errorf("error does not name the budget: %v", err)
	}
	if got := s.Stats().Requests; got != 8 {
		t.Errorf("%d requests, want 8 (one and seven retries)", got)
	}
}

// The same garbage twice is what Graph serves: the pager stops at once,
// permanent, with the body for the raw zone. Garbage that changes is
// damage on the way and is retried.
func TestGarbagePage(t *testing.T) {
	cases := []struct {
		name       string
		bodies     []string // served in turn, the last one repeated
		persistent bool
		requests   int64
	}{
		{"same-garbage-twice", []string{`<html>gateway error</html>`}, true, 2},
		{"no-value-twice", []string{`{"error":"none"}`}, true, 2},
		{"garbage-then-good", []string{`<html>a</html>`, `<html>b</html>`, `{"value":[]}`}, false, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSim(t, graphsim.Options{Intercept: func(w http.ResponseWriter, r *http.Request, n int) bool {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(c.bodies[min(n, len(c.bodies))-1]))
				return true
			}})
			cl := newTestClient(t, s, graphsim.DefaultClientSecret)
			_, _, err := drain(context.Background(), cl.Pages(schemas.UserRegistrationDetails, ""))
			var pe *PageError
			switch {
			case c.persistent:
				if !errors.As(err, &pe) || !pe.Persistent || classOf(err) != Permanent || !errors.Is(err, ErrBadPage) {
					t.Fatalf("err = %v, want a persistent PageError", err)
				}
				if string(pe.Body) != c.bodies[len(c.bodies)-1] || pe.Seq != 1 {
					t.Errorf("page error seq %d body %q", pe.Seq, pe.Body)
				}
			case err != nil:
				t.Fatalf("err = %v", err)
			}
			if got := s.Stats().Requests; got != c.requests {
				t.Errorf("%d requests, want %d", got, c.requests)
			}
		})
	}
}

// A slot moved to when its request went out counts from then: the next
// window's request waits for it, not for the earlier grant.
func TestThrottleCountsFromTheWire(t *testing.T) {
	th := NewThrottle(Limits{PerTenant: 1, PerTenantWindow: 60 * time.Millisecond, Margin: -1})
	ctx := context.Background()
	slot, _, err := th.Wait(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	slot.Sent(slot.at.Add(40 * time.Millisecond)) // a slow handshake
	_, w, err := th.Wait(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if w < 90*time.Millisecond {
		t.Errorf("second request waited %v, want about 100ms (40ms late send + 60ms window)", w)
	}
}

// A request written twice (the transport retried a dead keep-alive
// connection) counts from its last write.
func TestSlotSentTwice(t *testing.T) {
	th := NewThrottle(Limits{PerTenant: 1, PerTenantWindow: 50 * time.Millisecond, Margin: -1})
	slot, _, err := th.Wait(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	first := slot.at
	slot.Sent(first.Add(10 * time.Millisecond))
	slot.Sent(first.Add(30 * time.Millisecond))
	// 30 ms late plus a 50 ms window (less the 1 ns margin).
	if got := th.tenants["t"].win.nextAt(first, 1).Sub(first); got < 79*time.Millisecond || got > 80*time.Millisecond {
		t.Errorf("next slot at +%v, want +80ms", got)
	}
}

// A page with a record outside the shard means Graph ignored the filter.
func TestShardCheck(t *testing.T) {
	plan, err := PlanShards(schemas.UserRegistrationDetails, 4)
	if err != nil {
		t.Fatal(err)
	}
	page := func(recs ...string) Page {
		p, err := odata.Split([]byte(`{"value":[` + strings.Join(recs, ",") + `]}`))
		if err != nil {
			t.Fatal(err)
		}
		return Page{Records: p.Records}
	}
	in := `{"id":"a","isMfaRegistered":false,"isSsprRegistered":true}`
	out := `{"id":"b","isMfaRegistered":true,"isSsprRegistered":true}`
	cases := []struct {
		name string
		page Page
		ok   bool
	}{
		{"all inside", page(in, in), true},
		{"empty", page(), true},
		{"not objects are the contract's business", page(in, "null", "42"), true},
		{"one outside", page(in, out), false},
	}
	for _, c := range cases {
		err := plan[1].Check(c.page)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrFilterIgnored)) {
			t.Errorf("%s: Check = %v", c.name, err)
		}
	}
	if all, _ := PlanShards(schemas.UserRegistrationDetails, 1); all[0].Check(page(out)) != nil {
		t.Error("the unfiltered listing refused a record")
	}
}
