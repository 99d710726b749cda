package transform

import (
	"math/bits"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/schemas"
)

// HistoryOptions configure a History.
type HistoryOptions struct {
	Key      schemas.Key
	RunID    string
	Endpoint schemas.Endpoint
	// Previous is the tenant's previous snapshot; nil when there is none
	// (the first snapshot, or one from the other report): no change rows.
	Previous  *Previous
	BatchRows int
	Allocator memory.Allocator
}

// History derives the two tables that look across a slice's users rather
// than at one record: registration_daily_summary (counts of the users the
// Transformer loads) and registration_changes (how they differ from the
// previous snapshot). A Transformer given it in Options.History reports
// every user it loads, once, as it loads it; the change rows come back in
// the Transformer's batches.
//
// The comparison streams: the previous snapshot is held as a compact state
// per user (tracked flags and a bitset of interned methods, keyed by the id
// packed into 16 bytes), never as rows, and the new snapshot's users are
// compared as they arrive, in whatever order Graph listed them. The users
// of the previous snapshot not seen by the end are its disappeared users;
// Gone finds their names in a second read of the previous file.
//
// A previous snapshot too large to hold (see Previous) is compared by a
// partitioned join instead: the new users and the names Gone is given go
// to the Previous's partition files, and Join compares them partition by
// partition at the end. The change rows are then in partition order, not
// in the order the users came; their set is the same.
type History struct {
	o        HistoryOptions
	prevDate arrow.Date32
	builder  *array.RecordBuilder
	rows     int
	changes  int64
	sum      summaryCounts
	families int
	// summaryFlags and changeFlags are the userFlags index of each of
	// schemas.SummaryFlags and ChangeFlags in the report, -1 for none.
	summaryFlags, changeFlags []int
	// scratch for a user's methods, interned.
	curExtra []uint16
	// key is the fingerprint of the names the Transformer writes ("" for
	// real names).
	key string
	// joined: Join ran in this pass.
	joined bool
}

type summaryCounts struct {
	users, members, guests, admins, adminsWithoutMFA, withoutMethods, methodRows int64
	flags                                                                        [8]int64
	families                                                                     []int64
}

