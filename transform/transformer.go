package transform

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

// DefaultBatchRows is the rows per Arrow batch per table when
// Options.BatchRows is 0.
const DefaultBatchRows = 16384

// DefaultSeenInMemory is Options.SeenInMemory when 0: about 15 MB of ids,
// so that most tenants are decided in memory, in one pass.
const DefaultSeenInMemory = 1 << 18

// MaxRawJSON caps rejected_records.raw_json; a longer record is cut there,
// and its reason_detail says so. The raw zone keeps every byte.
const MaxRawJSON = 1 << 20

// Options configures a Transformer. The zero value transforms the default
// endpoint (userRegistrationDetails) into batches of DefaultBatchRows.
type Options struct {
	// Key and RunID are copied into every row.
	Key   schemas.Key
	RunID string
	// Endpoint is the report the records come from; "" is
	// schemas.UserRegistrationDetails.
	Endpoint schemas.Endpoint
	// BatchRows is the rows per Arrow batch per table; 0 means
	// DefaultBatchRows.
	BatchRows int
	// Allocator backs the batches; nil means memory.DefaultAllocator.
	Allocator memory.Allocator
	// Winners, on a second pass over a sharded snapshot's pages, names the
	// copy to load of each user read more than once (see
	// Transformer.Winners); the other copies count as moved, or as
	// duplicate_id rejects when their shard listed the user before.
	Winners map[string]RecordRef
	// SeenInMemory is how many ids a Transformer remembers in memory,
	// deciding repeats as it reads; past it, it spills compact entries to
	// temporary files (removed on Release) and decides at the end, through
	// Superseded and Winners (see seen_spill.go), so memory stays flat in
	// tenant size. 0 means DefaultSeenInMemory; negative, no limit. When
	// those files fail, Transformer.Err says so and what was written must
	// not be published.
	SeenInMemory int
	// History, when set, is told of every user loaded and derives the
	// summary and change tables; its change batches come out with the
	// Transformer's. A second pass gets the same History, Reset.
	History *History
	// Pseudonymize, when set, replaces the names of each user before any
	// row (or History) sees them, and those in rejects' raw_json (see
	// pseudonym.go); nil keeps the names.
	Pseudonymize *Pseudonymizer
}

// Batch is a full (or, from Finish, final) Arrow record batch of one table.
// The receiver owns Record and must Release it.
type Batch struct {
	Table  *schemas.Table
	Record arrow.RecordBatch
}

// Stats counts what a Transformer has seen. RecordsIn == Users + Rejected +
// MovedBetweenShards.
type Stats struct {
	Pages, RecordsIn, Users, Methods, Rejected int64
	// RejectsByReason counts rejects by reason code.
	RejectsByReason map[string]int64
	// UnknownMethods counts method rows with is_known_value=false by value.
	UnknownMethods map[string]int64
	// UnknownFields counts, by property name, the loaded users whose record
	// carried a property the decoder does not know.
	UnknownFields map[string]int64
	// UnknownValues counts, by "property=value" (UnknownValue.String, e.g.
	// "userType=partner"), the loaded users whose record carried an
	// undocumented value of an enum-like property: userType,
	// userPreferredMethodForSecondaryAuthentication, defaultMfaMethod or
	// systemPreferredAuthenticationMethods. The values load unchanged.
	UnknownValues map[string]int64
	// MovedBetweenShards counts the copies of users read in two shards of a
	// sharded listing that were not loaded (see AddShardPage). They are
	// neither users nor rejects: RecordsIn == Users + Rejected +
	// MovedBetweenShards.
	MovedBetweenShards int64
	// TrueFlags counts the loaded users whose boolean column (by name, e.g.
	// is_mfa_capable) is true; MethodUsers counts the loaded users with
	// each method value. They are what Graph's aggregates are compared with.
	TrueFlags   map[string]int64
	MethodUsers map[string]int64
}

// table indexes the Transformer's builders.
type table int

const (
	usersTable table = iota
	methodsTable
	rejectsTable
	numTables
)

var tables = [numTables]*schemas.Table{
	schemas.UserRegistrationDetailsTable, schemas.UserAuthMethodsTable, schemas.RejectedRecordsTable,
}

