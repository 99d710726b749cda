package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

// FuzzDecodeRecord decodes each input as a record of both endpoints. It
// checks that DecodeRecord never panics, that every error is a *RecordError
// with a known code, that a decoded record has an id and a user principal
// name that encoding/json reads the same way, that on valid JSON the result
// (record or reason code, field and user id) is exactly that of
// oracleDecode, the data contract written over encoding/json, and that the
// transformer's path (which trusts odata's validation) agrees with
// DecodeRecord.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"id":"id-value","userPrincipalName":"userPrincipalName","userDisplayName":"userDisplayName-value","authMethods":["email","mobileSMS"],"isRegistered":false,"isEnabled":true,"isCapable":false,"isMfaRegistered":true}`))
	f.Add([]byte(`{"id":"u1","userPrincipalName":"a@b","methodsRegistered":["fido2","fido2"],"lastUpdatedDateTime":"2024-05-06T07:08:09.1234567Z","isAdmin":null}`))
	f.Add([]byte(`{"id" : "d3590ed6", "authMethods": {"email", "mobileSMS"}}`))
	f.Add([]byte(`{"id":"a\u0000","userPrincipalName":"\ud800"}`))
	f.Add([]byte(`null`))
	codes := []string{ReasonInvalidJSON, ReasonNullRecord, ReasonNotObject, ReasonMissingID, ReasonMalformedID,
		ReasonMissingUPN, ReasonWrongType, ReasonBadTimestamp}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, endpoint := range schemas.Endpoints {
			rec, err := DecodeRecord(endpoint, raw)
			if err != nil {
				var re *RecordError
				if !errors.As(err, &re) || !slices.Contains(codes, re.Code) || !errors.Is(err, sentinels[re.Code]) || re.Detail == "" {
					t.Fatalf("%s: error %#v", endpoint, err)
				}
				if re.Code == ReasonInvalidJSON && json.Valid(raw) {
					t.Fatalf("%s: valid JSON rejected as invalid: %v", endpoint, err)
				}
				if re.Code != ReasonInvalidJSON && !json.Valid(raw) {
					t.Fatalf("%s: invalid JSON rejected as %s", endpoint, re.Code)
				}
			} else {
				checkDecoded(t, endpoint, raw, rec)
			}
			if !json.Valid(raw) {
				continue
			}
			checkOracle(t, endpoint, raw, rec, err)
			rec2, err2 := decodeValid(reportFor(endpoint), raw, nil)
			if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) || diffRecord(rec, rec2) != "" {
				t.Fatalf("%s: DecodeRecord %v, transformer path %v", endpoint, err, err2)
			}
		}
	})
}

func checkDecoded(t *testing.T, endpoint schemas.Endpoint, raw []byte, rec Record) {
	t.Helper()
	if rec.ID == "" || rec.UserPrincipalName == "" || len(rec.ID) > maxIDLen || strings.ContainsAny(rec.ID, " \t\r\n") {
		t.Fatalf("%s: decoded record with id %q upn %q", endpoint, rec.ID, rec.UserPrincipalName)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: decoded a record encoding/json cannot read: %v", endpoint, err)
	}
	if m["id"] != rec.ID || m["userPrincipalName"] != rec.UserPrincipalName {
		t.Fatalf("%s: id %q upn %q, encoding/json reads %q %q", endpoint, rec.ID, rec.UserPrincipalName, m["id"], m["userPrincipalName"])
	}
	for i, s := range rec.Methods {
		if slices.Contains(rec.Methods[:i], s) {
			t.Fatalf("%s: method %q repeats", endpoint, s)
		}
	}
	for _, s := range append(append([]string{rec.ID, rec.UserPrincipalName}, rec.Methods...), rec.SystemPreferredMethods...) {
		if !utf8.ValidString(s) {
			t.Fatalf("%s: %q is not valid UTF-8", endpoint, s)
		}
	}
}

