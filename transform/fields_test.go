package transform

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/schemas"
)

// tableRecord writes a record of the endpoint's report holding every
// property schemas.UserFields gives it (but the fallbacks, unless
// fallbacks), each with a value of its kind: a documented value where the
// table lists some.
func tableRecord(t *testing.T, e schemas.Endpoint, fallbacks bool) []byte {
	t.Helper()
	var members []string
	for _, f := range schemas.UserFields() {
		name := f.Name(e)
		if name == "" || f.Fallback != fallbacks && f.Column == "default_mfa_method" {
			continue
		}
		s := "v-" + f.Column
		if f.Values != nil {
			s = f.Values[0]
		}
		var v any
		switch f.Kind {
		case schemas.KindString:
			v = s
		case schemas.KindBool:
			v = true
		case schemas.KindMethodList:
			v = []string{"email", "fido2"}
		case schemas.KindStringList:
			v = []string{s}
		case schemas.KindTimestamp:
			v = "2024-05-06T07:08:09.1234567Z"
		default:
			t.Fatalf("%s: kind %d has no test value", f.Column, f.Kind)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, fmt.Sprintf("%q:%s", name, b))
	}
	return []byte("{" + strings.Join(members, ",") + "}")
}

// TestEveryFieldReachesItsColumn decodes a record of each report holding
// every property the table gives it and builds its row: each column the
// report fills must hold a value, and each it lacks must be NULL. A field
// added to the table and left out of Record, decoded.record or userRow
// fails here.
func TestEveryFieldReachesItsColumn(t *testing.T) {
	ts := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, e := range schemas.Endpoints {
		for _, fallbacks := range []bool{false, true} {
			raw := tableRecord(t, e, fallbacks)
			rec, err := DecodeRecord(e, raw)
			if err != nil {
				t.Fatalf("%s: %v: %s", e, err, raw)
			}
			if len(rec.UnknownFields) > 0 || len(rec.UnknownValues) > 0 {
				t.Errorf("%s: unknown fields %v, values %v in %s", e, rec.UnknownFields, rec.UnknownValues, raw)
			}
			b := array.NewRecordBuilder(memory.NewGoAllocator(), schemas.UserRegistrationDetailsTable.Arrow())
			u := rec.userRow(testKey, e, rec.ID, ts, "r")
			u.Append(b)
			row := b.NewRecordBatch()
			b.Release()
			for _, f := range schemas.UserFields() {
				if !f.Graph() || f.Fallback {
					continue
				}
				idx := row.Schema().FieldIndices(f.Column)
				if len(idx) != 1 {
					t.Fatalf("no column %s", f.Column)
				}
				col := row.Column(idx[0])
				has := f.Name(e) != ""
				if f.Column == "default_mfa_method" && e == schemas.UserRegistrationDetails {
					has = true // by the preferred method or its fallback
				}
				switch {
				case has && col.IsNull(0):
					t.Errorf("%s (fallbacks %v): %s is NULL, the record holds %s", e, fallbacks, f.Column, f.Name(e))
				case !has && col.IsValid(0):
					t.Errorf("%s: %s holds %v, the report has no such property", e, f.Column, col.ValueStr(0))
				}
			}
			if c := row.Column(row.Schema().FieldIndices("auth_method_count")[0]).(*array.Int64); c.Value(0) != 2 {
				t.Errorf("%s: auth_method_count %d, want 2", e, c.Value(0))
			}
			row.Release()
		}
	}
}