// Transformer turns the records of a snapshot's pages into Arrow batches of
// the users, methods and rejects tables. It remembers every id it has
// loaded, to reject repeats, so one Transformer serves one snapshot of one
// tenant and endpoint. It is not safe for concurrent use.
type Transformer struct {
	opts Options
	rep  *report
	// users and methods build those tables' batches; consts fills their
	// SliceConstants columns at cut. rejects, rare, goes row by row.
	users   *schemas.UserBuilder
	methods *schemas.MethodBuilder
	rejects *array.RecordBuilder
	rows    [numTables]int
	consts  *schemas.ConstantColumns
	seen    *seenMem
	stats   Stats
	// shards interns the shard names of AddShardPage.
	shards []string
	// superseded and winners: see moves.go.
	superseded int
	winners    map[string]RecordRef
	// rejectedIDs are the ids of records rejected for their contents.
	rejectedIDs map[string]struct{}
	// seenLimit is Options.SeenInMemory (0: no limit); past it, spill
	// holds the ids. winnerSeen holds the shards that listed each id of
	// Options.Winners.
	seenLimit int
	spill     *seenSpill
	// spillErr is why the spill could not start (see Err).
	spillErr error
	// finished: no page came since Finish, so Stats corrects its counts
	// past SeenInMemory (see spillStats).
	finished   bool
	winnerSeen map[string]uint64
	// methodStats and trueFlags count what Stats.MethodUsers,
	// UnknownMethods and TrueFlags say (see method and countFlags).
	methodStats map[string]*methodStat
	trueFlags   [len(flagColumns)]int64
	// userMethods is addUser's scratch: the methodStat of each method of
	// the user.
	userMethods []*methodStat
	// page is AddShardPage's scratch, reused page after page.
	page []Decoded
	// decideHook replaces decide: the tests' oracle (seen_test.go).
	decideHook func(*Record, RecordRef, int32) (bool, error)
}

// New returns a Transformer. It panics on an endpoint schemas does not
// define, a programming error.
func New(opts Options) *Transformer {
	if opts.BatchRows <= 0 {
		opts.BatchRows = DefaultBatchRows
	}
	if opts.Allocator == nil {
		opts.Allocator = memory.DefaultAllocator
	}
	rep := reportFor(opts.Endpoint)
	opts.Endpoint = rep.endpoint
	limit := opts.SeenInMemory
	switch {
	case limit == 0:
		limit = DefaultSeenInMemory
	case limit < 0:
		limit = 0
	}
	t := &Transformer{
		seenLimit: limit,
		opts:      opts,
		rep:       rep,
		seen:      newSeenMem(),
		consts: schemas.NewConstantColumns(opts.Allocator,
			schemas.SliceConstants{Key: opts.Key, Source: opts.Endpoint, RunID: opts.RunID}),
		stats: Stats{
			RejectsByReason: map[string]int64{},
			UnknownFields:   map[string]int64{},
			UnknownValues:   map[string]int64{},
		},
	}
	t.users = schemas.NewUserBuilder(opts.Allocator, t.consts)
	t.methods = schemas.NewMethodBuilder(opts.Allocator, t.consts)
	t.rejects = array.NewRecordBuilder(opts.Allocator, schemas.RejectedRecordsTable.Arrow())
	if opts.History != nil {
		// The History compares names only with a previous snapshot
		// named the same way.
		key := ""
		if opts.Pseudonymize != nil {
			key = opts.Pseudonymize.Fingerprint()
		}
		opts.History.setKey(key)
	}
	return t
}

// AddPage turns one page's records into rows; receivedAt becomes
// extracted_at and seq the reject rows' page_seq. It returns the batches
// that became full, in the order they filled (possibly none). Every record
// ends up as a user row or a reject row: a record with Err set is rejected
// as invalid_json, one that breaks the data contract with its reason, a
// repeated id as duplicate_id (the first occurrence stays). The records are
// odata.Split's: one without Err is valid JSON and is not checked again.
func (t *Transformer) AddPage(seq int64, receivedAt time.Time, records []odata.Record) []Batch {
	return t.AddShardPage(seq, "", receivedAt, records)
}

// AddShardPage is AddPage for a page of one shard of a sharded listing. An
// id repeated within one shard is a duplicate_id reject, as in AddPage; an
// id already read in another shard is the same user read twice while Graph
// changed it: the truer copy loads (see moves.go) and the other counts in
// Stats.MovedBetweenShards.
func (t *Transformer) AddShardPage(seq int64, shard string, receivedAt time.Time, records []odata.Record) []Batch {
	// One path: decode, then decide and append, as a replay does on two
	// goroutines. The scratch slice is reused page after page, and
	// cleared so that it keeps no record of the page alive.
	t.page = t.Decoder().DecodePage(t.page, records)
	out := t.AddDecodedShardPage(seq, shard, receivedAt, t.page)
	clear(t.page)
	return out
}

