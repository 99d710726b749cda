package transform

import (
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/credreg/credreg/schemas"
)

// flagSet holds a user's tracked states: bit i is schemas.ChangeFlags()[i].
type flagSet uint8

// guid is a user id in Graph's lowercase 8-4-4-4-12 form, packed into 16
// bytes: the key of the previous snapshot's users, so a million of them
// cost their state, not a million strings.
type guid [16]byte

// parseGUID packs a lowercase GUID; ok is false for any other id (kept by
// its string). Uppercase hex is not packed: ids compare as strings, exactly
// as SQL compares them, and packing would merge two that differ in case.
// Every record's id is parsed (decide, the previous snapshot): a table
// lookup per digit, not a branch per character, is a fifth of the time.
func parseGUID(s string) (g guid, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, false
	}
	var bad byte
	for i, at := range [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34} {
		hi, lo := hexNibble[s[at]], hexNibble[s[at+1]]
		bad |= hi | lo
		g[i] = hi<<4 | lo&0xf
	}
	if bad&0xf0 != 0 {
		return guid{}, false
	}
	return g, true
}

// hexNibble is the value of each lowercase hex digit, 0xff for any other
// byte.
const hexNibble = "" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\x0a\x0b\x0c\x0d\x0e\x0f\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"

// guidString is parseGUID's inverse (only lowercase GUIDs are packed):
// spills and Winners name ids by string.
func guidString(g guid) string {
	var b [36]byte
	hex.Encode(b[0:8], g[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], g[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], g[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], g[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], g[10:16])
	return string(b[:])
}

// Previous is what History needs of a tenant's previous snapshot: for each
// user, its tracked states and its methods, interned. The pipeline fills it
// from the previous slice's files (AddUsers, AddMethods) before the new
// snapshot's pages are transformed, and Releases it after.
//
// Up to InMemory users are held in memory, 32 bytes each. Past that, the
// Previous spills every user to partition files on local disk (a
// partitioned, or Grace, hash join): History then spills the new
// snapshot's users to the same partitions as they stream, and History.Join
// compares one partition at a time at the end. The change rows are the
// same set either way; only their order differs.
type Previous struct {
	// Date and RunID name the snapshot, for the change rows and the manifest.
	Date  time.Time
	RunID string
	// KeyFingerprint is the pseudonymization key the previous snapshot's
	// names were written under ("" for real names): History compares
	// only snapshots named alike, or real and pseudonymized names would mix.
	KeyFingerprint string
	// InMemory is the most users held in memory before spilling to disk;
	// zero means DefaultInMemory, negative no limit (as
	// Options.SeenInMemory). Set it before the first AddUsers.
	InMemory int
	endpoint schemas.Endpoint
	// set holds the users in memory; spill, once set, holds them on disk
	// instead.
	set   *prevSet
	spill *prevSpill
	// rows counts the users added to set, one listed twice twice.
	rows   int
	values []string
	index  map[string]uint16
}

// NewPrevious returns an empty Previous of a snapshot of endpoint.
func NewPrevious(date time.Time, runID string, endpoint schemas.Endpoint) *Previous {
	return &Previous{Date: date, RunID: runID, endpoint: reportFor(endpoint).endpoint,
		set: newPrevSet(), index: map[string]uint16{}}
}

// Users is how many users the previous snapshot has; a spilled one counts
// a user listed twice twice.
func (p *Previous) Users() int {
	if p.spill != nil {
		return p.spill.users
	}
	p.set.seal()
	return p.set.len()
}

// Spilled says whether the previous snapshot went to local disk.
func (p *Previous) Spilled() bool { return p.spill != nil }

// Release removes the local files of a spilled Previous.
func (p *Previous) Release() {
	if p.spill != nil {
		p.spill.release()
	}
}

// startSpill moves the users held in memory to partition files.
func (p *Previous) startSpill() error {
	sp, err := newPrevSpill()
	if err != nil {
		return err
	}
	set := p.set
	set.each(func(g guid, isGUID bool, id string, fs flagSet, methods uint64) {
		sp.writeUser(g, isGUID, id, fs, methods)
	})
	for id, extra := range set.extra {
		g, isGUID := parseGUID(id)
		for _, i := range extra {
			sp.writeMethod(g, isGUID, id, i)
		}
	}
	p.spill, p.set = sp, newPrevSet()
	return sp.err
}

