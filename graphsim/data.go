package graphsim

import (
	"cmp"
	"encoding/hex"
	"hash/fnv"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
)

// User is one user of a simulated tenant on one day, with the properties of
// the v1.0 userRegistrationDetails report.
type User struct {
	ID, UserPrincipalName, UserDisplayName, UserType string
	IsAdmin, IsMfaCapable, IsMfaRegistered, IsPasswordlessCapable, IsSsprCapable,
	IsSsprEnabled, IsSsprRegistered, IsSystemPreferredAuthenticationMethodEnabled bool
	MethodsRegistered                             []string // v1.0 values
	SystemPreferredAuthenticationMethods          []string
	UserPreferredMethodForSecondaryAuthentication string
	LastUpdatedDateTime                           time.Time
}

const (
	secondsPerDay = 86400
	// epochDay (2024-01-01) anchors population growth and the spread of
	// registrations over time.
	epochDay = 19723
	// growthPer10k is the population growth: this many users per 10,000 of
	// Tenant.Users join every day after the anchor (about 18 % a year;
	// with leavePer10k leaving, about 9 % net).
	growthPer10k = 5
	// spreadDays is the span over which registrations made after epochDay are
	// spread, with a density that falls over time, so registration rises fast
	// at first and keeps creeping up for years.
	spreadDays = 2500
	noDay      = math.MaxInt32
)

// dayNumber is the UTC calendar day of t, counted from 1970-01-01.
func dayNumber(t time.Time) int {
	s := t.Unix()
	d := s / secondsPerDay
	if s%secondsPerDay < 0 {
		d--
	}
	return int(d)
}

func dayStart(d int) time.Time { return time.Unix(int64(d)*secondsPerDay, 0).UTC() }

// mix is the splitmix64 finalizer: a cheap, well-distributed hash step.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func hash3(a, b, c uint64) uint64 {
	return mix(mix(mix(a+0x9e3779b97f4a7c15)^b) ^ c)
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// Salts naming the independent per-user draws. Changing one changes the data.
const (
	fID1 uint64 = iota + 1
	fID2
	fFirst
	fLast
	fGuest
	fAdmin
	fSspr
	fSysPref
	fEngaged
	fCreated
	fBaseEarly
	fBaseA
	fBaseB
	fPrefPick
	fPrefBlank
	fTime
	fMethod = 1000 // + 16*vocabulary index + k
)

var firstNames = []string{
	"Ada", "Alan", "Amara", "Anders", "Aiko", "Bianca", "Bruno", "Carmen", "Chen", "Chloé",
	"Dmitri", "Elena", "Emeka", "Farah", "Felix", "Grace", "Hamza", "Hannah", "Ines", "Ivan",
	"Jamal", "José", "Julia", "Kai", "Kenji", "Lars", "Leila", "Liam", "Lucía", "Maya",
	"Mei", "Mateo", "Nadia", "Niamh", "Noah", "Olga", "Omar", "Priya", "Quentin", "Rafael",
	"Rania", "Ravi", "Sakura", "Samuel", "Sara", "Søren", "Tariq", "Thandiwe", "Tomás", "Uma",
	"Valentina", "Victor", "Wei", "Yara", "Yusuf", "Zoë", "Zainab", "Ingrid", "Mohammed", "Anna",
}

var lastNames = []string{
	"Adeyemi", "Andersson", "Bauer", "Brown", "Castillo", "Chen", "Costa", "Dubois", "Dvořák", "Eriksen",
	"Fernández", "Fischer", "García", "Gupta", "Haddad", "Hansen", "Ito", "Jansen", "Kaur", "Kim",
	"Kowalski", "Larsen", "Lee", "López", "Müller", "Nakamura", "Nguyen", "Novak", "O'Brien", "O'Neil",
	"Okafor", "Patel", "Petrov", "Popescu", "Rossi", "Santos", "Schmidt", "Silva", "Singh", "Smith",
	"Sørensen", "Suzuki", "Tanaka", "Van Dijk", "Wang", "Weber", "Williams", "Wójcik", "Yamamoto", "Zhang",
}

// tenantData generates the users of one tenant. It is immutable once built.
type tenantData struct {
	Tenant
	salt  uint64
	short string // DNS label used in UPNs
	// defectsAfter indexes Tenant.Defects by Defect.After.
	defectsAfter map[int][]int
}