// pageSyntaxDetail words odata's record error like syntaxDetail does.
func pageSyntaxDetail(err error) string {
	var se *odata.SyntaxError
	if errors.As(err, &se) && se.Detail != "" {
		return "not valid JSON: " + se.Detail
	}
	return "not valid JSON: " + err.Error()
}

func (t *Transformer) addUser(out []Batch, rec *Record, extractedAt time.Time) []Batch {
	if t.opts.Pseudonymize != nil {
		t.opts.Pseudonymize.record(rec)
	}
	// The rows copy the id; only a History comparing with a previous
	// snapshot may keep it (as a map key), and must not keep the record's
	// strings alive with it (see strs).
	id := rec.ID
	if h := t.opts.History; h != nil && h.Compared() {
		id = strings.Clone(id)
	}
	t.stats.Users++
	for _, f := range rec.UnknownFields {
		count(t.stats.UnknownFields, f)
	}
	for _, v := range rec.UnknownValues {
		t.stats.UnknownValues[v.String()]++
	}
	u := rec.userRow(t.opts.Key, t.opts.Endpoint, id, extractedAt, t.opts.RunID)
	t.users.Add(&u)
	out = t.added(out, usersTable)
	t.countFlags(&u)
	// Each method's catalog entry, looked up once for the History's
	// families and the method rows.
	t.userMethods = t.userMethods[:0]
	var fams uint32
	for _, value := range rec.Methods {
		ms := t.method(value)
		t.userMethods = append(t.userMethods, ms)
		fams |= 1 << ms.family
	}
	if t.opts.History != nil {
		out = t.opts.History.userFamilies(out, &u, rec.Methods, fams)
	}
	for i, value := range rec.Methods {
		ms := t.userMethods[i]
		ms.users++
		t.stats.Methods++
		row := schemas.MethodRow{
			Key:               t.opts.Key,
			UserID:            id,
			UserPrincipalName: rec.UserPrincipalName,
			Source:            t.opts.Endpoint,
			AuthMethod:        value,
			MethodFamily:      ms.m.Family,
			UsableForMFA:      ms.m.UsableForMFA,
			UsableForSSPR:     ms.m.UsableForSSPR,
			IsKnownValue:      ms.known,
			RunID:             t.opts.RunID,
		}
		t.methods.Add(&row)
		out = t.added(out, methodsTable)
	}
	clear(t.userMethods)
	return out
}

func (t *Transformer) reject(out []Batch, seq int64, index int, rawBytes []byte, err error) []Batch {
	var re *RecordError
	if !errors.As(err, &re) {
		re = recordError(ReasonInvalidJSON, "", "", "%v", err)
	}
	t.stats.Rejected++
	t.stats.RejectsByReason[re.Code]++
	raw, note := "", ""
	if t.opts.Pseudonymize != nil {
		raw, note = t.opts.Pseudonymize.rejectRaw(rawBytes)
	} else {
		raw, note = rawJSON(rawBytes)
	}
	row := schemas.RejectRow{
		Key:          t.opts.Key,
		Source:       t.opts.Endpoint,
		PageSeq:      seq,
		RecordIndex:  int64(index),
		ReasonCode:   re.Code,
		ReasonDetail: re.Detail + note,
		RawJSON:      raw,
		RunID:        t.opts.RunID,
	}
	if re.UserID != "" {
		row.UserID = &re.UserID
		if t.rejectedIDs == nil {
			t.rejectedIDs = map[string]struct{}{}
		}
		if _, ok := t.rejectedIDs[re.UserID]; !ok {
			t.rejectedIDs[strings.Clone(re.UserID)] = struct{}{}
		}
	}
	row.Append(t.rejects)
	return t.added(out, rejectsTable)
}

// rawJSON is a reject's raw_json: a copy of the bytes, valid UTF-8 (Arrow
// and BigQuery strings must be) and at most MaxRawJSON long. note tells
// what was changed, for reason_detail.
func rawJSON(raw []byte) (s, note string) {
	s = string(raw)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
		note = "; raw_json: invalid UTF-8 replaced with U+FFFD (the raw zone has the exact bytes)"
	}
	if len(s) > MaxRawJSON {
		cut := MaxRawJSON
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		note += fmt.Sprintf("; raw_json: cut to the first %d of %d bytes (the raw zone has them all)", cut, len(s))
		s = s[:cut]
	}
	return s, note
}

