package schemas

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func ptr[T any](v T) *T { return &v }

// Each appender must fill every column of its table exactly once; a column
// added to a table and forgotten in its appender leaves the record ragged.
func TestAppendersMatchSchemas(t *testing.T) {
	key := Key{Date: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Tenant: "t1"}
	ts := time.Date(2026, 11, 26, 3, 14, 15, 123456000, time.UTC)
	cases := []struct {
		table  *Table
		append func(b *array.RecordBuilder)
	}{
		{UserRegistrationDetailsTable, func(b *array.RecordBuilder) {
			full := UserRow{Key: key, UserID: "u1", UserPrincipalName: "a@b", UserDisplayName: ptr("A"),
				Source: UserRegistrationDetails, UserType: ptr("member"), IsAdmin: ptr(true),
				IsMfaRegistered: ptr(true), DefaultMfaMethod: ptr("push"),
				SystemPreferredMethods: []string{"push", "sms"}, LastUpdatedAt: &ts,
				AuthMethodCount: 2, ExtractedAt: ts, RunID: "r"}
			full.Append(b)
			bare := UserRow{Key: key, UserID: "u2", UserPrincipalName: "c@d", Source: CredentialUserRegistrationDetails, ExtractedAt: ts, RunID: "r"}
			bare.Append(b)
		}},
		{UserAuthMethodsTable, func(b *array.RecordBuilder) {
			r := MethodRow{Key: key, UserID: "u1", UserPrincipalName: "a@b", Source: UserRegistrationDetails,
				AuthMethod: "email", MethodFamily: FamilyEmail, UsableForSSPR: true, IsKnownValue: true, RunID: "r"}
			r.Append(b)
			r.Append(b)
		}},
		{RejectedRecordsTable, func(b *array.RecordBuilder) {
			r := RejectRow{Key: key, Source: UserRegistrationDetails, PageSeq: 1, RecordIndex: 3,
				ReasonCode: "invalid_json", ReasonDetail: "x", RawJSON: "{", RunID: "r"}
			r.Append(b)
			r.UserID = ptr("u9")
			r.Append(b)
		}},
		{RegistrationDailySummaryTable, func(b *array.RecordBuilder) {
			v1 := SummaryRow{Key: key, Source: UserRegistrationDetails, Users: 3, Members: ptr(int64(2)), Guests: ptr(int64(1)),
				Flags:  []*int64{ptr(int64(2)), ptr(int64(1)), ptr(int64(1)), ptr(int64(3)), ptr(int64(1)), ptr(int64(0))},
				Admins: ptr(int64(1)), AdminsWithoutMFA: ptr(int64(0)), UsersWithoutMethods: 1, MethodRows: 4,
				Families: []int64{1, 2}, RunID: "r"}
			v1.Append(b)
			zero := ptr(int64(0))
			beta := SummaryRow{Key: key, Source: CredentialUserRegistrationDetails, RunID: "r",
				Flags: []*int64{zero, nil, zero, zero, zero, nil}}
			beta.Append(b)
		}},
		{RegistrationChangesTable, func(b *array.RecordBuilder) {
			fam := FamilyPasskey
			added := ChangeRow{Key: key, PreviousDate: arrow.Date32FromTime(key.Date.AddDate(0, 0, -1)), UserID: "u1",
				UserPrincipalName: "a@b", Change: ChangeMethodAdded, AuthMethod: ptr("fido2"), MethodFamily: &fam, RunID: "r"}
			added.Append(b)
			gone := ChangeRow{Key: key, PreviousDate: added.PreviousDate, UserID: "u2", UserPrincipalName: "c@d",
				Change: ChangeDisappeared, RunID: "r"}
			gone.Append(b)
		}},
	}
	covered := map[*Table]bool{}
	for _, c := range cases {
		covered[c.table] = true
	}
	for _, tab := range Tables {
		if !covered[tab] {
			t.Errorf("table %s has no appender case here", tab.Name)
		}
	}
	for _, c := range cases {
		t.Run(c.table.Name, func(t *testing.T) {
			b := array.NewRecordBuilder(memory.NewGoAllocator(), c.table.Arrow())
			defer b.Release()
			c.append(b)
			for i, f := range b.Fields() {
				if f.Len() != 2 {
					t.Fatalf("column %s has %d values, want 2", c.table.Columns[i].Name, f.Len())
				}
			}
			rec := b.NewRecordBatch()
			defer rec.Release()
			if !rec.Schema().Equal(c.table.Arrow()) {
				t.Fatalf("schema mismatch")
			}
			for i, col := range c.table.Columns {
				if !col.Nullable && rec.Column(i).NullN() != 0 {
					t.Errorf("non-nullable column %s holds NULLs", col.Name)
				}
			}
		})
	}
}

