package graphsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/credreg/credreg/schemas"
)

// DefectKind says what is wrong with an injected record. Its value is the
// reason code credreg's data contract (package transform) gives such a
// record; graphsim does not import transform, so its tests hold the two
// to the convention.
type DefectKind string

// The injected records. Unless a kind says otherwise, the record is the
// record of user After with a fresh id of its own (deterministic per
// tenant and defect index, and no user's), broken in one place only.
const (
	// DefectInvalidJSON writes the methods collection as the seed's
	// example did, {"email","mobileSMS"}. That makes the page body
	// invalid JSON; the brackets balance and no string is broken, so a
	// tolerant reader (internal/odata) isolates the record and keeps the
	// rest of the page.
	DefectInvalidJSON DefectKind = "invalid_json"
	// DefectNullRecord is the element null.
	DefectNullRecord DefectKind = "null_record"
	// DefectNotAnObject is the element 42.
	DefectNotAnObject DefectKind = "not_an_object"
	// DefectMissingID has no "id" property.
	DefectMissingID DefectKind = "missing_id"
	// DefectMalformedID has the id "not a guid". The contract takes ids
	// that are not GUIDs (the docs' example id is "id-value") but not
	// ones holding whitespace, so the spaces are the malformation.
	DefectMalformedID DefectKind = "malformed_id"
	// DefectMissingUPN has no "userPrincipalName" property.
	DefectMissingUPN DefectKind = "missing_user_principal_name"
	// DefectWrongType sends a boolean as "yes" (isAdmin on v1.0,
	// isRegistered on beta).
	DefectWrongType DefectKind = "wrong_type"
	// DefectBadTimestamp sends lastUpdatedDateTime as "yesterday". The
	// beta report has no timestamp to break: there the methods collection
	// comes as an object, {"email":true}, which the contract rejects as
	// wrong_type (see Reason).
	DefectBadTimestamp DefectKind = "bad_timestamp"
	// DefectDuplicateID is a byte-identical copy of user After's record,
	// served right after it: same id, second occurrence.
	DefectDuplicateID DefectKind = "duplicate_id"
)

// Damage: records broken the way real truncation and serializer bugs
// break a body, not built to be salvaged. Each is the record of user
// After with a fresh id, served in addition to the users like the kinds
// above and byte-identical every time it is served, so a client that
// fetches the page twice sees the same bytes and must take them as what
// Graph serves. They are not reason codes of the data contract: what the
// client makes of them is decided page by page (see each kind).
const (
	// DamageUnclosedString drops the closing quote of the record's
	// userDisplayName, so the string runs on into the next property name
	// and every quote after it on the page pairs up the wrong way: the
	// rest of the page parses differently. The body is not JSON, and no
	// tolerant split recovers the page's structure.
	DamageUnclosedString DefectKind = "unclosed_string"
	// DamageMissingBracket drops the record's closing '}', so the next
	// record (or the array's ']') lands inside it and the brackets of the
	// page no longer balance.
	DamageMissingBracket DefectKind = "missing_bracket"
)

// damageKinds are the kinds that damage a page rather than a record.
func damageKinds() []DefectKind { return []DefectKind{DamageUnclosedString, DamageMissingBracket} }

// defectKinds is every contract kind, in the order the contract checks them.
var defectKinds = []DefectKind{
	DefectInvalidJSON, DefectNullRecord, DefectNotAnObject, DefectMissingID, DefectMalformedID,
	DefectMissingUPN, DefectWrongType, DefectBadTimestamp, DefectDuplicateID,
}

// Defect is one bad record served in addition to a tenant's users: all
// users still appear. It is served right after the record of user After,
// in every listing that holds that user (the whole report, or the one
// $filter shard the user matches), so a client that splits a tenant into
// disjoint shards meets each defect exactly once. Both reports serve it.
type Defect struct {
	// After is a 0-based index into Users(tenant, day), which is in ID
	// order (the listing's order is another: the defect follows its user
	// there); 0 <= After < the day's population, else it is not served.
	// As users join and leave, the user at an index can change from one
	// day to the next.
	After int
	Kind  DefectKind
}

