package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/credreg/credreg/schemas"
)

// oracleDecode is the data contract of doc.go written the slow, obvious way
// over encoding/json, for valid JSON only: the fuzz targets hold
// DecodeRecord to it. It shares with the decoder only the field names
// (report), the enum lists (knownValues) and parseTimestamp, which
// FuzzParseTimestamp holds to time.Parse.
func oracleDecode(rep *report, raw []byte) (rec Record, code, prop string) {
	switch bytes.TrimLeft(raw, " \t\r\n")[0] {
	case 'n':
		return Record{}, ReasonNullRecord, ""
	case '{':
	default:
		return Record{}, ReasonNotObject, ""
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		panic(err)
	}
	values := map[field]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			panic(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			panic(err)
		}
		name := tok.(string)
		if f := slices.Index(rep.names[:], name); name != "" && f >= 0 {
			values[field(f)] = v
		} else if !strings.Contains(name, "@") && !slices.Contains(rec.UnknownFields, name) {
			rec.UnknownFields = append(rec.UnknownFields, name)
		}
	}

	present := func(f field) bool { v, ok := values[f]; return ok && string(v) != "null" }
	str := func(f field) string {
		var s string
		if err := json.Unmarshal(values[f], &s); err != nil {
			panic(err)
		}
		return s
	}
	isString := func(f field) bool { return values[f][0] == '"' }

	switch {
	case !present(fID):
		return Record{}, ReasonMissingID, "id"
	case !isString(fID):
		return Record{}, ReasonMalformedID, "id"
	case str(fID) == "":
		return Record{}, ReasonMissingID, "id"
	case len(str(fID)) > 256 || strings.ContainsFunc(str(fID), func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return Record{}, ReasonMalformedID, "id"
	}
	rec.ID = str(fID)
	switch {
	case !present(fUPN) || (isString(fUPN) && str(fUPN) == ""):
		return Record{ID: rec.ID}, ReasonMissingUPN, rep.names[fUPN]
	case !isString(fUPN):
		return Record{ID: rec.ID}, ReasonWrongType, rep.names[fUPN]
	}
	rec.UserPrincipalName = str(fUPN)

	strs := map[field]*string{}
	bools := map[field]*bool{}
	lists := map[field][]string{}
	for f := fDisplayName; f < numFields; f++ {
		if rep.names[f] == "" || !present(f) {
			continue
		}
		v := values[f]
		switch f {
		case fMethods, fSystemPreferredMethods:
			var elems []json.RawMessage
			if json.Unmarshal(v, &elems) != nil {
				return Record{ID: rec.ID}, ReasonWrongType, rep.names[f]
			}
			list := []string{}
			for _, e := range elems {
				var s string
				if e[0] != '"' || json.Unmarshal(e, &s) != nil {
					return Record{ID: rec.ID}, ReasonWrongType, rep.names[f]
				}
				if f == fSystemPreferredMethods || !slices.Contains(list, s) {
					list = append(list, s)
				}
			}
			lists[f] = list
		case fIsAdmin, fIsRegistered, fIsEnabled, fIsCapable, fIsMfaRegistered, fIsMfaCapable, fIsSsprRegistered,
			fIsSsprEnabled, fIsSsprCapable, fIsPasswordlessCapable, fIsSystemPreferred:
			var b bool
			if json.Unmarshal(v, &b) != nil {
				return Record{ID: rec.ID}, ReasonWrongType, rep.names[f]
			}
			bools[f] = &b
		default: // strings, and the timestamp
			if !isString(f) {
				return Record{ID: rec.ID}, ReasonWrongType, rep.names[f]
			}
			s := str(f)
			strs[f] = &s
			if f == fLastUpdated && s != "" {
				ts, err := parseTimestamp(s)
				if err != nil {
					return Record{ID: rec.ID}, ReasonBadTimestamp, rep.names[f]
				}
				rec.LastUpdatedAt = &ts
			}
		}
	}
	nonEmpty := func(p *string) *string {
		if p == nil || *p == "" {
			return nil
		}
		return p
	}
	rec.UserDisplayName, rec.UserType = strs[fDisplayName], strs[fUserType]
	rec.DefaultMfaMethod = nonEmpty(strs[fPreferredSecondary])
	if rec.DefaultMfaMethod == nil {
		rec.DefaultMfaMethod = nonEmpty(strs[fDefaultMfa])
	}
	rec.IsAdmin, rec.IsRegistered, rec.IsEnabled, rec.IsCapable = bools[fIsAdmin], bools[fIsRegistered], bools[fIsEnabled], bools[fIsCapable]
	rec.IsMfaRegistered, rec.IsMfaCapable, rec.IsSsprRegistered = bools[fIsMfaRegistered], bools[fIsMfaCapable], bools[fIsSsprRegistered]
	rec.IsSsprEnabled, rec.IsSsprCapable, rec.IsPasswordlessCapable = bools[fIsSsprEnabled], bools[fIsSsprCapable], bools[fIsPasswordlessCapable]
	rec.IsSystemPreferredAuthEnabled = bools[fIsSystemPreferred]
	rec.Methods, rec.SystemPreferredMethods = lists[fMethods], lists[fSystemPreferredMethods]

	for _, f := range []field{fUserType, fPreferredSecondary, fDefaultMfa, fSystemPreferredMethods} {
		vals := lists[f]
		if p := strs[f]; p != nil {
			vals = []string{*p}
		}
		for _, v := range vals {
			u := UnknownValue{Field: rep.names[f], Value: v}
			if v != "" && !slices.Contains(knownValues[f], v) && !slices.Contains(rec.UnknownValues, u) {
				rec.UnknownValues = append(rec.UnknownValues, u)
			}
		}
	}
	return rec, "", ""
}

// checkOracle holds DecodeRecord's result on valid JSON to oracleDecode's.
func checkOracle(t *testing.T, endpoint schemas.Endpoint, raw []byte, rec Record, err error) {
	t.Helper()
	want, code, field := oracleDecode(reportFor(endpoint), raw)
	var re *RecordError
	if err != nil && !errors.As(err, &re) {
		t.Fatalf("%s: error %T %v", endpoint, err, err)
	}
	switch {
	case code == "" && err != nil:
		t.Fatalf("%s: rejected as %v; the contract accepts it", endpoint, err)
	case code != "" && err == nil:
		t.Fatalf("%s: accepted; the contract rejects it as %s (field %q)", endpoint, code, field)
	case code != "":
		if re.Code != code || re.Field != field || re.UserID != want.ID {
			t.Fatalf("%s: rejected as %s field %q user %q (%v); the contract says %s field %q user %q",
				endpoint, re.Code, re.Field, re.UserID, err, code, field, want.ID)
		}
		return
	}
	if d := diffRecord(rec, want); d != "" {
		t.Fatalf("%s: %s", endpoint, d)
	}
	if fmt.Sprint(rec.UnknownValues) != fmt.Sprint(want.UnknownValues) {
		t.Fatalf("%s: unknown values %v, want %v", endpoint, rec.UnknownValues, want.UnknownValues)
	}
	if rec.LastUpdatedAt != nil && rec.LastUpdatedAt.Location() != time.UTC {
		t.Fatalf("%s: lastUpdatedDateTime in %v, want UTC", endpoint, rec.LastUpdatedAt.Location())
	}
}
