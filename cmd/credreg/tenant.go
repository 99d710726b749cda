package main

import (
	"regexp"
	"strings"
)

// guid is a tenant id as Entra shows it: 8-4-4-4-12 hex digits.
var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// tenantID checks a tenant id and returns it in lowercase; where names
// its origin for the error (a flag with its value, or a config entry,
// whose values an error never repeats). The id keys the warehouse's
// tenant_id= folders, the manifest and the raw zone, so it has one
// spelling: "8F0C…" and "8f0c…" are one tenant, not two partitions. A
// domain name (contoso.onmicrosoft.com) signs in as well, but it is not
// the tenant's identity — a tenant can have many and rename them — so it
// cannot key a warehouse.
func tenantID(where, s string) (string, error) {
	s = strings.TrimSpace(s)
	if !guid.MatchString(s) {
		return "", usagef("%s: the tenant id is not a GUID; use the Tenant ID that the Microsoft Entra admin center shows "+
			"under Identity → Overview (a domain name signs in but cannot key a warehouse)", where)
	}
	return strings.ToLower(s), nil
}