// AllDefects returns one defect of every kind, in the order the data
// contract checks them: the k-th of them after user after+k, so that they
// spread over consecutive users (and, with a $filter, over shards). The
// tenant needs more than after+8 users.
func AllDefects(after int) []Defect {
	out := make([]Defect, len(defectKinds))
	for k, kind := range defectKinds {
		out[k] = Defect{After: after + k, Kind: kind}
	}
	return out
}

// Reason is the reason code credreg's data contract gives a record of
// kind k on the report of endpoint: the kind itself, except that
// DefectBadTimestamp is a wrong_type on the beta report, which has no
// timestamp.
func (k DefectKind) Reason(endpoint schemas.Endpoint) string {
	if k == DefectBadTimestamp {
		for _, rep := range reports {
			if rep.endpoint == endpoint && rep.timeName == "" {
				return string(DefectWrongType)
			}
		}
	}
	return string(k)
}

func checkDefects(t Tenant) error {
	for j, d := range t.Defects {
		if !slices.Contains(defectKinds, d.Kind) && !slices.Contains(damageKinds(), d.Kind) {
			return fmt.Errorf("graphsim: tenant %s: defect %d: unknown kind %q", t.ID, j, d.Kind)
		}
		// Users is the smallest population the tenant ever has.
		if d.After < 0 || d.After >= t.Users {
			return fmt.Errorf("graphsim: tenant %s: defect %d: After %d is not the index of one of its %d users",
				t.ID, j, d.After, t.Users)
		}
	}
	return nil
}

// Salts of the injected records' ids, apart from the users' fields.
const (
	fDefectID1 uint64 = 0xdefec7001 + iota
	fDefectID2
)

// writeDefect appends the record of Tenant.Defects[j], which follows u.
func writeDefect(b *bytes.Buffer, rep *report, t *tenantData, u *User, j int) {
	kind := t.Defects[j].Kind
	switch kind {
	case DefectNullRecord:
		b.WriteString("null")
		return
	case DefectNotAnObject:
		b.WriteString("42")
		return
	case DefectDuplicateID:
		appendJSON(b, rep.record(u))
		return
	}
	var orig bytes.Buffer
	appendJSON(&orig, rep.record(u))
	var m map[string]any
	if err := json.Unmarshal(orig.Bytes(), &m); err != nil {
		panic(fmt.Errorf("graphsim: own record does not decode: %w", err))
	}
	m["id"] = guid(hash3(t.salt, uint64(j), fDefectID1), hash3(t.salt, uint64(j), fDefectID2))
	switch kind {
	case DamageUnclosedString, DamageMissingBracket:
		writeDamage(b, kind, m)
		return
	case DefectInvalidJSON:
		delete(m, rep.methodsName)
	case DefectMissingID:
		delete(m, "id")
	case DefectMalformedID:
		m["id"] = "not a guid"
	case DefectMissingUPN:
		delete(m, "userPrincipalName")
	case DefectWrongType:
		m[rep.flagName] = "yes"
	case DefectBadTimestamp:
		if rep.timeName != "" {
			m[rep.timeName] = "yesterday"
		} else {
			m[rep.methodsName] = map[string]bool{"email": true}
		}
	}
	if kind != DefectInvalidJSON {
		appendJSON(b, m)
		return
	}
	// encoding/json cannot write what is not JSON: splice it in.
	var rec bytes.Buffer
	appendJSON(&rec, m)
	b.Write(rec.Bytes()[:rec.Len()-1])
	b.WriteString(`,"` + rep.methodsName + `":{"email","mobileSMS"}}`)
}

// writeDamage appends record m (encoded as the other defects are,
// properties in name order) broken as kind says.
func writeDamage(b *bytes.Buffer, kind DefectKind, m map[string]any) {
	var rec bytes.Buffer
	appendJSON(&rec, m)
	out := rec.Bytes()
	switch kind {
	case DamageUnclosedString:
		// "userDisplayName":"Ada Brown" loses its closing quote.
		name := []byte(`"userDisplayName":`)
		i := bytes.Index(out, name)
		if i < 0 {
			panic("graphsim: record without userDisplayName")
		}
		start := i + len(name) + 1 // past the opening quote
		end := start + bytes.IndexByte(out[start:], '"')
		out = append(out[:end:end], out[end+1:]...)
	case DamageMissingBracket:
		out = out[:len(out)-1]
	}
	b.Write(out)
}
