package transform

import (
	"encoding/binary"
	"fmt"

	"github.com/credreg/credreg/schemas"
)

// field is a property the decoder knows: a field of schemas.UserFields,
// numbered in the order its checks run (see order).
type field uint8

// numFields bounds the decoder's fields: one per entry of the table, the
// ones credreg fills itself last and never looked up.
const numFields = field(schemas.NumUserFields)

// fields are the table's entries by field number.
var fields = order()

// order numbers the table's fields in the order the contract checks them:
// id and userPrincipalName first (a record is named before it is judged),
// then kind by kind (strings, booleans, method lists, string lists, and
// timestamps last, so that a wrong type is reported before a timestamp
// that does not parse), in table order within a kind; then the columns
// credreg fills.
func order() (out [numFields]*schemas.UserField) {
	rank := func(f *schemas.UserField) int {
		switch {
		case f.Column == idColumn:
			return 0
		case f.Column == upnColumn:
			return 1
		case !f.Graph():
			return 100
		}
		return 10 + int(f.Kind)
	}
	all := schemas.UserFields() // transform's own copy, pointed into
	n := 0
	for r := 0; r <= 100; r++ {
		for i := range all {
			if f := &all[i]; rank(f) == r {
				out[n] = f
				n++
			}
		}
	}
	if n != int(numFields) {
		panic(fmt.Sprintf("transform: %d of %d fields ordered", n, numFields))
	}
	return out
}

const (
	idColumn  = "user_id"
	upnColumn = "user_principal_name"
)

// fieldOf finds the field filling column; with fallback, the fallback
// property of that column.
func fieldOf(column string, fallback bool) field {
	for f, uf := range fields {
		if uf.Column == column && uf.Fallback == fallback {
			return field(f)
		}
	}
	panic(fmt.Sprintf("transform: no field for column %q", column))
}

// The fields Record names. Everything else the decoder knows of them
// (names, kinds, documented values) is in schemas.UserFields.
var (
	fID                     = fieldOf(idColumn, false)
	fUPN                    = fieldOf(upnColumn, false)
	fDisplayName            = fieldOf("user_display_name", false)
	fUserType               = fieldOf("user_type", false)
	fPreferredSecondary     = fieldOf("default_mfa_method", false)
	fDefaultMfa             = fieldOf("default_mfa_method", true)
	fIsAdmin                = fieldOf("is_admin", false)
	fIsRegistered           = fieldOf("is_registered", false)
	fIsEnabled              = fieldOf("is_enabled", false)
	fIsCapable              = fieldOf("is_capable", false)
	fIsMfaRegistered        = fieldOf("is_mfa_registered", false)
	fIsMfaCapable           = fieldOf("is_mfa_capable", false)
	fIsSsprRegistered       = fieldOf("is_sspr_registered", false)
	fIsSsprEnabled          = fieldOf("is_sspr_enabled", false)
	fIsSsprCapable          = fieldOf("is_sspr_capable", false)
	fIsPasswordlessCapable  = fieldOf("is_passwordless_capable", false)
	fIsSystemPreferred      = fieldOf("is_system_preferred_auth_enabled", false)
	fMethods                = fieldOf("auth_method_count", false)
	fSystemPreferredMethods = fieldOf("system_preferred_methods", false)
	fLastUpdated            = fieldOf("last_updated_at", false)
)

// report is what the decoder knows of one endpoint's records: the JSON
// name of each field it has ("" for the fields it lacks).
type report struct {
	endpoint schemas.Endpoint
	names    [numFields]string
	// byLen holds the fields by the length of their name: a lookup reads
	// one byte of the name and compares it with one name at most, cheaper
	// than hashing the name for a map.
	byLen [64]sameLength
	// heads are the names as match compares them: the first nlinear in
	// turn, the others each in its slot of byHead (its index + 1 there).
	heads   [numFields]nameHead
	nlinear int
	mul     uint64
	byHead  [1 << headBits]uint8
	// headOf is each field's index in heads + 1, 0 for a field the
	// report lacks.
	headOf [numFields]uint8
}