func newTenantData(seed int64, t Tenant) *tenantData {
	f := fnv.New64a()
	f.Write([]byte(t.ID))
	td := &tenantData{
		Tenant: t,
		salt:   mix(uint64(seed) ^ f.Sum64()),
		short:  strings.SplitN(t.ID, "-", 2)[0],
	}
	for j, d := range t.Defects {
		if td.defectsAfter == nil {
			td.defectsAfter = map[int][]int{}
		}
		td.defectsAfter[d.After] = append(td.defectsAfter[d.After], j)
	}
	return td
}

// anchor is the day up to which the population is Tenant.Users.
func (t *tenantData) anchor() int {
	if t.UsersOn.IsZero() {
		return epochDay
	}
	return dayNumber(t.UsersOn)
}

// count is how many user indexes exist by day d: Tenant.Users, plus the
// growth since the anchor. Some of them have left, or not joined yet (see
// present); formers come on top.
func (t *tenantData) count(d int) int {
	a := t.anchor()
	if d <= a {
		return t.Users
	}
	return t.Users + (d-a)*t.Users*growthPer10k/10000
}

// created is the day user i joined: in the 2000 days before the anchor
// for the first Tenant.Users users and for formers (before they left),
// else the first day count exceeds i.
func (t *tenantData) created(i int) int {
	a := t.anchor()
	switch {
	case i < t.Users:
		return a - 1 - int(t.h(i, fCreated)%2000)
	case isFormer(i):
		return t.left(i) - 1 - int(t.h(i, fCreated)%2000)
	}
	rate := t.Users * growthPer10k
	return a + ((i-t.Users+1)*10000+rate-1)/rate
}

func (t *tenantData) h(i int, field uint64) uint64 { return hash3(t.salt, uint64(i), field) }

// users returns the population of day d sorted by ID: the users who have
// joined and not left.
func (t *tenantData) users(d int) []User {
	n := t.count(d)
	f := t.formers()
	// Sorting small keys and then building users in order is much cheaper
	// than sorting the users themselves. The key is the GUID's first 8
	// bytes, which order IDs exactly as their strings do; ties (never seen
	// in practice) fall back to the strings.
	type idKey struct {
		hi    uint64
		index int
	}
	order := make([]idKey, 0, n+f)
	for i := range n + f {
		if i >= n {
			i = formerIndex + i - n
		}
		if t.present(i, d) {
			order = append(order, idKey{guidPrefix(t.h(i, fID1)), i})
		}
	}
	id := func(i int) string { return guid(t.h(i, fID1), t.h(i, fID2)) }
	slices.SortFunc(order, func(a, b idKey) int {
		if c := cmp.Compare(a.hi, b.hi); c != 0 {
			return c
		}
		return strings.Compare(id(a.index), id(b.index))
	})
	out := make([]User, len(order))
	var sc scratch
	for j, k := range order {
		out[j] = t.user(k.index, d, id(k.index), &sc)
	}
	return out
}

// scratch is reusable memory for building users one after another.
type scratch struct {
	vi   []int
	rs   []reset
	regs []registration
}

