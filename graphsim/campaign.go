package graphsim

import "math"

// An MFA rollout campaign: the security team asks everyone without MFA to
// register, and each day a small share of them does. Without it the
// tenant's MFA share only creeps (a few tenths of a point a month), and a
// month of snapshots shows an analyst a flat line where real tenants show
// the campaigns they run. Like every draw in data.go it is a pure
// function of (tenant, user index): one draw gives the day the campaign
// reaches a user, so a day's data never depends on the days served before.
const (
	// campaignLead is how many days before the anchor the campaign starts:
	// a month of snapshots ending at the anchor (the demo's) or starting
	// at it (a tenant anchored at its first day) both fall in its steep
	// part, and the share saturates within a year or two after it.
	campaignLead = 30
	// campaignPer10k is how many of every 10,000 users the campaign has
	// not reached yet it reaches each day (0.6 %): about 3 points of MFA
	// share a month in its first months, for a tenant near 72 %.
	campaignPer10k = 60
	// Not everyone answers a campaign: some users never register (shared
	// mailboxes, leavers-to-be, refusers), guests, whose home tenant does
	// their MFA, far less often. The MFA share so saturates below 100 %.
	campaignReachMembers = 0.85
	campaignReachGuests  = 0.4
)

// Salts of the campaign's draws; far from data.go's, churn.go's and
// evolve.go's.
const (
	fCampaignReach uint64 = 0x6a00 + iota
	fCampaignDay
	fCampaignMethod
)

// campaignDay is the day the campaign reaches user i (who joined on
// created), noDay when it never does. The day is an exponential wait from
// the campaign's start (or the join day, for users who join after it): a
// constant daily rate, as if each day drew anew.
func (t *tenantData) campaignDay(i, created int, guest bool) int {
	reach := campaignReachMembers
	if guest {
		reach = campaignReachGuests
	}
	if unit(t.h(i, fCampaignReach)) >= reach {
		return noDay
	}
	days := -math.Log1p(-unit(t.h(i, fCampaignDay))) * 10000 / campaignPer10k
	if days > 1e6 {
		return noDay
	}
	return max(t.anchor()-campaignLead, created) + int(days)
}

// campaignMethod is the method user i registers when the campaign reaches
// it: one of the entries marked campaign (Authenticator push, phone,
// passkeys), by their weights.
func (t *tenantData) campaignMethod(i int) int {
	total := 0.0
	for m := range vocabulary {
		if vocabulary[m].campaign {
			total += vocabulary[m].weight
		}
	}
	x := unit(t.h(i, fCampaignMethod)) * total
	last := 0
	for m := range vocabulary {
		if !vocabulary[m].campaign {
			continue
		}
		last = m
		if x -= vocabulary[m].weight; x < 0 {
			break
		}
	}
	return last
}

// campaignSpan returns the registration the campaign adds to user i on or
// before day d, given the user's own registrations and resets: on the
// campaign's day, only when the user is not registered for MFA then (a
// user who is has nothing to do). ok is false when there is none.
func (t *tenantData) campaignSpan(i, created, d int, guest bool, regs []registration, rs []reset) (registration, bool) {
	c := t.campaignDay(i, created, guest)
	if c > d {
		return registration{}, false
	}
	for _, r := range regs {
		if vocabulary[r.method].mfa && held(r.on, r.off, c, true, rs) {
			return registration{}, false
		}
	}
	return registration{method: t.campaignMethod(i), on: c, off: noDay}, true
}