// rfc3339 is the grammar parseTimestamp documents: RFC 3339 with a 'T',
// at most seven fraction digits and an explicit offset.
var rfc3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:(\d{2})(\.\d{1,7})?([Zz]|[+-](\d{2}):(\d{2}))$`)

// FuzzParseTimestamp holds parseTimestamp to time.Parse: it accepts exactly
// the strings of its grammar that time.Parse(time.RFC3339Nano) accepts,
// except for the two documented differences (a leap second, read as the
// next second; lower-case 't' and 'z') and offsets of 24 hours or 60
// minutes, which it refuses; and when both accept they name the same
// instant. It never panics, returns UTC, and its error quotes the input.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{
		"2024-05-06T07:08:09.1234567Z", "2024-05-06T07:08:09.1234567+02:00", "2016-12-31T23:59:60Z",
		"2024-05-06t07:08:09z", "2024-05-06T07:08:09+24:00", "2024-02-30T07:08:09Z", "2024-05-06T07:08:09,1Z",
		"2024-05-06T07:08:09.123456789Z", "2024-05-06T07:08:09", "0000-01-01T00:00:00-23:59", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTimestamp(s)
		m := rfc3339.FindStringSubmatch(s)
		// What time.Parse makes of the same instant, spelled its way.
		want, stdErr := time.Time{}, errors.New("not in the grammar")
		if m != nil {
			norm := strings.ToUpper(s)
			leap := m[1] == "60"
			if leap {
				norm = norm[:17] + "59" + norm[19:]
			}
			want, stdErr = time.Parse(time.RFC3339Nano, norm)
			if leap {
				want = want.Add(time.Second)
			}
			if m[4] != "" && (m[4] > "23" || m[5] > "59") {
				stdErr = errors.New("offset out of range")
			}
		}
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("parseTimestamp(%q) = %v, %v; time.Parse of the grammar: %v, %v", s, got, err, want, stdErr)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "is not an RFC 3339 timestamp") {
				t.Fatalf("parseTimestamp(%q): error %q does not say what is wrong", s, err)
			}
			return
		}
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Fatalf("parseTimestamp(%q) = %v, time.Parse says %v", s, got, want)
		}
		if std, err := time.Parse(time.RFC3339Nano, s); err == nil && !std.Equal(got) {
			t.Fatalf("parseTimestamp(%q) = %v, time.Parse(%q) = %v", s, got, s, std)
		}
	})
}

// FuzzSalvageID checks the reading of an id out of a record that is not
// valid JSON. An id it returns passes checkID. On valid JSON it returns the
// string value of the first top-level member spelled "id" (if that is a
// string checkID accepts), as encoding/json reads it; and whatever follows
// that value, cut off or replaced by tail, the id is still read.
func FuzzSalvageID(f *testing.F) {
	seed := readTestdata(f, "seed-example-invalid.json")
	f.Add(seed, []byte(`"authMethods": {"email", "mobileSMS"}}`))
	f.Add([]byte(`{"a":{"id":"inner"},"i\u0064":"escaped","id":"u1","id":"u2"}`), []byte(`,"x":[}`))
	f.Add([]byte(`{"x":"id","id" : 7}`), []byte(``))
	f.Add([]byte(`{"id":"a b"}`), []byte(`]]]`))
	f.Add([]byte(`{"id":"d3590ed6-52b3-4102-aeff-aad2292ab01234","userPrincipalName":"abc@cd.com"}`), []byte("\xff"))
	f.Fuzz(func(t *testing.T, raw, tail []byte) {
		got := salvageID(raw)
		if got != "" {
			if id, err := checkID(append(append([]byte(`"`), jsonEscape(got)...), '"'), &strs{}); err != nil || id != got {
				t.Fatalf("salvageID(%q) = %q, not a decoded JSON string that checkID accepts (%q, %v)", raw, got, id, err)
			}
		}
		if !json.Valid(raw) {
			return
		}
		want, end := firstID(raw)
		if got != want {
			t.Fatalf("salvageID(%q) = %q, want %q", raw, got, want)
		}
		if want == "" {
			return
		}
		broken := append(slices.Clip(raw[:end]), tail...)
		if again := salvageID(broken); again != want {
			t.Fatalf("salvageID(%q) = %q, want %q as in %q", broken, again, want, raw)
		}
	})
}

// firstID reads, with encoding/json, the value of the first top-level member
// of an object whose name is spelled exactly "id", if it is a string checkID
// accepts, and the offset just past that value.
func firstID(raw []byte) (id string, end int) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", 0
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			panic(err)
		}
		literal := tok == "id" && bytes.HasSuffix(raw[:dec.InputOffset()], []byte(`"id"`))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			panic(err)
		}
		if !literal {
			continue
		}
		var s string
		if v[0] != '"' || json.Unmarshal(v, &s) != nil {
			return "", 0
		}
		if _, rerr := checkID(v, &strs{raw: v}); rerr != nil {
			return "", 0
		}
		return s, int(dec.InputOffset())
	}
	return "", 0
}