// nameHead is a property name as a name token spells it, the closing
// quote included: its first eight bytes (fewer for a short name, the
// rest masked off) as one little-endian word, and the bytes after them.
type nameHead struct {
	f          field
	n          int // the name's length
	head, mask uint64
	tail       string
}

// sameLength are the names of one length, told apart by their byte at pos
// (the position where they differ most). Graph's reports have at most two
// names of a length.
type sameLength struct {
	pos    uint8
	n      uint8
	at     [maxSameLength]byte
	fields [maxSameLength]field
}

const maxSameLength = 4

func newReport(e schemas.Endpoint) *report {
	r := &report{endpoint: e}
	for f, uf := range fields {
		n := uf.Name(e)
		r.names[f] = n
		if n == "" {
			continue
		}
		if len(n) >= len(r.byLen) {
			panic(fmt.Sprintf("transform: property name %q is longer than the decoder's lookup allows", n))
		}
		s := &r.byLen[len(n)]
		if int(s.n) == maxSameLength {
			panic(fmt.Sprintf("transform: more than %d property names as long as %q", maxSameLength, n))
		}
		s.fields[s.n] = field(f)
		s.n++
	}
	for l := range r.byLen {
		s := &r.byLen[l]
		best := -1
		for pos := range l {
			var seen [256]bool
			distinct := 0
			for _, f := range s.fields[:s.n] {
				if c := r.names[f][pos]; !seen[c] {
					seen[c] = true
					distinct++
				}
			}
			if distinct > best {
				s.pos, best = uint8(pos), distinct
			}
		}
		for i, f := range s.fields[:s.n] {
			s.at[i] = r.names[f][s.pos]
		}
	}
	r.hashHeads()
	return r
}

// headBits sizes the table of heads: 128 slots for the twenty-odd names
// of a report, so that a multiplier sending each to its own slot is found
// in a few tries.
const headBits = 7

// hashHeads fills heads and byHead. A name whose token has eight bytes or
// more is told by its first eight alone, hashed to its slot by one
// multiplication; shorter names (id), and any that share their first eight
// bytes with another, are compared in turn. The multiplier is the first,
// of a fixed sequence, that gives every hashed name a slot of its own.
func (r *report) hashHeads() {
	var all, hashed, linear []nameHead
	for f, n := range r.names {
		if n == "" {
			continue
		}
		h := nameHead{f: field(f), n: len(n)}
		tok := n + `"`
		for j := 0; j < len(tok) && j < 8; j++ {
			h.head |= uint64(tok[j]) << (8 * j)
			h.mask |= 0xff << (8 * j)
		}
		if len(tok) > 8 {
			h.tail = tok[8:]
		}
		all = append(all, h)
	}
	for _, h := range all {
		shared := false
		for _, o := range all {
			shared = shared || o.f != h.f && o.head == h.head
		}
		if h.mask != ^uint64(0) || shared {
			linear = append(linear, h)
		} else {
			hashed = append(hashed, h)
		}
	}
	step := uint64(0x9e3779b97f4a7c15)
	mul := step
	for try := 0; ; try++ {
		var used [1 << headBits]bool
		ok := true
		for _, h := range hashed {
			k := (h.head * mul) >> (64 - headBits)
			ok = ok && !used[k]
			used[k] = true
		}
		if ok {
			break
		}
		if try == 1000 { // never with Graph's names: compare them all in turn
			linear, hashed = append(linear, hashed...), nil
			break
		}
		mul += step << 1 // wraps: still odd, still well mixed
	}
	r.mul = mul
	r.nlinear = copy(r.heads[:], linear)
	for i, h := range hashed {
		r.heads[r.nlinear+i] = h
		r.byHead[(h.head*mul)>>(64-headBits)] = uint8(r.nlinear + i + 1)
	}
	for k, h := range r.heads[:len(all)] {
		r.headOf[h.f] = uint8(k + 1)
	}
}