// NewHistory returns a History for one slice.
func NewHistory(o HistoryOptions) *History {
	if o.BatchRows <= 0 {
		o.BatchRows = DefaultBatchRows
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	o.Endpoint = reportFor(o.Endpoint).endpoint
	h := &History{o: o, families: len(schemas.MethodFamilies())}
	for _, f := range schemas.SummaryFlags() {
		h.summaryFlags = append(h.summaryFlags, flagIndex(summaryColumn(f, o.Endpoint)))
	}
	for _, f := range schemas.ChangeFlags() {
		h.changeFlags = append(h.changeFlags, flagIndex(flagColumn(f, o.Endpoint)))
	}
	h.sum.families = make([]int64, h.families)
	if o.Previous != nil {
		h.prevDate = arrow.Date32FromTime(o.Previous.Date)
	}
	h.builder = array.NewRecordBuilder(o.Allocator, schemas.RegistrationChangesTable.Arrow())
	return h
}

// Compared says whether change rows are derived: there is a previous
// snapshot to compare with, its names written as this one's are.
func (h *History) Compared() bool {
	return h.o.Previous != nil && h.o.Previous.KeyFingerprint == h.key
}

// Incomparable says why a previous snapshot is not compared with: its
// names are real and these pseudonyms, or the other way round, or
// pseudonyms under another key. "" when it is compared, or there is none.
func (h *History) Incomparable() string {
	p := h.o.Previous
	switch {
	case p == nil || p.KeyFingerprint == h.key:
		return ""
	case p.KeyFingerprint == "":
		return "the previous snapshot has real names and this one pseudonyms: its change rows would carry real names"
	case h.key == "":
		return "the previous snapshot has pseudonyms and this one real names: they do not join"
	}
	return "the previous snapshot's names are pseudonyms under another key: they do not join"
}

// setKey tells the History the fingerprint of the names it is given.
func (h *History) setKey(fingerprint string) { h.key = fingerprint }

// Changes is how many change rows the History has produced.
func (h *History) Changes() int64 { return h.changes }

// userFlagColumns name the UserRow's booleans History looks at, in
// userFlags' order.
var userFlagColumns = [...]string{"is_mfa_registered", "is_mfa_capable", "is_sspr_registered", "is_sspr_enabled",
	"is_sspr_capable", "is_passwordless_capable", "is_admin", "is_registered", "is_enabled", "is_capable"}

// userFlags are the UserRow's booleans, by userFlagColumns.
func userFlags(u *schemas.UserRow) [len(userFlagColumns)]*bool {
	return [...]*bool{u.IsMfaRegistered, u.IsMfaCapable, u.IsSsprRegistered, u.IsSsprEnabled, u.IsSsprCapable,
		u.IsPasswordlessCapable, u.IsAdmin, u.IsRegistered, u.IsEnabled, u.IsCapable}
}

// flagIndex is the userFlags index of column col, -1 for another (a state
// the report lacks is ""): found once per History, not per user.
func flagIndex(col string) int {
	for i, c := range userFlagColumns {
		if c == col {
			return i
		}
	}
	return -1
}

// flagTrue says whether the boolean at index i of flags (-1: none) is true.
func flagTrue(flags *[len(userFlagColumns)]*bool, i int) bool { return i >= 0 && isTrue(flags[i]) }

func isTrue(b *bool) bool { return b != nil && *b }

// summaryColumn is the user_registration_details column of a summary state
// in endpoint's report.
func summaryColumn(f schemas.SummaryFlag, endpoint schemas.Endpoint) string {
	if endpoint == schemas.CredentialUserRegistrationDetails {
		return f.Beta
	}
	return f.V1
}

// user is userFamilies for a caller that has not looked the methods up.
func (h *History) user(out []Batch, u *schemas.UserRow, methods []string) []Batch {
	var fams uint32
	for _, m := range methods {
		meth, _ := schemas.LookupMethod(m)
		fams |= 1 << familyIndex(meth.Family)
	}
	return h.userFamilies(out, u, methods, fams)
}

// familyIndex is f's index in schemas.MethodFamilies, the bit of a set of
// families; 0 for a family not listed there.
func familyIndex(f schemas.MethodFamily) int {
	return max(slices.Index(schemas.MethodFamilies(), f), 0)
}

// userFamilies is called by the Transformer for every user it loads, with
// the methods as Graph listed them and the set of their families (bit
// familyIndex), which the Transformer has looked up already; it returns the
// change batches filled.
func (h *History) userFamilies(out []Batch, u *schemas.UserRow, methods []string, fams uint32) []Batch {
	h.count(u, methods, fams)
	if !h.Compared() {
		return out
	}
	p := h.o.Previous
	var cur flagSet
	flags := userFlags(u)
	for i, fi := range h.changeFlags {
		if flagTrue(&flags, fi) {
			cur |= 1 << i
		}
	}
	var curMethods uint64
	h.curExtra = h.curExtra[:0]
	for _, m := range methods {
		if i := p.intern(m); i < 64 {
			curMethods |= 1 << i
		} else {
			h.curExtra = appendUnique(h.curExtra, i)
		}
	}
	if p.spill != nil {
		// Compared at Join, partition by partition.
		p.spill.writeCur(u.UserID, u.UserPrincipalName, cur, curMethods, h.curExtra)
		return out
	}
	return h.compare(out, p.set, u.UserID, u.UserPrincipalName, cur, curMethods, h.curExtra)
}

// compare adds the change rows of a user of the new snapshot against
// the previous snapshot's users in s, marking the user seen there.
func (h *History) compare(out []Batch, s *prevSet, id, upn string, cur flagSet, curMethods uint64, curExtra []uint16) []Batch {
	prev, found := s.take(id)
	var prevExtra []uint16
	if found {
		prevExtra = s.extra[id]
	} else {
		out = h.add(out, id, upn, schemas.ChangeAppeared, "")
	}
	out = h.flips(out, id, upn, prev.flags, cur)
	out = h.methodDiff(out, id, upn, curMethods&^prev.methods, schemas.ChangeMethodAdded)
	out = h.methodDiff(out, id, upn, prev.methods&^curMethods, schemas.ChangeMethodRemoved)
	values := h.o.Previous.values
	for _, i := range curExtra {
		if !containsU16(prevExtra, i) {
			out = h.add(out, id, upn, schemas.ChangeMethodAdded, values[i])
		}
	}
	for _, i := range prevExtra {
		if !containsU16(curExtra, i) {
			out = h.add(out, id, upn, schemas.ChangeMethodRemoved, values[i])
		}
	}
	return out
}

// gone adds the rows of a previous user the new snapshot does not have,
// once: a file listing a user twice must not remove it twice.
func (h *History) gone(out []Batch, s *prevSet, id, upn string) []Batch {
	u, ok := s.take(id)
	if !ok || u.seen {
		return out
	}
	out = h.add(out, id, upn, schemas.ChangeDisappeared, "")
	out = h.flips(out, id, upn, u.flags, 0)
	out = h.methodDiff(out, id, upn, u.methods, schemas.ChangeMethodRemoved)
	for _, i := range s.extra[id] {
		out = h.add(out, id, upn, schemas.ChangeMethodRemoved, h.o.Previous.values[i])
	}
	return out
}

// count adds the user to the summary; fams is the set of its methods'
// families.
func (h *History) count(u *schemas.UserRow, methods []string, fams uint32) {
	s := &h.sum
	s.users++
	if u.UserType != nil {
		switch *u.UserType {
		case "member":
			s.members++
		case "guest":
			s.guests++
		}
	}
	flags := userFlags(u)
	for i, fi := range h.summaryFlags {
		if flagTrue(&flags, fi) {
			s.flags[i]++
		}
	}
	if isTrue(u.IsAdmin) {
		s.admins++
		if !isTrue(u.IsMfaRegistered) {
			s.adminsWithoutMFA++
		}
	}
	if len(methods) == 0 {
		s.withoutMethods++
	}
	s.methodRows += int64(len(methods))
	for fams != 0 {
		i := bits.TrailingZeros32(fams)
		s.families[i]++
		fams &^= 1 << i
	}
}

// flips adds the *_gained and *_lost rows between two flag sets.
func (h *History) flips(out []Batch, id, upn string, prev, cur flagSet) []Batch {
	for i, f := range schemas.ChangeFlags() {
		bit := flagSet(1) << i
		switch {
		case cur&bit != 0 && prev&bit == 0:
			out = h.add(out, id, upn, f.Gained(), "")
		case cur&bit == 0 && prev&bit != 0:
			out = h.add(out, id, upn, f.Lost(), "")
		}
	}
	return out
}

// methodDiff adds one row of kind per method in set.
func (h *History) methodDiff(out []Batch, id, upn string, set uint64, kind schemas.ChangeKind) []Batch {
	for set != 0 {
		i := bits.TrailingZeros64(set)
		out = h.add(out, id, upn, kind, h.o.Previous.values[i])
		set &^= 1 << i
	}
	return out
}

// add appends one change row; method is "" for the kinds without one.
func (h *History) add(out []Batch, id, upn string, kind schemas.ChangeKind, method string) []Batch {
	row := schemas.ChangeRow{Key: h.o.Key, PreviousDate: h.prevDate, UserID: id, UserPrincipalName: upn,
		Change: kind, RunID: h.o.RunID}
	if method != "" || kind == schemas.ChangeMethodAdded || kind == schemas.ChangeMethodRemoved {
		m, _ := schemas.LookupMethod(method)
		row.AuthMethod, row.MethodFamily = &method, &m.Family
	}
	row.Append(h.builder)
	h.changes++
	h.rows++
	if h.rows >= h.o.BatchRows {
		out = append(out, h.cut())
	}
	return out
}

func (h *History) cut() Batch {
	h.rows = 0
	return Batch{Table: schemas.RegistrationChangesTable, Record: h.builder.NewRecordBatch()}
}

// GoneColumns are the previous snapshot's user_registration_details
// columns Gone reads.
func (h *History) GoneColumns() []string { return []string{"user_id", "user_principal_name"} }

// Gone reads a batch of the previous snapshot's user_registration_details
// again, once every user of the new snapshot is in, and adds the rows of
// the users the new snapshot does not have: disappeared, with each method
// removed and each true flag lost.
func (h *History) Gone(rec arrow.RecordBatch) ([]Batch, error) {
	p := h.o.Previous
	if !h.Compared() {
		return nil, nil
	}
	ids, err := stringColumn(rec, "user_id")
	if err != nil {
		return nil, err
	}
	upns, err := stringColumn(rec, "user_principal_name")
	if err != nil {
		return nil, err
	}
	var out []Batch
	for r := range ids.Len() {
		if p.spill != nil {
			p.spill.writeGone(ids.Value(r), upns.Value(r))
			continue
		}
		out = h.gone(out, p.set, ids.Value(r), upns.Value(r))
	}
	return out, nil
}

// Finish returns the change rows left and the slice's summary row. Call it
// once per pass, after Gone and Join: it panics if Join was not called, as
// a spilled comparison's rows and errors come from Join alone.
func (h *History) Finish() []Batch {
	if !h.joined {
		panic("transform: History.Finish before History.Join")
	}
	var out []Batch
	if h.rows > 0 {
		out = append(out, h.cut())
	}
	b := array.NewRecordBuilder(h.o.Allocator, schemas.RegistrationDailySummaryTable.Arrow())
	defer b.Release()
	row := h.summaryRow()
	row.Append(b)
	return append(out, Batch{Table: schemas.RegistrationDailySummaryTable, Record: b.NewRecordBatch()})
}

func (h *History) summaryRow() schemas.SummaryRow {
	s := h.sum
	ptr := func(v int64) *int64 { return &v }
	row := schemas.SummaryRow{Key: h.o.Key, Source: h.o.Endpoint, Users: s.users,
		UsersWithoutMethods: s.withoutMethods, MethodRows: s.methodRows, Families: s.families, RunID: h.o.RunID}
	for i, f := range schemas.SummaryFlags() {
		var v *int64
		if summaryColumn(f, h.o.Endpoint) != "" {
			v = ptr(s.flags[i])
		}
		row.Flags = append(row.Flags, v)
	}
	if h.o.Endpoint == schemas.UserRegistrationDetails {
		row.Members, row.Guests = ptr(s.members), ptr(s.guests)
		row.Admins, row.AdminsWithoutMFA = ptr(s.admins), ptr(s.adminsWithoutMFA)
	}
	return row
}

// Reset forgets every user reported so far and drops the change rows not
// yet returned, for a second pass over the same pages.
func (h *History) Reset() {
	h.sum = summaryCounts{families: make([]int64, h.families)}
	h.changes = 0
	h.joined = false
	if h.rows > 0 {
		h.cut().Record.Release()
	}
	if h.o.Previous != nil {
		h.o.Previous.unsee()
	}
}

// Release frees the rows not yet returned in a batch.
func (h *History) Release() {
	if h.builder != nil {
		h.builder.Release()
		h.builder = nil
	}
}

func appendUnique(s []uint16, v uint16) []uint16 {
	if containsU16(s, v) {
		return s
	}
	return append(s, v)
}

func containsU16(s []uint16, v uint16) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
