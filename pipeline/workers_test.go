package pipeline

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credreg/credreg/extract"
)

// workerTenants are n made-up tenants with GUID-shaped ids.
func workerTenants(n int) []TenantSource {
	out := make([]TenantSource, n)
	for i := range out {
		out[i] = TenantSource{ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i*7919, i), Name: fmt.Sprintf("t%d", i)}
	}
	return out
}

// Over the workers, every tenant is taken exactly once, in config order,
// and the workers share them fairly.
func TestAssignTenantsCoversEachOnce(t *testing.T) {
	all := workerTenants(1000)
	pos := map[string]int{}
	for i, tn := range all {
		pos[tn.ID] = i
	}
	for _, count := range []int{1, 2, 3, 7, 16} {
		t.Run(fmt.Sprint(count), func(t *testing.T) {
			seen := map[string]int{}
			for w := range count {
				mine := AssignTenants(all, w, count)
				for i := 1; i < len(mine); i++ {
					if pos[mine[i-1].ID] > pos[mine[i].ID] {
						t.Fatalf("worker %d: not in config order", w)
					}
				}
				// Fair within a wide margin: 1000 tenants, ±30 % of the mean.
				if mean := len(all) / count; len(mine) < mean*7/10 || len(mine) > mean*13/10 {
					t.Errorf("worker %d of %d takes %d tenants, mean %d", w, count, len(mine), mean)
				}
				for _, tn := range mine {
					seen[tn.ID]++
				}
			}
			for _, tn := range all {
				if seen[tn.ID] != 1 {
					t.Fatalf("tenant %s taken %d times", tn.ID, seen[tn.ID])
				}
			}
		})
	}
	if got := AssignTenants(all, 3, 3); len(got) != 0 {
		t.Errorf("index 3 of 3 takes %d tenants, want none", len(got))
	}
}

// A tenant's worker depends on its id alone: not on its case, the config's
// order or the other tenants.
func TestWorkerOfIndependentOfTheRest(t *testing.T) {
	all := workerTenants(200)
	const count = 5
	want := map[string]int{}
	for w := range count {
		for _, tn := range AssignTenants(all, w, count) {
			want[tn.ID] = w
		}
	}
	shuffled := slices.Clone(all)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	fewer := shuffled[:37]
	for w := range count {
		for _, tn := range AssignTenants(fewer, w, count) {
			if want[tn.ID] != w {
				t.Errorf("%s: worker %d in a shuffled subset, %d in the whole config", tn.ID, w, want[tn.ID])
			}
		}
	}
	for _, tn := range all {
		if got := WorkerOf(strings.ToUpper(tn.ID), count); got != want[tn.ID] {
			t.Errorf("%s in upper case: worker %d, want %d", tn.ID, got, want[tn.ID])
		}
	}
}

// Rendezvous hashing: a worker more moves tenants only to the new worker,
// about 1/(N+1) of them; a worker less moves only the removed worker's.
func TestWorkerOfMovesFewWhenCountChanges(t *testing.T) {
	all := workerTenants(1000)
	for n := 1; n <= 8; n++ {
		moved := 0
		for _, tn := range all {
			before, after := WorkerOf(tn.ID, n), WorkerOf(tn.ID, n+1)
			if before == after {
				continue
			}
			moved++
			if after != n {
				t.Fatalf("%d → %d workers: %s moved from %d to %d, not to the new worker %d", n, n+1, tn.ID, before, after, n)
			}
		}
		// Expected 1000/(n+1); allow a wide margin.
		if want := len(all) / (n + 1); moved > want*13/10 {
			t.Errorf("%d → %d workers moved %d tenants, want about %d", n, n+1, moved, want)
		}
	}
}

// The assignment is part of the tool's contract: workers of two releases
// must agree. A change here moves tenants between workers.
func TestWorkerOfPinned(t *testing.T) {
	got := make([]int, 0, 12)
	for _, tn := range workerTenants(12) {
		got = append(got, WorkerOf(tn.ID, 4))
	}
	want := []int{1, 3, 2, 2, 0, 1, 1, 3, 3, 3, 0, 0}
	if !slices.Equal(got, want) {
		t.Errorf("WorkerOf(…, 4) = %v, want %v: the hash changed, and with it every deployment's assignment", got, want)
	}
}

func TestShareAppLimit(t *testing.T) {
	cases := []struct {
		app, count, want int
	}{
		{122, 1, 122},
		{122, 0, 122},
		{122, 2, 61},
		{122, 3, 40}, // floor: 3 × 40 = 120 ≤ 122
		{8, 3, 2},
		{0, 2, 61}, // the default, 122
		{2, 3, 1},  // at least 1
	}
	for _, c := range cases {
		l := extract.Limits{App: c.app, AppWindow: 10 * time.Second, PerTenant: 5}
		got := ShareAppLimit(l, c.count)
		if got.App != c.want || got.PerTenant != 5 || got.AppWindow != 10*time.Second {
			t.Errorf("ShareAppLimit(%d, %d) = %+v, want App %d, the rest unchanged", c.app, c.count, got, c.want)
		}
	}
}
