package extract

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

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
// more than a quarter above its share of the pages is split on its next
// boolean property (the halves are guessed even; the next night measures
// them), and two sibling shards that together had no more than a share are
// merged back into their parent, keeping about n chains in flight. The
// plan is still a binary tree over the boolean properties of PlanShards,
// each filter a conjunction of "property eq value", so it is a disjoint
// cover of the listing, and Shard.Check applies to every shard.
//
// n is the shard count asked for (see PlanShards). PlanShards(endpoint, n)
// is the answer when n is 1, or prev is no complete sharded listing of
// endpoint whose filters are a plan's, or it holds no page: a tenant's
// first run keeps today's plan.
func PlanFromIndex(endpoint schemas.Endpoint, n int, prev RawIndex) (ShardPlan, error) {
	plan, err := PlanShards(endpoint, n)
	if err != nil || n == 1 || !prev.Complete || prev.Endpoint != endpoint || len(prev.Shards) < 2 {
		return plan, err
	}
	props := shardProperties[endpoint]
	pages := map[string]int{}
	total := 0
	for _, p := range prev.Pages {
		if p.Kind == "" && p.Shard != "" {
			pages[p.Shard]++
			total++
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
		leaves = append(leaves, l)
	}
	if checkCover(props, leaves) != nil {
		return plan, nil
	}
	share := float64(total) / float64(n)
	// Split the longest chain while it is well above its share.
	for len(leaves) < MaxShards {
		i := indexOfMax(leaves)
		if leaves[i].pages <= 1.25*share || len(leaves[i].values) == len(props) {
			break
		}
		a, b := leaves[i].split()
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
	slices.SortFunc(leaves, func(a, b leaf) int { return cmp.Compare(a.key(), b.key()) })
	out := make(ShardPlan, len(leaves))
	for i, l := range leaves {
		out[i] = l.shard(props, i)
	}
	return out, nil
}

// leaf is one shard of a plan as a path in the tree of boolean
// properties: values[j] is the value of property j.
type leaf struct {
	values []bool
	pages  float64 // in the previous run; a split guesses halves
}

// parseLeaf reads a filter PlanShards or PlanFromIndex wrote: "p0 eq b0
// and p1 eq b1 ...", the properties in the plan's order from the first.
func parseLeaf(props []shardProperty, filter string) (leaf, error) {
	var l leaf
	if filter == "" {
		return l, fmt.Errorf("an unfiltered shard in a sharded plan")
	}
	for j, term := range strings.Split(filter, " and ") {
		name, val, ok := strings.Cut(term, " eq ")
		if !ok || j >= len(props) || name != props[j].name {
			return l, fmt.Errorf("filter %q is not a shard plan's", filter)
		}
		b, err := strconv.ParseBool(val)
		if err != nil || (val != "true" && val != "false") {
			return l, fmt.Errorf("filter %q is not a shard plan's", filter)
		}
		l.values = append(l.values, b)
	}
	return l, nil
}

func (l leaf) split() (leaf, leaf) {
	a := leaf{values: append(slices.Clone(l.values), false), pages: l.pages / 2}
	b := leaf{values: append(slices.Clone(l.values), true), pages: l.pages / 2}
	return a, b
}

func (l leaf) parent() leaf { return leaf{values: slices.Clone(l.values[:len(l.values)-1])} }

// sibling is the index in leaves of the leaf that differs from l only in
// its last value, or -1.
func (l leaf) sibling(leaves []leaf) int {
	if len(l.values) < 2 { // the two halves of the first property stay apart
		return -1
	}
	for i, o := range leaves {
		if len(o.values) == len(l.values) && slices.Equal(o.values[:len(o.values)-1], l.values[:len(l.values)-1]) &&
			o.values[len(o.values)-1] != l.values[len(l.values)-1] {
			return i
		}
	}
	return -1
}

// matches says whether a user with the property values all is in l.
func (l leaf) matches(all []bool) bool { return slices.Equal(l.values, all[:len(l.values)]) }

// key orders leaves as a depth-first walk, false before true.
func (l leaf) key() string {
	var b strings.Builder
	for _, v := range l.values {
		b.WriteByte("01"[btoi(v)])
	}
	return b.String()
}

func (l leaf) shard(props []shardProperty, i int) Shard {
	name := []string{"s" + strconv.Itoa(i)}
	var filter []string
	var where []Condition
	for j, v := range l.values {
		filter = append(filter, fmt.Sprintf("%s eq %t", props[j].name, v))
		where = append(where, Condition{props[j].name, v})
		name = append(name, props[j].short+strconv.Itoa(btoi(v)))
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
