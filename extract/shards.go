package extract

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/credreg/credreg/schemas"
)

// Shard is one $filter partition of a report listing. Each shard is paged
// through its own next links, so shards can run side by side while every
// single listing is still read in order.
type Shard struct {
	// Name is a short label for logs, raw keys and the manifest, e.g.
	// "s2-mfa1-sspr0"; "all" for the unfiltered listing.
	Name string `json:"name"`
	// Filter is the OData $filter, "" for the whole listing.
	Filter string `json:"filter"`
	// Where are the property values the filter selects, to check that
	// Graph applied it.
	Where []Condition `json:"-"`
	// Pages is how many pages the shard's chain is expected to take:
	// what it took in the previous run (estimated for a shard split since),
	// 0 when unknown. A run reads a shard with the most pages left first
	// (see WithPriority).
	Pages int `json:"-"`
}

// Condition is one "property eq value" of a shard's filter.
type Condition struct {
	Property string
	Value    bool
}

// ErrFilterIgnored: Graph answered a shard's request with users the
// shard's $filter excludes.
var ErrFilterIgnored = errors.New("Graph did not apply the shard's $filter")

// Check reports ErrFilterIgnored when a record of the page is outside the
// shard: a Graph that ignores the filter would hand every shard the whole
// listing. Records that are not JSON objects are left to the data contract.
func (s Shard) Check(p Page) error {
	if len(s.Where) == 0 {
		return nil
	}
	for _, r := range p.Records {
		var rec map[string]json.RawMessage
		if r.Err != nil || json.Unmarshal(r.Raw, &rec) != nil {
			continue
		}
		for _, c := range s.Where {
			var v bool
			if json.Unmarshal(rec[c.Property], &v) == nil && v != c.Value {
				return fmt.Errorf("%w: shard %s got a record with %s %t", ErrFilterIgnored, s.Name, c.Property, v)
			}
		}
	}
	return nil
}

// ShardPlan is a set of shards that are disjoint and together exhaustive:
// every user of the listing is in exactly one shard.
type ShardPlan []Shard

// AutoShards is the shard count of --shards auto. At Graph's 0.5 requests
// per second per tenant, four listings in flight keep the tenant's rate busy
// as long as Graph takes under 8 s to build a page; more shards only add
// partly filled last pages, each costing a request.
const AutoShards = 4

// MaxShards is the largest plan: four boolean properties.
const MaxShards = 16

// shardProperties are the boolean properties a plan splits on, in order.
// Each is a non-nullable Edm.Boolean in Graph's metadata and is filterable
// with eq, so {p eq true, p eq false} is a partition of the listing: this is
// what makes a plan exhaustive, and why no plan uses startswith (user
// principal names start with characters no finite prefix list is proven to
// cover). The first ones split real tenants most evenly.
var shardProperties = map[schemas.Endpoint][]shardProperty{
	schemas.UserRegistrationDetails: {
		{"isMfaRegistered", "mfa"}, {"isSsprRegistered", "sspr"},
		{"isPasswordlessCapable", "pwl"}, {"isMfaCapable", "mfacap"},
	},
	schemas.CredentialUserRegistrationDetails: {
		{"isMfaRegistered", "mfa"}, {"isRegistered", "reg"},
		{"isCapable", "cap"}, {"isEnabled", "en"},
	},
}

type shardProperty struct{ name, short string }

// PlanShards splits endpoint's listing into n shards. n is 1 (one
// unfiltered listing) or a power of two up to MaxShards: each doubling adds
// one boolean property to the filters.
func PlanShards(endpoint schemas.Endpoint, n int) (ShardPlan, error) {
	props, ok := shardProperties[endpoint]
	if !ok {
		return nil, fmt.Errorf("no shard plan for endpoint %q", endpoint)
	}
	if err := checkShardCount(n); err != nil {
		return nil, err
	}
	if n == 1 {
		return ShardPlan{{Name: "all"}}, nil
	}
	k := bits.TrailingZeros(uint(n))
	plan := make(ShardPlan, 0, n)
	for i := range n {
		var filter []string
		var where []Condition
		name := []string{"s" + strconv.Itoa(i)}
		for j := range k {
			bit := i >> (k - 1 - j) & 1
			filter = append(filter, fmt.Sprintf("%s eq %t", props[j].name, bit == 1))
			where = append(where, Condition{props[j].name, bit == 1})
			name = append(name, props[j].short+strconv.Itoa(bit))
		}
		plan = append(plan, Shard{Name: strings.Join(name, "-"), Filter: strings.Join(filter, " and "), Where: where})
	}
	return plan, nil
}

// ParseShards reads --shards: "auto", "off" or a count.
func ParseShards(s string) (int, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "auto", "":
		return AutoShards, nil
	case "off":
		return 1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("--shards %q: want auto, off or a count (1, 2, 4, 8, 16)", s)
	}
	if err := checkShardCount(n); err != nil {
		return 0, fmt.Errorf("--shards: %w", err)
	}
	return n, nil
}

func checkShardCount(n int) error {
	if n < 1 || n > MaxShards || n&(n-1) != 0 {
		return fmt.Errorf("cannot split into %d shards: the count must be 1, 2, 4, 8 or 16 (each doubling filters on one more boolean property)", n)
	}
	return nil
}