// methodStat is what the Transformer knows of one method value: its
// catalog entry, looked up once, and the loaded users with it, from which
// Stats makes MethodUsers and UnknownMethods (a value's method rows are
// its users: a record lists each method once). One map lookup per method
// row instead of three.
type methodStat struct {
	m     schemas.Method
	known bool
	// family indexes m.Family in schemas.MethodFamilies, for History.
	family int
	users  int64
}

// method returns the methodStat of value, adding it (its key cloned, see
// strs) the first time.
func (t *Transformer) method(value string) *methodStat {
	if ms, ok := t.methodStats[value]; ok {
		return ms
	}
	m, known := schemas.LookupMethod(value)
	ms := &methodStat{m: m, known: known, family: familyIndex(m.Family)}
	if t.methodStats == nil {
		t.methodStats = map[string]*methodStat{}
	}
	t.methodStats[strings.Clone(value)] = ms
	return ms
}

// flagColumns name the booleans countFlags counts, in its order.
var flagColumns = [...]string{"is_mfa_registered", "is_mfa_capable", "is_sspr_registered", "is_sspr_enabled",
	"is_sspr_capable", "is_passwordless_capable", "is_admin"}

// countFlags counts the user's true booleans, by flagColumns; Stats names
// them.
func (t *Transformer) countFlags(u *schemas.UserRow) {
	for i, v := range [len(flagColumns)]*bool{u.IsMfaRegistered, u.IsMfaCapable, u.IsSsprRegistered, u.IsSsprEnabled,
		u.IsSsprCapable, u.IsPasswordlessCapable, u.IsAdmin} {
		if v != nil && *v {
			t.trueFlags[i]++
		}
	}
}

// count adds one to m[key], cloning a new key (see strs).
func count(m map[string]int64, key string) {
	if _, ok := m[key]; !ok {
		key = strings.Clone(key)
	}
	m[key]++
}

// added counts a row appended to tab and cuts a batch when tab is full.
func (t *Transformer) added(out []Batch, tab table) []Batch {
	t.rows[tab]++
	if t.rows[tab] >= t.opts.BatchRows {
		out = append(out, t.cut(tab))
	}
	return out
}

func (t *Transformer) cut(tab table) Batch {
	t.rows[tab] = 0
	b := Batch{Table: tables[tab]}
	switch tab {
	case usersTable:
		b.Record = t.users.NewRecordBatch()
	case methodsTable:
		b.Record = t.methods.NewRecordBatch()
	default:
		b.Record = t.rejects.NewRecordBatch()
	}
	return b
}

// Finish returns the partial batches left, of the tables that have rows.
// The Transformer stays usable: more pages start new batches. Past
// Options.SeenInMemory ids, it also merges the spilled ids (see Superseded).
func (t *Transformer) Finish() []Batch {
	if t.spill != nil {
		t.spill.resolved()
	}
	t.finished = true
	var out []Batch
	for tab := range numTables {
		if t.rows[tab] > 0 {
			out = append(out, t.cut(tab))
		}
	}
	return out
}

// Stats returns a copy of the counts so far. Past Options.SeenInMemory
// ids, the counts of a Transformer still reading are optimistic (every
// copy read since the spill began counts as a user, until the last merge
// says otherwise: progress needs no more, and merging per page would cost
// a merge of everything per page); after Finish, with no page since, they
// are exact.
func (t *Transformer) Stats() Stats {
	s := t.stats
	s.RejectsByReason = maps.Clone(t.stats.RejectsByReason)
	s.UnknownFields = maps.Clone(t.stats.UnknownFields)
	s.UnknownValues = maps.Clone(t.stats.UnknownValues)
	s.TrueFlags = map[string]int64{}
	for i, n := range t.trueFlags {
		if n > 0 {
			s.TrueFlags[flagColumns[i]] = n
		}
	}
	s.MethodUsers, s.UnknownMethods = map[string]int64{}, map[string]int64{}
	for v, ms := range t.methodStats {
		if ms.users == 0 {
			continue
		}
		s.MethodUsers[v] = ms.users
		if !ms.known {
			s.UnknownMethods[v] = ms.users
		}
	}
	t.spillStats(&s)
	return s
}

// Release frees the builders and the rows not yet returned in a batch, and
// removes the temporary files of duplicate detection. Batches already
// returned are the receiver's to release. The Transformer must not be used
// after Release.
func (t *Transformer) Release() {
	if t.spill != nil {
		t.spill.close()
	}
	t.consts.Release()
	t.users.Release()
	t.methods.Release()
	if t.rejects != nil {
		t.rejects.Release()
		t.rejects = nil
	}
}
