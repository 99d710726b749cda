package extract

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

// PlanFromIndex plans endpoint's shards for a run from prev, the tenant's
// previous raw run, so that the shards' chains of pages end together: the
// run lasts as long as its longest chain, and booleans split real tenants
// unevenly (most users are MFA registered), so a plan of equal filters
// leaves one long chain running alone at the end, which costs most when
// Graph takes seconds per page.
//
// The previous run's index records each page's shard. A shard that had
// more than a quarter above its share of the pages is split on one more
// boolean property, and two sibling shards that together had no more than
// a share are merged back into their parent, keeping about n chains in
// flight; the longest chains come first in the plan, so they start
// first. The plan is still a binary tree of boolean properties (PlanShards'
// four, then the v1.0 report's other documented filterable booleans),
// each filter a conjunction of "property eq value", so it is a disjoint
// cover of the listing (checked over every combination of values before
// it is returned), and Shard.Check applies to every shard.
//
// read, when not nil, reads a landed page (ReadRawPage): the planner reads
// one page of each previous shard to see how its users' booleans split,
// and splits a long shard on the property that halves it best (in
// graphsim, as in Graph, isMfaCapable follows isMfaRegistered, and few
// users are passwordless capable: a split on either may leave the chain
// whole), with the pages estimated from that sample. Without a sample the
// next property in PlanShards' order is used and the halves guessed even.
//
// n is the shard count asked for (see PlanShards). PlanShards(endpoint, n)
// is the answer when n is 1, or prev is no complete sharded listing of
// endpoint whose filters are a plan's, or it holds no page: a tenant's
// first run keeps today's plan.
func PlanFromIndex(endpoint schemas.Endpoint, n int, prev RawIndex, read func(key string) ([]byte, error)) (ShardPlan, error) {
	plan, err := PlanShards(endpoint, n)
	if err != nil || n == 1 || !prev.Complete || prev.Endpoint != endpoint || len(prev.Shards) < 2 {
		return plan, err
	}
	props := splitProperties(endpoint)
	pages := map[string]int{}
	first := map[string]string{} // a shard's first page holding records
	total := 0
	for _, p := range prev.Pages {
		if p.Kind == "" && p.Shard != "" {
			pages[p.Shard]++
			total++
			if _, ok := first[p.Shard]; !ok && p.Records > 0 && !p.Invalid {
				first[p.Shard] = p.Key
			}
		}
	}
	if total == 0 {
		return plan, nil
	}
	var leaves []leaf
	for _, s := range prev.Shards {
		l, err := parseLeaf(props, s.Filter)
		if err != nil {
			return plan, nil // not a plan of ours: start again from today's
		}
		l.pages = float64(pages[s.Name])
		if key, ok := first[s.Name]; ok && read != nil {
			l.sample = sampleOf(props, read, key)
		}
		leaves = append(leaves, l)
	}
	if checkCover(props, leaves) != nil {
		return plan, nil
	}
	share := float64(total) / float64(n)
	// Split the longest chain while it is well above its share.
	for len(leaves) < MaxShards {
		i := indexOfMax(leaves)
		if leaves[i].pages <= 1.25*share {
			break
		}
		a, b, ok := leaves[i].split(props)
		if !ok {
			break // the longest chain cannot be split: it bounds the run
		}
		leaves = slices.Replace(leaves, i, i+1, a, b)
	}
	// Merge the lightest siblings while there are more chains than asked
	// and the two together fit in a share.
	for len(leaves) > n {
		best := -1
		for i := range leaves {
			j := leaves[i].sibling(leaves)
			if j < 0 || leaves[i].pages+leaves[j].pages > share {
				continue
			}
			if best < 0 || leaves[i].pages+leaves[j].pages < leaves[best].pages+leaves[leaves[best].sibling(leaves)].pages {
				best = i
			}
		}
		if best < 0 {
			break
		}
		j := leaves[best].sibling(leaves)
		parent := leaves[best].parent()
		parent.pages = leaves[best].pages + leaves[j].pages
		leaves[best] = parent
		leaves = slices.Delete(leaves, j, j+1)
	}
	if err := checkCover(props, leaves); err != nil {
		return nil, fmt.Errorf("planning shards from run %s: %w", prev.RunID, err)
	}
	// Longest first: the chains that end the run take the first burst of
	// the window; ties in the tree's order.
	slices.SortFunc(leaves, func(a, b leaf) int { return cmp.Or(cmp.Compare(b.pages, a.pages), cmp.Compare(a.key(), b.key())) })
	out := make(ShardPlan, len(leaves))
	for i, l := range leaves {
		out[i] = l.shard(props, i)
		out[i].Pages = max(1, int(math.Round(l.pages)))
	}
	return out, nil
}