// match finds the known name whose token starts at b[i] (its opening
// quote), without looking for the token's end first: a record's names are
// almost all known, and a multiplication and a comparison or two on the
// token's first eight bytes cost less than finding its closing quote and
// then looking it up. It returns the field and the index of the closing
// quote; ok is false for a name it does not know, or one too close to the
// end of b to read eight bytes of (lookup decides those).
func (r *report) match(b []byte, i int) (f field, end int, ok bool) {
	j := i + 1
	if j+8 > len(b) {
		return 0, 0, false
	}
	x := binary.LittleEndian.Uint64(b[j:])
	for k := range r.nlinear {
		if h := &r.heads[k]; x&h.mask == h.head && r.tailAt(b, j, h) {
			return h.f, j + h.n, true
		}
	}
	if k := r.byHead[(x*r.mul)>>(64-headBits)]; k != 0 {
		if h := &r.heads[k-1]; x == h.head && r.tailAt(b, j, h) {
			return h.f, j + h.n, true
		}
	}
	return 0, 0, false
}

// matchField reports whether the name token that starts at b[i] is f's,
// and the index of its closing quote: match for a field guessed
// beforehand (see follow). It reports false for a field the report lacks.
func (r *report) matchField(b []byte, i int, f field) (end int, ok bool) {
	j := i + 1
	k := r.headOf[f]
	if k == 0 || j+8 > len(b) {
		return 0, false
	}
	h := &r.heads[k-1]
	if x := binary.LittleEndian.Uint64(b[j:]); x&h.mask == h.head && r.tailAt(b, j, h) {
		return j + h.n, true
	}
	return 0, false
}

// tailAt reports whether the bytes of b from j+8 are the rest of h's
// token (its name's bytes after the eighth, and the closing quote).
func (r *report) tailAt(b []byte, j int, h *nameHead) bool {
	return h.tail == "" || j+h.n+1 <= len(b) && string(b[j+8:j+h.n+1]) == h.tail
}

// lookup finds the field of a property name. Names of a length that share
// the byte at pos (none in Graph's reports) are each compared in turn.
func (r *report) lookup(name []byte) (field, bool) {
	if len(name) >= len(r.byLen) {
		return 0, false
	}
	s := &r.byLen[len(name)]
	if s.n == 0 {
		return 0, false
	}
	c := name[s.pos]
	for i := range s.n {
		if f := s.fields[i]; s.at[i] == c && r.names[f] == string(name) {
			return f, true
		}
	}
	return 0, false
}

var (
	v1Report   = newReport(schemas.UserRegistrationDetails)
	betaReport = newReport(schemas.CredentialUserRegistrationDetails)
)

// kinds are the fields' kinds, read by decodeOne for every member: an
// array of values rather than a pointer to follow each time.
var kinds = func() (k [numFields]schemas.FieldKind) {
	for f, uf := range fields {
		k[f] = uf.Kind
	}
	return k
}()

// stringValued are the fields whose values become strings (timestamps are
// parsed from theirs): the spans strs.keep copies.
var stringValued = func() (w [numFields]bool) {
	for f, uf := range fields {
		w[f] = uf.Graph() && uf.Kind != schemas.KindBool
	}
	return w
}()

// knownValues are the documented values of the enum-like properties, by
// field (schemas.UserField.Values): a value missing here loads unchanged
// and is counted (Stats.UnknownValues), so that a report that grew is
// noticed. The beta report's only enum-like property, authMethods, is
// classified by schemas.LookupMethod.
var knownValues = func() (k [numFields][]string) {
	for f, uf := range fields {
		k[f] = uf.Values
	}
	return k
}()

// enumFields are the fields with documented values, the ones
// unknownValues looks at: four of the twenty-odd.
var enumFields = func() (out []field) {
	for f := range numFields {
		if knownValues[f] != nil {
			out = append(out, f)
		}
	}
	return out
}()

// reportFor maps an endpoint to its report; "" is the default endpoint.
func reportFor(e schemas.Endpoint) *report {
	switch e {
	case schemas.UserRegistrationDetails, "":
		return v1Report
	case schemas.CredentialUserRegistrationDetails:
		return betaReport
	}
	panic(fmt.Sprintf("transform: unknown endpoint %q", e))
}
