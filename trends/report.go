package trends

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// StaleDays is how long a user must have had no method to be listed.
const StaleDays = 30

// Report is what the HTML report shows: the history, and per tenant what
// the change events and the latest snapshot add to it.
type Report struct {
	*History
	Tenants []*TenantReport
}

// TenantReport is one tenant's part of the report.
type TenantReport struct {
	*TenantHistory
	// Weeks are the ISO weeks of the range, oldest first, with the
	// method_added events of each method family.
	Weeks []Week
	// AdminsLostMFA lists mfa_registered_lost events of users who were
	// admins in the event's snapshot or are in the latest, newest first.
	AdminsLostMFA []AdminLostMFA
	// WithoutMethods lists the latest snapshot's users with no method for
	// StaleDays days or more, longest first.
	WithoutMethods []NoMethodUser
	// NoChanges lists the days whose slice has no registration_changes
	// file (published before schema version 5).
	NoChanges []time.Time
}

// Week is one ISO week's method_added events.
type Week struct {
	Year, Week int
	// Added counts the events per method family.
	Added map[string]int64
	// Partial is set when some day of the week (inside the range) is
	// missing: its count is then short.
	Partial bool
}

// Label is the week as 2026-W48.
func (w Week) Label() string { return fmt.Sprintf("%d-W%02d", w.Year, w.Week) }

// AdminLostMFA is an admin who stopped being registered for MFA.
type AdminLostMFA struct {
	Date                time.Time
	UserID, UPN         string
	AdminThen, AdminNow bool
}

// NoMethodUser is a user of the latest snapshot without any method.
type NoMethodUser struct {
	UserID, UPN string
	// Since is the day of the user's last appeared or method_removed event
	// in the range, or the tenant's first day in the range when it has none
	// (AtLeast: the user may have had no method for longer).
	Since   time.Time
	AtLeast bool
	Days    int
}

// BuildReport reads what the HTML report adds to the history: the
// registration_changes of every day in the range, and the latest
// snapshot's user_registration_details.
func BuildReport(ctx context.Context, wh Warehouse, h *History, parallel int) (*Report, error) {
	r := &Report{History: h}
	for _, th := range h.Tenants {
		tr, err := buildTenant(ctx, wh, h, th, parallel)
		if err != nil {
			return nil, err
		}
		r.Tenants = append(r.Tenants, tr)
	}
	return r, nil
}

// latestUsers is what the latest snapshot says of the users the report
// lists.
type latestUsers struct {
	admins     map[string]bool
	noMethods  map[string]string // user id → UPN
	date       time.Time
	haveLatest bool
}

func buildTenant(ctx context.Context, wh Warehouse, h *History, th *TenantHistory, parallel int) (*TenantReport, error) {
	tr := &TenantReport{TenantHistory: th}
	var present []schemas.Key
	for i, d := range th.Days {
		if d != nil || slices.ContainsFunc(th.NoSummary, th.Date(i).Equal) {
			present = append(present, schemas.Key{Date: th.Date(i), Tenant: th.Tenant})
		}
	}
	latest := latestUsers{admins: map[string]bool{}, noMethods: map[string]string{}}
	if len(present) > 0 {
		var err error
		if latest, err = readLatest(ctx, wh, present[len(present)-1]); err != nil {
			return nil, err
		}
	}
	perDay := make([]*dayEvents, len(present))
	err := forEach(ctx, len(present), parallel, func(ctx context.Context, i int) error {
		ev, err := readChanges(ctx, wh, present[i], latest.noMethods)
		perDay[i] = ev
		return err
	})
	if err != nil {
		return nil, err
	}
	tr.Weeks = weeks(th)
	weekOf := map[[2]int]int{}
	for i, w := range tr.Weeks {
		weekOf[[2]int{w.Year, w.Week}] = i
	}
	var lost []event
	var adminEvents []event
	lastEmptied := map[string]time.Time{}
	for i, ev := range perDay {
		if ev == nil {
			tr.NoChanges = append(tr.NoChanges, present[i].Date)
			continue
		}
		y, wk := present[i].Date.ISOWeek()
		w := tr.Weeks[weekOf[[2]int{y, wk}]]
		for f, n := range ev.added {
			w.Added[f] += n
		}
		lost = append(lost, ev.mfaLost...)
		adminEvents = append(adminEvents, ev.admin...)
		for u := range ev.emptied {
			lastEmptied[u] = present[i].Date // days are in order: the last wins
		}
	}
	tr.AdminsLostMFA = adminsLostMFA(lost, adminEvents, latest.admins)
	if latest.haveLatest {
		tr.WithoutMethods = withoutMethods(latest, lastEmptied, th.Start)
	}
	return tr, nil
}

// weeks lists the ISO weeks of th's days, each marked partial when one of
// its days in the range is missing.
func weeks(th *TenantHistory) []Week {
	var out []Week
	for i, d := range th.Days {
		y, wk := th.Date(i).ISOWeek()
		if len(out) == 0 || out[len(out)-1].Year != y || out[len(out)-1].Week != wk {
			out = append(out, Week{Year: y, Week: wk, Added: map[string]int64{}})
		}
		if d == nil {
			out[len(out)-1].Partial = true
		}
	}
	return out
}

// event is one change event the report keeps.
type event struct {
	date      time.Time
	user, upn string
	change    string
}

// dayEvents is what one day's registration_changes gives the report.
type dayEvents struct {
	added   map[string]int64 // method_added per family
	mfaLost []event
	admin   []event // admin_gained, admin_lost
	// emptied holds the users (of interest) with an appeared or
	// method_removed event that day.
	emptied map[string]bool
}