// user is user i on day d. Every draw is a hash of (tenant, i, field), never
// of d, so a user's identity and history (registrations, resets, admin
// spells) are stable and d only decides which of them have happened yet.
func (t *tenantData) user(i, d int, id string, sc *scratch) User {
	u := User{ID: id}
	fi := t.h(i, fFirst) % uint64(len(firstNames))
	li := t.h(i, fLast) % uint64(len(lastNames))
	u.UserDisplayName = firstNames[fi] + " " + lastNames[li]
	local := firstLabels[fi] + "." + lastLabels[li] + "." + strconv.Itoa(i)
	guest := unit(t.h(i, fGuest)) < 0.05
	if guest {
		u.UserType = "guest"
		u.UserPrincipalName = local + "_partner.example#EXT#@" + t.short + ".example.com"
	} else {
		u.UserType = "member"
		u.UserPrincipalName = local + "@" + t.short + ".example.com"
		u.IsAdmin = t.isAdmin(i, d)
		u.IsSsprEnabled = unit(t.h(i, fSspr)) < 0.85
	}
	u.IsSystemPreferredAuthenticationMethodEnabled = unit(t.h(i, fSysPref)) < 0.9

	created := t.created(i)
	engaged := unit(t.h(i, fEngaged)) < 0.9
	if guest {
		engaged = unit(t.h(i, fEngaged)) < 0.3
	}
	base := t.registrationBase(i, created)
	// A day before the user joined (only for days long before epochDay)
	// shows the join day clamped to d.
	lastChange := min(created, d)
	sc.rs = t.resets(i, created, d, !guest, sc.rs[:0])
	regs := sc.regs[:0]
	for m := range vocabulary {
		e := &vocabulary[m]
		k := fMethod + 16*uint64(m)
		if !engaged || unit(t.h(i, k)) >= e.weight {
			continue
		}
		// Combined registration adds most methods the day the user first
		// registers; the rest trickle in later.
		on := base
		if unit(t.h(i, k+1)) >= 0.6 {
			on += int(t.h(i, k+2) % 240)
		}
		off := noDay
		if unit(t.h(i, k+3)) < e.removal {
			off = on + 1 + int(t.h(i, k+4)%e.keepDays)
		}
		regs = append(regs, registration{m, on, off})
	}
	if c, ok := t.campaignSpan(i, created, d, guest, regs, sc.rs); ok {
		// After the user's own registrations of the same method, so that
		// regs stay grouped by method in vocabulary order.
		at := len(regs)
		for at > 0 && regs[at-1].method > c.method {
			at--
		}
		regs = slices.Insert(regs, at, c)
	}
	sc.regs = regs
	methods := sc.vi[:0]
	for j := 0; j < len(regs); {
		m, n := regs[j].method, 1
		for j+n < len(regs) && regs[j+n].method == m {
			n++
		}
		one, mfa := regs[j:j+n], vocabulary[m].mfa
		j += n
		lastChange = max(lastChange, lastToggle(one, d, mfa, sc.rs))
		if heldAny(one, d, mfa, sc.rs) {
			methods = append(methods, m)
		}
	}
	sc.vi = methods
	u.MethodsRegistered = make([]string, len(methods))
	for j, m := range methods {
		u.MethodsRegistered[j] = vocabulary[m].value
	}
	deriveFlags(&u, methods, t.h(i, fPrefPick), unit(t.h(i, fPrefBlank)) < 0.1)
	// Graph keeps 7 fractional digits: 100 ns resolution.
	tod := time.Duration(hash3(t.salt^uint64(i), uint64(lastChange), fTime)%(secondsPerDay*1e7)) * 100
	u.LastUpdatedDateTime = dayStart(lastChange).Add(tod)
	return u
}

// registrationBase is the day user i first registers: for many existing
// users before epochDay, for the others after it with a falling density
// (the product of two uniform draws), for new users soon after they join
// (most within days, at their first sign-in; some take weeks).
func (t *tenantData) registrationBase(i, created int) int {
	if created >= epochDay {
		if unit(t.h(i, fBaseB)) < 0.1 {
			return created + int(t.h(i, fBaseA)%30)
		}
		return created + int(t.h(i, fBaseA)%3)
	}
	if unit(t.h(i, fBaseEarly)) < 0.45 {
		return max(created, epochDay-1-int(t.h(i, fBaseA)%900))
	}
	a, b := t.h(i, fBaseA)%spreadDays, t.h(i, fBaseB)%spreadDays
	return epochDay + int(a*b/spreadDays)
}

// guidPrefix is the first 8 bytes of guid(hi, _) as a big-endian number.
func guidPrefix(hi uint64) uint64 {
	k := bits.ReverseBytes64(hi)
	return k&^(0xf0<<8) | 0x40<<8
}

// guid formats 128 hash bits as a version-4 style GUID.
func guid(hi, lo uint64) string {
	var b [16]byte
	for k := range 8 {
		b[k] = byte(hi >> (8 * k))
		b[8+k] = byte(lo >> (8 * k))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

var firstLabels, lastLabels = labels(firstNames), labels(lastNames)

func labels(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = asciiLabel(n)
	}
	return out
}

// asciiLabel lowercases a name and folds it to the letters a UPN may carry.
func asciiLabel(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		default:
			if a, ok := asciiFold[r]; ok {
				b.WriteString(a)
			}
		}
	}
	return b.String()
}

var asciiFold = map[rune]string{
	'á': "a", 'é': "e", 'í': "i", 'ó': "o", 'ú': "u", 'ü': "u", 'ë': "e",
	'ø': "o", 'ř': "r",
}
