package transform

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

var (
	testKey      = schemas.Key{Date: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Tenant: "tenant-1"}
	testReceived = time.Date(2026, 11, 27, 3, 4, 5, 678901000, time.FixedZone("CET", 3600))
)

// split makes a page body of the records and splits it, as the extractor does.
func split(t testing.TB, records ...string) []odata.Record {
	t.Helper()
	p, err := odata.Split([]byte(`{"value":[` + strings.Join(records, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return p.Records
}

// collected gathers the batches of each table by name, checking them as it goes.
type collected map[string][]arrow.RecordBatch

func (c collected) add(t testing.TB, batches []Batch) {
	t.Helper()
	for _, b := range batches {
		if !b.Record.Schema().Equal(b.Table.Arrow()) {
			t.Fatalf("batch of %s has schema %v", b.Table.Name, b.Record.Schema())
		}
		for i, col := range b.Record.Columns() {
			if int64(col.Len()) != b.Record.NumRows() {
				t.Fatalf("batch of %s: column %d has %d rows of %d", b.Table.Name, i, col.Len(), b.Record.NumRows())
			}
		}
		c[b.Table.Name] = append(c[b.Table.Name], b.Record)
	}
}

func (c collected) rows(table string) int64 {
	var n int64
	for _, r := range c[table] {
		n += r.NumRows()
	}
	return n
}

func (c collected) release() {
	for _, rs := range c {
		for _, r := range rs {
			r.Release()
		}
	}
}

// column returns the values of a column across a table's batches; nulls
// are "<null>".
func (c collected) column(t testing.TB, table, name string) []string {
	t.Helper()
	var out []string
	for _, r := range c[table] {
		idx := r.Schema().FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("%s has no column %s", table, name)
		}
		col := r.Column(idx[0])
		for i := range col.Len() {
			if col.IsNull(i) {
				out = append(out, "<null>")
				continue
			}
			switch a := col.(type) {
			case *array.String:
				out = append(out, a.Value(i))
			case *array.Boolean:
				out = append(out, fmt.Sprint(a.Value(i)))
			case *array.Int64:
				out = append(out, fmt.Sprint(a.Value(i)))
			case *array.Timestamp:
				out = append(out, a.Value(i).ToTime(arrow.Microsecond).UTC().Format(time.RFC3339Nano))
			case *array.Date32:
				out = append(out, a.Value(i).FormattedString())
			case *array.List:
				out = append(out, a.ValueStr(i))
			default:
				t.Fatalf("column %s: type %T", name, col)
			}
		}
	}
	return out
}

func checkedAllocator(t *testing.T) memory.Allocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

func TestTransformerEndToEnd(t *testing.T) {
	seed := string(bytes.TrimSpace(readTestdata(t, "seed-example-invalid.json")))
	tr := New(Options{Key: testKey, Endpoint: beta, RunID: "run-1", Allocator: checkedAllocator(t)})
	defer tr.Release()
	got := collected{}
	defer got.release()

	page1, err := odata.Split(readTestdata(t, "credentialUserRegistrationDetails-page.json"))
	if err != nil {
		t.Fatal(err)
	}
	got.add(t, tr.AddPage(1, testReceived, page1.Records))
	got.add(t, tr.AddPage(2, testReceived, split(t,
		`{"id":"u2","userPrincipalName":"u2@contoso.com","authMethods":["fido","hologram","fido"],"isRegistered":true,"newField":1}`,
		seed,
		`{"id":"id-value","userPrincipalName":"again@contoso.com","authMethods":[]}`,
		`null`,
		`{"id":"u3","userPrincipalName":"u3@contoso.com","authMethods":{"email":true}}`,
	)))
	got.add(t, tr.Finish())

	st := tr.Stats()
	if st.Pages != 2 || st.RecordsIn != 6 || st.Users != 2 || st.Methods != 4 || st.Rejected != 4 {
		t.Errorf("stats %+v", st)
	}
	if st.RecordsIn != st.Users+st.Rejected {
		t.Errorf("RecordsIn %d != Users %d + Rejected %d", st.RecordsIn, st.Users, st.Rejected)
	}
	wantReasons := map[string]int64{ReasonInvalidJSON: 1, ReasonDuplicateID: 1, ReasonNullRecord: 1, ReasonWrongType: 1}
	if fmt.Sprint(st.RejectsByReason) != fmt.Sprint(wantReasons) {
		t.Errorf("rejects by reason %v, want %v", st.RejectsByReason, wantReasons)
	}
	if fmt.Sprint(st.UnknownMethods) != "map[hologram:1]" || fmt.Sprint(st.UnknownFields) != "map[newField:1]" {
		t.Errorf("unknown methods %v, fields %v", st.UnknownMethods, st.UnknownFields)
	}

	users, methods, rejects := schemas.UserRegistrationDetailsTable.Name, schemas.UserAuthMethodsTable.Name, schemas.RejectedRecordsTable.Name
	for _, tc := range []struct {
		table, column string
		want          []string
	}{
		{users, "snapshot_date", []string{"2026-11-27", "2026-11-27"}},
		{users, "tenant_id", []string{"tenant-1", "tenant-1"}},
		{users, "user_id", []string{"id-value", "u2"}},
		{users, "user_display_name", []string{"userDisplayName-value", "<null>"}},
		{users, "source", []string{string(beta), string(beta)}},
		{users, "is_registered", []string{"false", "true"}},
		{users, "is_mfa_registered", []string{"true", "<null>"}},
		{users, "is_admin", []string{"<null>", "<null>"}},
		{users, "system_preferred_methods", []string{"<null>", "<null>"}},
		{users, "auth_method_count", []string{"2", "2"}},
		{users, "extracted_at", []string{"2026-11-27T02:04:05.678901Z", "2026-11-27T02:04:05.678901Z"}},
		{users, "run_id", []string{"run-1", "run-1"}},
		{methods, "user_id", []string{"id-value", "id-value", "u2", "u2"}},
		{methods, "auth_method", []string{"email", "mobileSMS", "fido", "hologram"}},
		{methods, "method_family", []string{"email", "phone", "passkey", "unknown"}},
		{methods, "usable_for_mfa", []string{"false", "true", "true", "false"}},
		{methods, "usable_for_sspr", []string{"true", "true", "false", "false"}},
		{methods, "is_known_value", []string{"true", "true", "true", "false"}},
		{rejects, "page_seq", []string{"2", "2", "2", "2"}},
		{rejects, "record_index", []string{"1", "2", "3", "4"}},
		{rejects, "reason_code", []string{ReasonInvalidJSON, ReasonDuplicateID, ReasonNullRecord, ReasonWrongType}},
		{rejects, "user_id", []string{"d3590ed6-52b3-4102-aeff-aad2292ab01234", "id-value", "<null>", "u3"}},
		{rejects, "raw_json", []string{seed, `{"id":"id-value","userPrincipalName":"again@contoso.com","authMethods":[]}`, "null",
			`{"id":"u3","userPrincipalName":"u3@contoso.com","authMethods":{"email":true}}`}},
	} {
		if col := got.column(t, tc.table, tc.column); fmt.Sprint(col) != fmt.Sprint(tc.want) {
			t.Errorf("%s.%s = %q, want %q", tc.table, tc.column, col, tc.want)
		}
	}
	details := got.column(t, rejects, "reason_detail")
	for i, want := range []string{"invalid character ','", `"id-value" already loaded`, "null", "field authMethods: want array of strings, got object"} {
		if !strings.Contains(details[i], want) {
			t.Errorf("reason_detail[%d] = %q, want it to say %q", i, details[i], want)
		}
	}
}

func TestTransformerV1Columns(t *testing.T) {
	tr := New(Options{Key: testKey, RunID: "r", Allocator: checkedAllocator(t)})
	defer tr.Release()
	got := collected{}
	defer got.release()
	got.add(t, tr.AddPage(1, testReceived, split(t,
		`{"id":"a","userPrincipalName":"a@b","userType":"guest","isAdmin":true,"isSsprCapable":false,
		 "methodsRegistered":["passKeyDeviceBound","email"],"systemPreferredAuthenticationMethods":["fido2","sms"],
		 "userPreferredMethodForSecondaryAuthentication":"sms","lastUpdatedDateTime":"2024-05-06T07:08:09.1234567Z"}`,
		`{"id":"b","userPrincipalName":"b@b","methodsRegistered":null,"systemPreferredAuthenticationMethods":[],
		 "userPreferredMethodForSecondaryAuthentication":""}`,
	)))
	got.add(t, tr.Finish())
	users := schemas.UserRegistrationDetailsTable.Name
	for _, tc := range []struct {
		column string
		want   []string
	}{
		{"source", []string{string(v1), string(v1)}},
		{"user_type", []string{"guest", "<null>"}},
		{"is_admin", []string{"true", "<null>"}},
		{"is_sspr_capable", []string{"false", "<null>"}},
		{"is_registered", []string{"<null>", "<null>"}},
		{"default_mfa_method", []string{"sms", "<null>"}},
		{"system_preferred_methods", []string{`["fido2","sms"]`, "[]"}},
		{"last_updated_at", []string{"2024-05-06T07:08:09.123456Z", "<null>"}},
		{"auth_method_count", []string{"2", "0"}},
	} {
		if col := got.column(t, users, tc.column); fmt.Sprint(col) != fmt.Sprint(tc.want) {
			t.Errorf("%s = %q, want %q", tc.column, col, tc.want)
		}
	}
	if n := got.rows(schemas.UserAuthMethodsTable.Name); n != 2 {
		t.Errorf("%d method rows, want 2", n)
	}
}

func TestTransformerBatchSplitting(t *testing.T) {
	tr := New(Options{Key: testKey, BatchRows: 3, Allocator: checkedAllocator(t)})
	defer tr.Release()
	got := collected{}
	defer got.release()

	var batches []Batch
	for page := range 3 {
		var recs []string
		for i := range 4 {
			recs = append(recs, fmt.Sprintf(`{"id":"p%d-%d","userPrincipalName":"x@y","methodsRegistered":["email","fido2"]}`, page, i))
		}
		recs = append(recs, `{"id":"p0-0","userPrincipalName":"dup@y"}`) // a duplicate each page
		b := tr.AddPage(int64(page+1), testReceived, split(t, recs...))
		for _, x := range b {
			if x.Record.NumRows() != 3 {
				t.Errorf("AddPage returned a batch of %s with %d rows, want 3", x.Table.Name, x.Record.NumRows())
			}
		}
		batches = append(batches, b...)
	}
	final := tr.Finish()
	for _, x := range final {
		if n := x.Record.NumRows(); n < 1 || n > 3 {
			t.Errorf("Finish returned a batch of %s with %d rows", x.Table.Name, n)
		}
	}
	if again := tr.Finish(); len(again) != 0 {
		t.Errorf("a second Finish returned %d batches", len(again))
	}
	got.add(t, append(batches, final...))
	for table, want := range map[string]int64{
		schemas.UserRegistrationDetailsTable.Name: 12,
		schemas.UserAuthMethodsTable.Name:         24,
		schemas.RejectedRecordsTable.Name:         3,
	} {
		if n := got.rows(table); n != want {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
		if n, want := int64(len(got[table])), (want+2)/3; n != want {
			t.Errorf("%s: %d batches, want %d", table, n, want)
		}
	}
	st := tr.Stats()
	if st.RecordsIn != 15 || st.Users != 12 || st.Rejected != 3 || st.RejectsByReason[ReasonDuplicateID] != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestTransformerStatsIsACopy(t *testing.T) {
	tr := New(Options{})
	defer tr.Release()
	for _, b := range tr.AddPage(1, testReceived, split(t, `{"id":"a","userPrincipalName":"a@b","methodsRegistered":["zz"]}`, `1`)) {
		b.Record.Release()
	}
	st := tr.Stats()
	st.RejectsByReason[ReasonNotObject] = 100
	st.UnknownMethods["zz"] = 100
	if again := tr.Stats(); again.RejectsByReason[ReasonNotObject] != 1 || again.UnknownMethods["zz"] != 1 {
		t.Errorf("Stats shares its maps: %+v", again)
	}
	for _, b := range tr.Finish() {
		b.Record.Release()
	}
}

func TestRejectRawJSON(t *testing.T) {
	big := `{"id":"u1","userPrincipalName":"a@b","isAdmin":"` + strings.Repeat("é", MaxRawJSON/2) + `"}`
	tests := []struct {
		name, raw string
		wantRaw   func(string) bool
		note      string
	}{
		{"as received", `{"id": 1}`, func(s string) bool { return s == `{"id": 1}` }, ""},
		{"invalid UTF-8 replaced", "{\"id\":\"u1\",\"userPrincipalName\":\"a\xffb\",\"isAdmin\":0}",
			func(s string) bool { return s == "{\"id\":\"u1\",\"userPrincipalName\":\"a\uFFFDb\",\"isAdmin\":0}" }, "invalid UTF-8 replaced"},
		{"cut at 1 MiB on a rune boundary", big, func(s string) bool {
			return len(s) <= MaxRawJSON && len(s) > MaxRawJSON-4 && strings.HasPrefix(big, s)
		}, "cut to the first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New(Options{BatchRows: 1, Allocator: checkedAllocator(t)})
			defer tr.Release()
			got := collected{}
			defer got.release()
			got.add(t, tr.AddPage(1, testReceived, split(t, tt.raw)))
			table := schemas.RejectedRecordsTable.Name
			raw, detail := got.column(t, table, "raw_json"), got.column(t, table, "reason_detail")
			if len(raw) != 1 || !tt.wantRaw(raw[0]) {
				t.Fatalf("raw_json %.80q", raw)
			}
			if !strings.Contains(detail[0], tt.note) || (tt.note == "" && strings.Contains(detail[0], "raw_json")) {
				t.Errorf("reason_detail %q, want a note %q", detail[0], tt.note)
			}
		})
	}
}

func TestTransformerHandMadeRecords(t *testing.T) {
	// Records that did not come from odata.Split: the Err the caller set
	// wins, and bytes cut short are rejected, not a crash, even without Err.
	tr := New(Options{Allocator: checkedAllocator(t)})
	defer tr.Release()
	got := collected{}
	defer got.release()
	got.add(t, tr.AddPage(1, testReceived, []odata.Record{
		{Index: 0, Raw: []byte(`{"id":"u1","userPrincipalName":"a@b"}`), Err: fmt.Errorf("cut off")},
		{Index: 1, Raw: []byte(`{"id":"u2","userPrincipalName":"a@b",`)},
		{Index: 2, Raw: nil},
	}))
	got.add(t, tr.Finish())
	if st := tr.Stats(); st.Rejected != 3 || st.RejectsByReason[ReasonInvalidJSON] != 3 {
		t.Errorf("stats %+v", st)
	}
	if ids := got.column(t, schemas.RejectedRecordsTable.Name, "user_id"); fmt.Sprint(ids) != "[u1 u2 <null>]" {
		t.Errorf("user ids %q", ids)
	}
}

// perRowReference builds the batches of users and methods that a
// Transformer of opts makes of pages (Finish after each group), the way it
// did before ConstantColumns: every column of every row appended with
// Append, a batch cut every BatchRows rows of a table and at Finish.
func perRowReference(t *testing.T, opts Options, groups [][][]byte, receivedAt time.Time) map[string][]arrow.RecordBatch {
	t.Helper()
	out := map[string][]arrow.RecordBatch{}
	builders := map[*schemas.Table]*array.RecordBuilder{}
	rows := map[*schemas.Table]int{}
	cut := func(tab *schemas.Table) {
		out[tab.Name] = append(out[tab.Name], builders[tab].NewRecordBatch())
		rows[tab] = 0
	}
	for _, tab := range []*schemas.Table{schemas.UserRegistrationDetailsTable, schemas.UserAuthMethodsTable} {
		builders[tab] = array.NewRecordBuilder(memory.NewGoAllocator(), tab.Arrow())
		defer builders[tab].Release()
	}
	added := func(tab *schemas.Table) {
		if rows[tab]++; rows[tab] == opts.BatchRows {
			cut(tab)
		}
	}
	seen := map[string]bool{}
	for _, group := range groups {
		for _, raw := range group {
			rec, err := DecodeRecord(opts.Endpoint, raw)
			if err != nil || seen[rec.ID] {
				continue
			}
			seen[rec.ID] = true
			u := rec.userRow(opts.Key, opts.Endpoint, rec.ID, receivedAt.UTC(), opts.RunID)
			u.Append(builders[schemas.UserRegistrationDetailsTable])
			added(schemas.UserRegistrationDetailsTable)
			for _, value := range rec.Methods {
				m, known := schemas.LookupMethod(value)
				row := schemas.MethodRow{Key: opts.Key, UserID: rec.ID, UserPrincipalName: rec.UserPrincipalName,
					Source: opts.Endpoint, AuthMethod: value, MethodFamily: m.Family, UsableForMFA: m.UsableForMFA,
					UsableForSSPR: m.UsableForSSPR, IsKnownValue: known, RunID: opts.RunID}
				row.Append(builders[schemas.UserAuthMethodsTable])
				added(schemas.UserAuthMethodsTable)
			}
		}
		for tab, n := range rows {
			if n > 0 {
				cut(tab)
			}
		}
	}
	return out
}

// The users' and methods' batches, whose constant columns are filled at
// the cut, equal those of the per-row path, batch for batch, whatever the
// batch size (1, 2, odd, larger than the slice), when pages end mid-batch,
// with rejects among the records, after a Finish and more pages, and for 0
// rows.
func TestTransformerBatchesMatchPerRowAppend(t *testing.T) {
	p, err := odata.Split(v1Page(41))
	if err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	for i, r := range p.Records {
		raws = append(raws, r.Raw)
		if i%9 == 4 {
			raws = append(raws, []byte(`null`), p.Records[0].Raw) // a reject, a duplicate
		}
	}
	pages := func(from, to, size int) [][]byte { // raws[from:to] in pages of size
		var out [][]byte
		for i := from; i < to; i += size {
			out = append(out, bytes.Join([][]byte{[]byte(`{"value":[`), bytes.Join(raws[i:min(i+size, to)], []byte(",")), []byte(`]}`)}, nil))
		}
		return out
	}
	for _, c := range []struct {
		name   string
		opts   Options
		groups [][][]byte // pages, a Finish after each group
	}{
		{"batch of 1", Options{Key: testKey, RunID: "run-1", BatchRows: 1}, [][][]byte{pages(0, len(raws), 5)}},
		{"batch of 2, pages of 3", Options{Key: testKey, RunID: "r", BatchRows: 2}, [][][]byte{pages(0, len(raws), 3)}},
		{"batch of 7, Finish twice", Options{Key: testKey, RunID: "run-2", BatchRows: 7},
			[][][]byte{pages(0, 20, 6), pages(20, len(raws), 11)}},
		{"default batch, no tenant or run", Options{Key: schemas.Key{Date: testKey.Date}}, [][][]byte{pages(0, len(raws), 16)}},
		{"no rows", Options{Key: testKey, RunID: "run-3", BatchRows: 4}, [][][]byte{pages(0, 0, 1)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := c.opts
			opts.Allocator = checkedAllocator(t)
			opts.Endpoint = v1
			tr := New(opts)
			defer tr.Release()
			got := collected{}
			defer got.release()
			seq := int64(0)
			for _, group := range c.groups {
				for _, page := range group {
					seq++
					pg, err := odata.Split(page)
					if err != nil {
						t.Fatal(err)
					}
					got.add(t, tr.AddPage(seq, testReceived, pg.Records))
				}
				got.add(t, tr.Finish())
			}
			ref := opts
			if ref.BatchRows == 0 {
				ref.BatchRows = DefaultBatchRows
			}
			want := perRowReference(t, ref, recordsOf(t, c.groups), testReceived)
			defer func() {
				for _, rs := range want {
					for _, r := range rs {
						r.Release()
					}
				}
			}()
			for _, tab := range []*schemas.Table{schemas.UserRegistrationDetailsTable, schemas.UserAuthMethodsTable} {
				g, w := got[tab.Name], want[tab.Name]
				if len(g) != len(w) {
					t.Fatalf("%s: %d batches, want %d", tab.Name, len(g), len(w))
				}
				for i := range w {
					if !array.RecordEqual(g[i], w[i]) {
						t.Fatalf("%s batch %d of %d rows differs from the per-row path (%d rows)", tab.Name, i, g[i].NumRows(), w[i].NumRows())
					}
				}
			}
		})
	}
}

// recordsOf is the records of each group of pages, for perRowReference.
func recordsOf(t *testing.T, groups [][][]byte) [][][]byte {
	t.Helper()
	out := make([][][]byte, len(groups))
	for i, group := range groups {
		for _, page := range group {
			pg, err := odata.Split(page)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range pg.Records {
				out[i] = append(out[i], r.Raw)
			}
		}
	}
	return out
}