func TestUserRowValues(t *testing.T) {
	key := Key{Date: time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC), Tenant: "t1"}
	ts := time.Date(2026, 11, 26, 3, 14, 15, 123456000, time.UTC)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), UserRegistrationDetailsTable.Arrow())
	defer b.Release()
	(&UserRow{Key: key, UserID: "u1", UserPrincipalName: "a@b", Source: UserRegistrationDetails,
		SystemPreferredMethods: []string{}, LastUpdatedAt: &ts, ExtractedAt: ts}).Append(b)
	rec := b.NewRecordBatch()
	defer rec.Release()
	if got := rec.Column(0).(*array.Date32).Value(0).ToTime(); !got.Equal(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("snapshot_date = %v", got)
	}
	if got := rec.Column(20).(*array.Timestamp).Value(0); got != arrow.Timestamp(ts.UnixMicro()) {
		t.Errorf("last_updated_at = %v", got)
	}
	l := rec.Column(19).(*array.List)
	if l.IsNull(0) {
		t.Errorf("empty list became NULL")
	}
}

func TestBigQuerySchema(t *testing.T) {
	for _, tab := range Tables {
		fields := tab.BigQuery()
		if len(fields) != len(tab.Columns) {
			t.Fatalf("%s: %d fields for %d columns", tab.Name, len(fields), len(tab.Columns))
		}
		if fields[0].Name != ColSnapshotDate || fields[0].Type != "DATE" || fields[0].Mode != "REQUIRED" {
			t.Errorf("%s: first field %+v", tab.Name, fields[0])
		}
		if _, err := json.Marshal(fields); err != nil {
			t.Fatal(err)
		}
	}
	f := UserRegistrationDetailsTable.BigQuery()[19]
	if f.Name != "system_preferred_methods" || f.Mode != "REPEATED" || f.Type != "STRING" {
		t.Errorf("list column: %+v", f)
	}
}

func TestLookupMethod(t *testing.T) {
	cases := []struct {
		value         string
		family        MethodFamily
		known, mfa, s bool
	}{
		{"mobileSMS", FamilyPhone, true, true, true},
		{"email", FamilyEmail, true, false, true},
		{"fido", FamilyPasskey, true, true, false},
		{"fido2", FamilyPasskey, true, true, false},
		{"securityQuestion", FamilySecurityQuestion, true, false, true},
		{"microsoftAuthenticatorPush", FamilyAuthenticatorApp, true, true, true},
		{"qrCodePin", FamilyUnknown, false, false, false},
		{"Email", FamilyUnknown, false, false, false},
	}
	for _, c := range cases {
		m, known := LookupMethod(c.value)
		if known != c.known || m.Family != c.family || m.UsableForMFA != c.mfa || m.UsableForSSPR != c.s || m.Value != c.value {
			t.Errorf("LookupMethod(%q) = %+v, %v", c.value, m, known)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, e := range Endpoints {
		got, err := ParseEndpoint(string(e))
		if err != nil || got != e || e.Path() == "" {
			t.Errorf("%s: %v %v", e, got, err)
		}
	}
	if _, err := ParseEndpoint("users"); err == nil {
		t.Error("unknown endpoint accepted")
	}
}