// jsonEscape is s as the inside of a JSON string token.
func jsonEscape(s string) []byte {
	b, _ := json.Marshal(s)
	return b[1 : len(b)-1]
}

// FuzzTransformPage runs a page body through odata.Split and a Transformer
// as the pipeline does, in batches of two rows. Every record becomes
// exactly one user row or one reject row; a record loads exactly when
// DecodeRecord accepts it and its id is new; batches are well formed;
// raw_json is valid UTF-8 within MaxRawJSON; and no Arrow memory leaks.
func FuzzTransformPage(f *testing.F) {
	f.Add(readTestdata(f, "credentialUserRegistrationDetails-page.json"), false)
	f.Add([]byte(`{"value":[`+string(readTestdata(f, "seed-example-invalid.json"))+`,null,1,{"id":"a","userPrincipalName":"a@b"},{"id":"a","userPrincipalName":"a@b"}]}`), true)
	f.Add([]byte(`{"value":[{"id":"u1","userPrincipalName":"a@b","methodsRegistered":["fido2","hologram"],"userType":"partner",`+
		`"systemPreferredAuthenticationMethods":["push","fido2"],"lastUpdatedDateTime":"2024-05-06T07:08:09Z"},,{"id":"u2"`+"\xff"+`]}`), false)
	f.Fuzz(func(t *testing.T, body []byte, betaEndpoint bool) {
		page, err := odata.Split(body)
		if err != nil {
			return
		}
		endpoint := v1
		if betaEndpoint {
			endpoint = beta
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		tr := New(Options{Endpoint: endpoint, BatchRows: 2, Allocator: mem})
		defer tr.Release()
		got := collected{}
		defer got.release()
		got.add(t, tr.AddPage(1, time.Unix(0, 0), page.Records))
		got.add(t, tr.Finish())

		var wantUsers []string
		var wantRejects []string
		for _, r := range page.Records {
			rec, err := DecodeRecord(endpoint, r.Raw)
			switch {
			case err != nil:
				wantRejects = append(wantRejects, err.(*RecordError).Code)
			case slices.Contains(wantUsers, rec.ID):
				wantRejects = append(wantRejects, ReasonDuplicateID)
			default:
				wantUsers = append(wantUsers, rec.ID)
			}
		}
		st := tr.Stats()
		if st.RecordsIn != int64(len(page.Records)) || st.Users+st.Rejected != st.RecordsIn {
			t.Fatalf("%d records: stats %+v", len(page.Records), st)
		}
		users, rejects := schemas.UserRegistrationDetailsTable.Name, schemas.RejectedRecordsTable.Name
		if ids := got.column(t, users, "user_id"); fmt.Sprint(ids) != fmt.Sprint(wantUsers) && len(ids)+len(wantUsers) > 0 {
			t.Fatalf("loaded %q, want %q", ids, wantUsers)
		}
		if codes := got.column(t, rejects, "reason_code"); fmt.Sprint(codes) != fmt.Sprint(wantRejects) && len(codes)+len(wantRejects) > 0 {
			t.Fatalf("rejected as %q, want %q", codes, wantRejects)
		}
		for _, raw := range got.column(t, rejects, "raw_json") {
			if len(raw) > MaxRawJSON {
				t.Fatalf("raw_json of %d bytes", len(raw))
			}
		}
		// Arrow, Parquet and BigQuery strings must be UTF-8.
		for table, batches := range got {
			for _, b := range batches {
				for i, col := range b.Columns() {
					s, ok := col.(*array.String)
					for j := 0; ok && j < s.Len(); j++ {
						if !utf8.ValidString(s.Value(j)) {
							t.Fatalf("%s.%s: %q is not UTF-8", table, b.ColumnName(i), s.Value(j))
						}
					}
				}
			}
		}
		var methods int64
		for _, n := range got.column(t, users, "auth_method_count") {
			var c int64
			fmt.Sscan(n, &c)
			methods += c
		}
		if m := got.rows(schemas.UserAuthMethodsTable.Name); m != methods || m != st.Methods {
			t.Fatalf("%d method rows, auth_method_count sums to %d, stats say %d", m, methods, st.Methods)
		}
	})
}
