package schemas

import (
	"slices"
	"sort"
)

// Vocabulary returns the values credreg knows for a string column of a
// table, or nil when the column is free text or its values are not
// enumerated. The values come from the method catalog (auth_method,
// method_family) and from the documented values of the user fields
// (user_type, default_mfa_method, and the elements of the list
// system_preferred_methods); the list is sorted, without repeats, and the
// caller's own.
//
// It is a hint, not a constraint: Graph's enums are evolvable and an
// unknown value still loads. The Parquet writer seeds each such column's
// dictionary with it, so that a value first seen late in a file is rare.
func Vocabulary(table, column string) []string {
	var vs []string
	switch table {
	case UserAuthMethodsTable.Name:
		switch column {
		case "auth_method":
			for v := range catalog {
				vs = append(vs, v)
			}
		case "method_family":
			for _, f := range MethodFamilies() {
				vs = append(vs, string(f))
			}
		}
	case UserRegistrationDetailsTable.Name:
		switch column {
		case "user_type", "default_mfa_method", "system_preferred_methods":
			for _, f := range userFields {
				if f.Column == column {
					vs = append(vs, f.Values...)
				}
			}
		}
	}
	if vs == nil {
		return nil
	}
	sort.Strings(vs)
	return slices.Compact(vs)
}