var (
	mfaLost     = string(schemas.ChangeFlag{Name: "mfa_registered"}.Lost())
	adminGained = string(schemas.ChangeFlag{Name: "admin"}.Gained())
	adminLost   = string(schemas.ChangeFlag{Name: "admin"}.Lost())
)

// readChanges reads one day's change events; nil without error when the
// slice has no registration_changes file. interesting are the users whose
// appeared and method_removed events count.
func readChanges(ctx context.Context, wh Warehouse, key schemas.Key, interesting map[string]string) (*dayEvents, error) {
	tbl, err := wh.ReadSlice(ctx, schemas.RegistrationChangesTable, key)
	if errors.Is(err, load.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trends: read the changes of %s/%s: %w", key.DateString(), key.Tenant, err)
	}
	defer tbl.Release()
	ev := &dayEvents{added: map[string]int64{}, emptied: map[string]bool{}}
	err = eachRecord(tbl, func(rec arrow.RecordBatch) error {
		cols, err := columns(rec, "user_id", "user_principal_name", "change", "method_family")
		if err != nil {
			return err
		}
		users, upns, changes, fams := cols[0].(*array.String), cols[1].(*array.String), cols[2].(*array.String), cols[3].(*array.String)
		for i := range int(rec.NumRows()) {
			switch c := changes.Value(i); c {
			case string(schemas.ChangeMethodAdded):
				f := string(schemas.FamilyUnknown)
				if fams.IsValid(i) {
					f = fams.Value(i)
				}
				ev.added[f]++
			case string(schemas.ChangeAppeared), string(schemas.ChangeMethodRemoved):
				if _, ok := interesting[users.Value(i)]; ok {
					ev.emptied[users.Value(i)] = true
				}
			case mfaLost:
				ev.mfaLost = append(ev.mfaLost, event{key.Date, users.Value(i), upns.Value(i), c})
			case adminGained, adminLost:
				ev.admin = append(ev.admin, event{key.Date, users.Value(i), upns.Value(i), c})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("trends: changes of %s/%s: %w", key.DateString(), key.Tenant, err)
	}
	return ev, nil
}

// readLatest reads the latest snapshot's admins and users without methods.
func readLatest(ctx context.Context, wh Warehouse, key schemas.Key) (latestUsers, error) {
	out := latestUsers{admins: map[string]bool{}, noMethods: map[string]string{}, date: key.Date}
	tbl, err := wh.ReadSlice(ctx, schemas.UserRegistrationDetailsTable, key)
	if err != nil {
		return out, fmt.Errorf("trends: read the users of %s/%s: %w", key.DateString(), key.Tenant, err)
	}
	defer tbl.Release()
	out.haveLatest = true
	err = eachRecord(tbl, func(rec arrow.RecordBatch) error {
		cols, err := columns(rec, "user_id", "user_principal_name", "is_admin", "auth_method_count")
		if err != nil {
			return err
		}
		users, upns, admin, n := cols[0].(*array.String), cols[1].(*array.String), cols[2].(*array.Boolean), cols[3].(*array.Int64)
		for i := range int(rec.NumRows()) {
			if admin.IsValid(i) && admin.Value(i) {
				out.admins[users.Value(i)] = true
			}
			if n.Value(i) == 0 {
				out.noMethods[users.Value(i)] = upns.Value(i)
			}
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("trends: users of %s/%s: %w", key.DateString(), key.Tenant, err)
	}
	return out, nil
}

// adminsLostMFA keeps the mfa_registered_lost events of users who were
// admins in the event's snapshot or are in the latest. Whether a user was
// admin on a past day follows from the latest snapshot and the admin
// events after that day: the earliest of them says what the user was
// before it (admin_gained: not an admin; admin_lost: an admin); with none,
// the user was what the latest snapshot says.
func adminsLostMFA(lost, adminEvents []event, adminNow map[string]bool) []AdminLostMFA {
	byUser := map[string][]event{}
	for _, e := range adminEvents {
		byUser[e.user] = append(byUser[e.user], e) // in date order
	}
	var out []AdminLostMFA
	for _, e := range lost {
		then := adminNow[e.user]
		for _, a := range byUser[e.user] {
			if a.date.After(e.date) {
				then = a.change == adminLost
				break
			}
		}
		if then || adminNow[e.user] {
			out = append(out, AdminLostMFA{Date: e.date, UserID: e.user, UPN: e.upn, AdminThen: then, AdminNow: adminNow[e.user]})
		}
	}
	slices.SortStableFunc(out, func(a, b AdminLostMFA) int {
		if c := b.Date.Compare(a.Date); c != 0 {
			return c
		}
		return strings.Compare(a.UPN, b.UPN)
	})
	return out
}

// withoutMethods lists the latest snapshot's users without a method since
// StaleDays days or more.
func withoutMethods(latest latestUsers, lastEmptied map[string]time.Time, start time.Time) []NoMethodUser {
	var out []NoMethodUser
	for u, upn := range latest.noMethods {
		since, atLeast := lastEmptied[u], false
		if since.IsZero() {
			since, atLeast = start, true
		}
		days := daysBetween(since, latest.date)
		if days >= StaleDays {
			out = append(out, NoMethodUser{UserID: u, UPN: upn, Since: since, AtLeast: atLeast, Days: days})
		}
	}
	slices.SortFunc(out, func(a, b NoMethodUser) int {
		if a.Days != b.Days {
			return b.Days - a.Days
		}
		return strings.Compare(a.UPN, b.UPN)
	})
	return out
}