// moreSplitProperties are further non-nullable, filterable booleans a
// long shard may be split on once PlanShards' four are used up: Graph
// documents $filter with eq on every boolean of the v1.0 report (the beta
// report has only the four).
var moreSplitProperties = map[schemas.Endpoint][]shardProperty{
	schemas.UserRegistrationDetails: {
		{"isSsprCapable", "sscap"}, {"isSsprEnabled", "ssen"},
		{"isSystemPreferredAuthenticationMethodEnabled", "sysp"}, {"isAdmin", "adm"},
	},
}

// splitProperties are the properties PlanFromIndex splits on: PlanShards'
// first, so that its plans parse.
func splitProperties(endpoint schemas.Endpoint) []shardProperty {
	return slices.Concat(shardProperties[endpoint], moreSplitProperties[endpoint])
}

// leaf is one shard of a plan as a path in a binary tree of boolean
// properties, each split choosing its own property.
type leaf struct {
	conds []cond
	pages float64 // in the previous run; a split estimates its parts
	// sample is the property values (bit j: props[j] is true) of some of
	// the shard's users in the previous run.
	sample []uint16
}

// cond is "props[prop] eq value".
type cond struct {
	prop  int
	value bool
}

// minSample is the fewest sampled users a split is chosen from.
const minSample = 50

// minSplit is the smallest share of a shard's sample a split may leave on
// one side: a split that keeps nearly the whole chain costs a request for
// a short extra chain and shortens nothing.
const minSplit = 0.1

// parseLeaf reads a filter PlanShards or PlanFromIndex wrote: "p eq b and
// q eq c ...", each a distinct property of the plan's.
func parseLeaf(props []shardProperty, filter string) (leaf, error) {
	var l leaf
	if filter == "" {
		return l, fmt.Errorf("an unfiltered shard in a sharded plan")
	}
	for term := range strings.SplitSeq(filter, " and ") {
		name, val, ok := strings.Cut(term, " eq ")
		j := slices.IndexFunc(props, func(p shardProperty) bool { return p.name == name })
		if !ok || j < 0 || l.has(j) || (val != "true" && val != "false") {
			return l, fmt.Errorf("filter %q is not a shard plan's", filter)
		}
		l.conds = append(l.conds, cond{j, val == "true"})
	}
	return l, nil
}

func (l leaf) has(prop int) bool {
	return slices.ContainsFunc(l.conds, func(c cond) bool { return c.prop == prop })
}

// sampleOf reads the page at key and returns its records' property values;
// nil when it cannot be read.
func sampleOf(props []shardProperty, read func(string) ([]byte, error), key string) []uint16 {
	body, err := read(key)
	if err != nil {
		return nil
	}
	page, err := odata.Split(body)
	if err != nil {
		return nil
	}
	var out []uint16
	for _, r := range page.Records {
		var rec map[string]json.RawMessage
		if r.Err != nil || json.Unmarshal(r.Raw, &rec) != nil {
			continue
		}
		var bitsOf uint16
		for j, p := range props {
			var v bool
			if json.Unmarshal(rec[p.name], &v) == nil && v {
				bitsOf |= 1 << j
			}
		}
		out = append(out, bitsOf)
	}
	return out
}

