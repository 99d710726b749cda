package graphsim

import (
	"testing"
	"time"
)

// TestCampaignSaturates: the MFA rollout campaign lifts a 5,000-user
// tenant's MFA share well past the month it is steepest in, yet not to
// 100 %: three years after the anchor, long after it has reached everyone
// it will, some users still have no MFA, guests far more of them than
// members.
func TestCampaignSaturates(t *testing.T) {
	s := newServer(t, Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: 5000, UsersOn: monthStart}}})
	shares := func(day time.Time) (all, members, guests float64) {
		var n, m, mn, g, gn int
		for _, u := range s.Users(DefaultTenantID, day) {
			n++
			if u.UserType == "guest" {
				g++
				if u.IsMfaRegistered {
					gn++
				}
			} else {
				m++
				if u.IsMfaRegistered {
					mn++
				}
			}
		}
		return float64(mn+gn) / float64(n), float64(mn) / float64(m), float64(gn) / float64(g)
	}
	month, _, _ := shares(monthStart.AddDate(0, 0, monthDays-1))
	year, _, _ := shares(monthStart.AddDate(0, 0, 365))
	late, members, guests := shares(monthStart.AddDate(0, 0, 3*365))
	t.Logf("MFA share %.4f after a month, %.4f after a year, %.4f after three (members %.4f, guests %.4f)",
		month, year, late, members, guests)
	if year < month+0.05 || late > 0.95 {
		t.Errorf("MFA share %.4f a month after the anchor, %.4f a year after, %.4f three years after: "+
			"want 5 points more after a year, below 95 %% after three", month, year, late)
	}
	if guests > members-0.2 {
		t.Errorf("three years after the anchor %.4f of members and %.4f of guests have MFA: want guests far fewer", members, guests)
	}
}

// TestCampaignReachesOnlyTheUnregistered: the campaign registers a method
// on its day for a user who holds no MFA method then, whatever else the
// user holds, and nothing for one who does.
func TestCampaignReachesOnlyTheUnregistered(t *testing.T) {
	td := newTenantData(1, Tenant{ID: DefaultTenantID, Users: 100, UsersOn: monthStart})
	created := td.anchor() - 1000
	i, c := -1, noDay
	for j := range 100 {
		if c = td.campaignDay(j, created, false); c < noDay {
			i = j
			break
		}
	}
	if i < 0 {
		t.Fatal("the campaign reaches none of 100 members")
	}
	const push, email = 0, 2 // vocabulary indexes: an MFA method, an SSPR-only one
	if !vocabulary[push].mfa || vocabulary[email].mfa {
		t.Fatal("the vocabulary's order changed: fix the test's indexes")
	}
	for _, tt := range []struct {
		name string
		d    int
		regs []registration
		rs   []reset
		want bool
	}{
		{"no method", c, nil, nil, true},
		{"the day before", c - 1, nil, nil, false},
		{"an SSPR-only method", c + 10, []registration{{email, c - 100, noDay}}, nil, true},
		{"an MFA method", c + 10, []registration{{push, c - 100, noDay}}, nil, false},
		{"an MFA method from the next day", c + 10, []registration{{push, c + 1, noDay}}, nil, true},
		{"an MFA method removed the day before", c + 10, []registration{{push, c - 100, c}}, nil, true},
		{"an MFA method a reset cleared", c + 10, []registration{{push, c - 100, noDay}}, []reset{{c - 5, noDay}}, true},
		{"an MFA method registered again", c + 10, []registration{{push, c - 100, noDay}}, []reset{{c - 5, c}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := td.campaignSpan(i, created, tt.d, false, tt.regs, tt.rs)
			if ok != tt.want {
				t.Fatalf("campaign registration %v, want %v", ok, tt.want)
			}
			if ok && (got.on != c || got.off != noDay || !vocabulary[got.method].campaign) {
				t.Errorf("campaign registration %+v, want a campaign method from day %d on", got, c)
			}
		})
	}
}
