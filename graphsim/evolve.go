package graphsim

import "math"

// How a tenant changes from one day to the next besides registering
// methods: users leave, admins are appointed and removed, and MFA methods
// are cleared ("require re-register"). Like every draw in data.go each is
// a pure function of (tenant, user index, day), so a day's data never
// depends on which days were served before, and the change tables a
// client derives from consecutive snapshots have something in every kind.

const (
	// leavePer10k is how many of every 10,000 present users leave (are
	// deleted or disabled, so the report no longer holds them) each day:
	// about 7 % a year, less than the growth, so the tenant grows net.
	leavePer10k = 2
	// historyDays is the window before the anchor in which the tenant
	// already changes: users whose join day falls in it are absent before
	// it, and formers (users gone by the anchor) leave in it. A tenant
	// anchored at its newest day (the demo's) then still has joins and
	// leaves in the days before; before the window its population is flat.
	historyDays = 400
	// formerIndex is where the generator indexes of formers start: above
	// any population, below the users churn creates (createdIndex).
	formerIndex = 1 << 39
)

// Salts of the draws in this file; far from data.go's and churn.go's.
const (
	fLeave uint64 = 0x5e00 + iota
	fAdminPhase
	fAdminSpell
	fResetAllPhase
	fResetAll
	fResetAdminPhase
	fResetAdmin
)

// formers is how many users left in the history window before the anchor.
func (t *tenantData) formers() int { return t.Users * leavePer10k * historyDays / 10000 }

func isFormer(i int) bool { return i >= formerIndex && i < createdIndex }

// left is the first day user i is absent for having left, noDay when the
// draw puts it beyond any date. A left user never comes back: its index,
// and so its id, is never served again.
func (t *tenantData) left(i int) int {
	a := t.anchor()
	if isFormer(i) {
		return a - historyDays + 1 + int(t.h(i, fLeave)%historyDays)
	}
	// An exponential lifetime from the anchor (or the join day, for users
	// who join after it): a constant daily rate of leaving.
	start := max(a, t.created(i))
	days := -math.Log1p(-unit(t.h(i, fLeave))) * 10000 / leavePer10k
	if days > 1e6 {
		return noDay
	}
	return start + 1 + int(days)
}

// present reports whether user i is in the report on day d, for i below
// count(d) or a former: it has joined (or joined before the history
// window, when the population is flat) and not left.
func (t *tenantData) present(i, d int) bool {
	if c := t.created(i); c >= t.anchor()-historyDays && d < c {
		return false
	}
	return d < t.left(i)
}

// Admins: a few members are admins all along; the others may serve
// spells, at most one starting in each adminTerm-day period of their own
// (a per-user phase), each lasting up to adminTerm days.
const (
	adminKeep   = 0.015 // share of members admin all along
	adminSpells = 0.04  // share of periods in which a spell starts
	adminTerm   = 600
)

// isAdmin is whether member i holds an admin role on day d. Appointments
// and removals are about 0.3 a day in a 5,000-user tenant.
func (t *tenantData) isAdmin(i, d int) bool {
	if unit(t.h(i, fAdmin)) < adminKeep {
		return true
	}
	phase := int(t.h(i, fAdminPhase) % adminTerm)
	k := floorDiv(d-epochDay+phase, adminTerm)
	// A spell is shorter than a period, so only this period's and the
	// previous one's can cover d.
	for _, p := range [2]int{k, k - 1} {
		h := hash3(t.h(i, fAdminSpell), uint64(p), 0)
		if unit(h) >= adminSpells {
			continue
		}
		from := epochDay - phase + p*adminTerm + int(hash3(h, 1, 0)%adminTerm)
		if from <= d && d < from+1+int(hash3(h, 2, 0)%adminTerm) {
			return true
		}
	}
	return false
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// reset is one "require re-register": on day a every MFA method the user
// holds then is removed; on day b (noDay: never) the user registers them
// again. Methods registered after a are not affected.
type reset struct{ a, b int }

// resetStream is one source of resets: in each term-day period of a
// user's own phase, with probability share, one reset on a day of it;
// back is the share of resets the user recovers from, within days.
type resetStream struct {
	phase, draw uint64
	term        int
	share, back float64
	within      int
	adminsOnly  bool // effective only when the user is an admin that day
}

// resetStreams: any user now and then (a lost phone, a suspected
// compromise; about 2 % a year), and admins far more often (security
// teams reset privileged accounts after role or device changes; about
// half of them a year, nearly all re-registering within days), so that
// "admins who lost MFA" has entries in any month of a few thousand users.
func resetStreams() [2]resetStream {
	return [2]resetStream{
		{phase: fResetAllPhase, draw: fResetAll, term: 1000, share: 0.02, back: 0.9, within: 60},
		{phase: fResetAdminPhase, draw: fResetAdmin, term: 365, share: 0.5, back: 0.95, within: 10, adminsOnly: true},
	}
}

// resets appends to buf the resets of user i (who joined on created) on
// or before day d. There are none before epochDay.
func (t *tenantData) resets(i, created, d int, member bool, buf []reset) []reset {
	for _, s := range resetStreams() {
		if s.adminsOnly && !member {
			continue
		}
		phase := int(t.h(i, s.phase) % uint64(s.term))
		for k := 0; ; k++ {
			start := epochDay - phase + k*s.term
			if start > d {
				break
			}
			h := hash3(t.h(i, s.draw), uint64(k), 0)
			if unit(h) >= s.share {
				continue
			}
			a := start + int(hash3(h, 1, 0)%uint64(s.term))
			if a > d || a < epochDay || a < created || (s.adminsOnly && !t.isAdmin(i, a)) {
				continue
			}
			b := noDay
			if unit(hash3(h, 2, 0)) < s.back {
				b = a + 1 + int(hash3(h, 3, 0)%uint64(s.within))
			}
			buf = append(buf, reset{a, b})
		}
	}
	return buf
}

// held is whether a method registered on day on and removed on day off
// is held on day d, given the user's resets (which clear it only when it
// counts for MFA and was registered by the reset's day).
func held(on, off, d int, mfa bool, rs []reset) bool {
	if d < on || d >= off {
		return false
	}
	if mfa {
		for _, r := range rs {
			if on <= r.a && r.a <= d && d < r.b {
				return false
			}
		}
	}
	return true
}

// registration is one registration of a method by a user: held from day
// on until day off (noDay: never removed), unless a reset clears it.
type registration struct{ method, on, off int }

// heldAny is whether any of regs, registrations of one method, is held on
// day d.
func heldAny(regs []registration, d int, mfa bool, rs []reset) bool {
	for _, r := range regs {
		if held(r.on, r.off, d, mfa, rs) {
			return true
		}
	}
	return false
}

// lastToggle is the latest day up to d on which the method of regs (one
// method's registrations) was added or removed (by its own removal or a
// reset), math.MinInt when never.
func lastToggle(regs []registration, d int, mfa bool, rs []reset) int {
	last := math.MinInt
	try := func(c int) {
		if c <= d && c > last && heldAny(regs, c, mfa, rs) != heldAny(regs, c-1, mfa, rs) {
			last = c
		}
	}
	for _, r := range regs {
		try(r.on)
		try(r.off)
	}
	if mfa {
		for _, r := range rs {
			try(r.a)
			try(r.b)
		}
	}
	return last
}