// split splits l on one more property: the one that halves its sample
// best, or without a sample the first unused one, halves guessed even. It
// reports false when no property is left, or the sample shows none would
// leave at least minSplit of the shard on each side.
func (l leaf) split(props []shardProperty) (leaf, leaf, bool) {
	best, frac := -1, 0.5
	if len(l.sample) >= minSample {
		bestDist := 2.0
		for j := range props {
			if l.has(j) {
				continue
			}
			n := 0
			for _, v := range l.sample {
				if v>>j&1 == 1 {
					n++
				}
			}
			f := float64(n) / float64(len(l.sample))
			if d := math.Abs(f - 0.5); d < bestDist && min(f, 1-f) >= minSplit {
				best, frac, bestDist = j, f, d
			}
		}
	} else {
		for j := range props {
			if !l.has(j) {
				best = j
				break
			}
		}
	}
	if best < 0 {
		return leaf{}, leaf{}, false
	}
	child := func(v bool, pages float64) leaf {
		c := leaf{conds: append(slices.Clone(l.conds), cond{best, v}), pages: pages}
		for _, s := range l.sample {
			if (s>>best&1 == 1) == v {
				c.sample = append(c.sample, s)
			}
		}
		return c
	}
	return child(false, l.pages*(1-frac)), child(true, l.pages*frac), true
}

func (l leaf) parent() leaf { return leaf{conds: slices.Clone(l.conds[:len(l.conds)-1])} }

// sibling is the index in leaves of the leaf that differs from l only in
// the value of its last condition, or -1.
func (l leaf) sibling(leaves []leaf) int {
	if len(l.conds) < 2 { // the two halves of the first property stay apart
		return -1
	}
	last := l.conds[len(l.conds)-1]
	for i, o := range leaves {
		if len(o.conds) == len(l.conds) && slices.Equal(o.conds[:len(o.conds)-1], l.conds[:len(l.conds)-1]) &&
			o.conds[len(o.conds)-1] == (cond{last.prop, !last.value}) {
			return i
		}
	}
	return -1
}

// matches says whether a user with the property values all is in l.
func (l leaf) matches(all []bool) bool {
	for _, c := range l.conds {
		if all[c.prop] != c.value {
			return false
		}
	}
	return true
}

// key orders leaves as a depth-first walk, false before true.
func (l leaf) key() string {
	var b strings.Builder
	for _, c := range l.conds {
		b.WriteByte(byte('a' + c.prop))
		b.WriteByte("01"[btoi(c.value)])
	}
	return b.String()
}

func (l leaf) shard(props []shardProperty, i int) Shard {
	name := []string{"s" + strconv.Itoa(i)}
	var filter []string
	var where []Condition
	for _, c := range l.conds {
		p := props[c.prop]
		filter = append(filter, fmt.Sprintf("%s eq %t", p.name, c.value))
		where = append(where, Condition{p.name, c.value})
		name = append(name, p.short+strconv.Itoa(btoi(c.value)))
	}
	return Shard{Name: strings.Join(name, "-"), Filter: strings.Join(filter, " and "), Where: where}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func indexOfMax(leaves []leaf) int {
	m := 0
	for i, l := range leaves {
		if l.pages > leaves[m].pages {
			m = i
		}
	}
	return m
}

// checkCover reports an error unless every combination of the properties'
// values is in exactly one leaf: the plan is a disjoint cover of the
// listing, whatever the users.
func checkCover(props []shardProperty, leaves []leaf) error {
	for bitsOf := range 1 << len(props) {
		all := make([]bool, len(props))
		for j := range all {
			all[j] = bitsOf>>j&1 == 1
		}
		in := 0
		for _, l := range leaves {
			if l.matches(all) {
				in++
			}
		}
		if in != 1 {
			return fmt.Errorf("shard plan is not a disjoint cover: a user with %v is in %d shards", all, in)
		}
	}
	return nil
}
