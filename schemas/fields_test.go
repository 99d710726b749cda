package schemas

import (
	"fmt"
	"slices"
	"testing"
)

// TestUserFields checks what the decoder and the schemas assume of the
// table: one property per name in each report, documented values only on
// strings, a fallback right after the field it stands in for, and the
// table's columns exactly those of user_registration_details.
func TestUserFields(t *testing.T) {
	fields := UserFields()
	for _, e := range Endpoints {
		seen := map[string]bool{}
		for i := range fields {
			n := fields[i].Name(e)
			if n == "" {
				continue
			}
			if seen[n] {
				t.Errorf("%s: property %q fills two fields", e, n)
			}
			seen[n] = true
		}
		for _, n := range []string{"id", "userPrincipalName"} {
			if !seen[n] {
				t.Errorf("%s: no field for %q", e, n)
			}
		}
	}
	for i, f := range fields {
		switch {
		case f.Values != nil && f.Kind != KindString && f.Kind != KindStringList:
			t.Errorf("%s: documented values on a field of kind %d", f.Column, f.Kind)
		case f.Fallback && (i == 0 || fields[i-1].Column != f.Column || fields[i-1].Kind != f.Kind || !f.Graph()):
			t.Errorf("%s: a fallback must follow a Graph field of its column and kind", f.Column)
		case !f.Graph() && f.Values != nil:
			t.Errorf("%s: documented values on a column credreg fills", f.Column)
		}
	}

	cols := UserRegistrationDetailsTable.Columns[len(keyColumns()):]
	var want []string
	for _, f := range fields {
		if !f.Fallback {
			want = append(want, f.Column)
		}
	}
	var got []string
	for _, c := range cols {
		got = append(got, c.Name)
	}
	if !slices.Equal(got, want) {
		t.Errorf("user_registration_details columns %v, the table's %v", got, want)
	}
}

func TestUserFieldName(t *testing.T) {
	f := UserField{V1: "methodsRegistered", Beta: "authMethods"}
	cases := []struct {
		e    Endpoint
		want string
	}{
		{UserRegistrationDetails, "methodsRegistered"},
		{CredentialUserRegistrationDetails, "authMethods"},
		{"other", ""},
	}
	for _, c := range cases {
		if got := f.Name(c.e); got != c.want {
			t.Errorf("Name(%q) = %q, want %q", c.e, got, c.want)
		}
	}
}

// UserFields gives each caller its own copy: changing one (a column, a
// documented value) changes neither the table nor the schemas.
func TestUserFieldsIsACopy(t *testing.T) {
	a := UserFields()
	if len(a) != NumUserFields {
		t.Fatalf("%d fields, NumUserFields %d", len(a), NumUserFields)
	}
	var want []string // as text: a shared slice would change with a
	for _, f := range UserFields() {
		want = append(want, fmt.Sprint(f))
	}
	for i := range a {
		a[i].Column = "changed"
		if len(a[i].Values) > 0 {
			a[i].Values[0] = "changed"
		}
	}
	for i, f := range UserFields() {
		if fmt.Sprint(f) != want[i] {
			t.Errorf("a caller's change reached the table: %v, want %s", f, want[i])
		}
	}
	if UserRegistrationDetailsTable.Arrow().Field(len(keyColumns())).Name == "changed" {
		t.Error("a caller's change reached the schema")
	}
}