func (p *Previous) limit() int {
	switch {
	case p.InMemory > 0:
		return p.InMemory
	case p.InMemory < 0:
		return math.MaxInt
	}
	return DefaultInMemory
}

// Endpoint is the report the previous snapshot came from.
func (p *Previous) Endpoint() schemas.Endpoint { return p.endpoint }

// flagColumn is the user_registration_details column holding flag f in
// endpoint's report, "" when that report lacks it.
func flagColumn(f schemas.ChangeFlag, endpoint schemas.Endpoint) string {
	if endpoint == schemas.CredentialUserRegistrationDetails {
		return f.Beta
	}
	return f.V1
}

// UserColumns are the user_registration_details columns AddUsers reads.
func (p *Previous) UserColumns() []string {
	cols := []string{"user_id"}
	for _, f := range schemas.ChangeFlags() {
		if c := flagColumn(f, p.endpoint); c != "" {
			cols = append(cols, c)
		}
	}
	return cols
}

// MethodColumns are the user_auth_methods columns AddMethods reads.
func (p *Previous) MethodColumns() []string { return []string{"user_id", "auth_method"} }

// stringColumn finds a string column of rec by name.
func stringColumn(rec arrow.RecordBatch, name string) (*array.String, error) {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, fmt.Errorf("the previous snapshot has no %s column", name)
	}
	c, ok := rec.Column(idx[0]).(*array.String)
	if !ok {
		return nil, fmt.Errorf("the previous snapshot's %s is %s, want a string", name, rec.Column(idx[0]).DataType())
	}
	return c, nil
}

// AddUsers adds a batch of the previous snapshot's user_registration_details
// with (at least) UserColumns. A flag column the file lacks counts as false.
func (p *Previous) AddUsers(rec arrow.RecordBatch) error {
	ids, err := stringColumn(rec, "user_id")
	if err != nil {
		return err
	}
	var flags [8]*array.Boolean
	for i, f := range schemas.ChangeFlags() {
		c := flagColumn(f, p.endpoint)
		if idx := rec.Schema().FieldIndices(c); c != "" && len(idx) > 0 {
			if b, ok := rec.Column(idx[0]).(*array.Boolean); ok {
				flags[i] = b
			}
		}
	}
	for r := range ids.Len() {
		var fs flagSet
		for i, b := range flags {
			if b != nil && b.IsValid(r) && b.Value(r) {
				fs |= 1 << i
			}
		}
		id := ids.Value(r)
		if p.spill == nil && p.rows >= p.limit() {
			if err := p.startSpill(); err != nil {
				return err
			}
		}
		if p.spill != nil {
			g, isGUID := parseGUID(id)
			p.spill.writeUser(g, isGUID, id, fs, 0)
			continue
		}
		p.set.add(id, fs)
		p.rows++
	}
	if p.spill != nil {
		return p.spill.err
	}
	return nil
}

// AddMethods adds a batch of the previous snapshot's user_auth_methods with
// MethodColumns. Rows of users AddUsers did not add are ignored.
func (p *Previous) AddMethods(rec arrow.RecordBatch) error {
	ids, err := stringColumn(rec, "user_id")
	if err != nil {
		return err
	}
	methods, err := stringColumn(rec, "auth_method")
	if err != nil {
		return err
	}
	for r := range ids.Len() {
		id := ids.Value(r)
		if p.spill != nil {
			// Whether the user is there is known when the partition loads.
			g, isGUID := parseGUID(id)
			p.spill.writeMethod(g, isGUID, id, p.intern(methods.Value(r)))
			continue
		}
		if pos, ok := p.set.find(id); ok {
			p.set.addMethod(pos, id, p.intern(methods.Value(r)))
		}
	}
	if p.spill != nil {
		return p.spill.err
	}
	return nil
}

// intern returns the method value's index, adding it when new.
func (p *Previous) intern(v string) uint16 {
	if i, ok := p.index[v]; ok {
		return i
	}
	i := uint16(len(p.values))
	v = strings.Clone(v)
	p.values = append(p.values, v)
	p.index[v] = i
	return i
}

// unsee forgets which users the snapshot being written has.
func (p *Previous) unsee() {
	if p.spill != nil {
		p.spill.resetCur()
		return
	}
	p.set.unsee()
}
