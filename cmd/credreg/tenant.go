package main

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
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

// warnMixedCase warns of the slices of the run's tenants that an older
// credreg wrote under a tenant_id folder with capital letters: readers
// take them for another tenant, and this run writes beside them, not over
// them. `credreg migrate` moves them. Looking costs one listing of the
// warehouse; a failure to look is logged, not fatal.
func warnMixedCase(ctx context.Context, wh *load.Warehouse, tenants []pipeline.TenantSource, log *slog.Logger) {
	keys, err := wh.MixedCaseTenants(ctx)
	if err != nil {
		log.Warn("cannot check the warehouse for mixed-case tenant folders", "err", err)
		return
	}
	ours := map[string]bool{}
	for _, t := range tenants {
		ours[t.ID] = true
	}
	found := map[string][]string{}
	var order []string
	for _, k := range keys {
		id := strings.ToLower(k.Tenant)
		if !ours[id] {
			continue
		}
		if found[id] == nil {
			order = append(order, id)
		}
		found[id] = append(found[id], sliceName(k))
	}
	for _, id := range order {
		log.Warn(fmt.Sprintf("the warehouse holds %d slices of tenant %s under a tenant_id folder with capital letters, "+
			"which readers take for another tenant; move them with: credreg migrate --warehouse %s", len(found[id]), id, wh),
			"tenant", id, "slices", strings.Join(found[id], ", "))
	}
}
