package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/credreg/credreg/schemas"
	"github.com/credreg/credreg/transform"
)

// Pseudonymization is the manifest's record that the slice's names are
// pseudonyms (see transform.Pseudonymizer), and under which key. A slice
// with real names has none.
type Pseudonymization struct {
	// KeyFingerprint names the key (transform.Pseudonymizer.Fingerprint),
	// not the key itself.
	KeyFingerprint string `json:"key_fingerprint"`
}

// pseudonymizationOf is the manifest's record of p; nil when p is.
func pseudonymizationOf(p *transform.Pseudonymizer) *Pseudonymization {
	if p == nil {
		return nil
	}
	return &Pseudonymization{KeyFingerprint: p.Fingerprint()}
}

// ErrPseudonymizationChanged: a slice would be written with other names
// (another key, pseudonyms over real names, or real names over
// pseudonyms) than the tenant's newest published slice. The names of two
// days then no longer join — the same person has two values — and
// nothing in the data says so; so it takes an operator's word.
var ErrPseudonymizationChanged = errors.New("the names would not join with the tenant's published history")

// PseudonymizationChange is one tenant whose newest published slice has
// other names than a run would write.
type PseudonymizationChange struct {
	// Slice is the tenant's newest published slice.
	Slice schemas.Key
	// Had and Want are key fingerprints; "" is real names.
	Had, Want string
}

func (c PseudonymizationChange) String() string {
	return fmt.Sprintf("tenant %s: its newest slice (%s) has %s; this would write %s", c.Slice.Tenant,
		c.Slice.DateString(), namesDescription(c.Had), namesDescription(c.Want))
}

func namesDescription(fingerprint string) string {
	if fingerprint == "" {
		return "real names"
	}
	return "names pseudonymized with the key of fingerprint " + fingerprint
}

// PseudonymizationError lists the tenants whose names would change; it
// wraps ErrPseudonymizationChanged.
type PseudonymizationError struct {
	Changes []PseudonymizationChange
}

func (e *PseudonymizationError) Error() string {
	parts := make([]string, len(e.Changes))
	for i, c := range e.Changes {
		parts[i] = c.String()
	}
	return fmt.Sprintf("%v: %s", ErrPseudonymizationChanged, strings.Join(parts, "; "))
}

func (e *PseudonymizationError) Unwrap() error { return ErrPseudonymizationChanged }

// PublishedManifests is what CheckPseudonymization reads: the published
// slices (load.Warehouse has both methods).
type PublishedManifests interface {
	// Manifests lists the slices with a manifest, sorted by date.
	Manifests(ctx context.Context) ([]schemas.Key, error)
	ReadManifest(ctx context.Context, key schemas.Key) ([]byte, error)
}

// CheckPseudonymization compares the names a run with p (nil: real names)
// would write for each tenant with those of the tenant's newest published
// slice, whatever its date: the history a new slice must join. A tenant
// without a slice may start either way. It returns a
// *PseudonymizationError naming every tenant that differs, before
// anything is written; the caller decides whether an operator said the
// change is intended.
//
// The check runs before the slices' leases are taken, so a run with
// another key that publishes in between is not seen; two runs of one
// warehouse with different keys are an operator's error this catches on
// the next run.
func CheckPseudonymization(ctx context.Context, wh PublishedManifests, tenants []string, p *transform.Pseudonymizer) error {
	keys, err := wh.Manifests(ctx)
	if err != nil {
		return fmt.Errorf("listing the published slices: %w", err)
	}
	newest := map[string]schemas.Key{}
	for _, k := range keys {
		newest[k.Tenant] = k // sorted by date: the last one wins
	}
	want := ""
	if p != nil {
		want = p.Fingerprint()
	}
	var changes []PseudonymizationChange
	seen := map[string]bool{}
	for _, t := range tenants {
		t = strings.ToLower(t)
		k, ok := newest[t]
		if !ok || seen[t] {
			continue
		}
		seen[t] = true
		b, err := wh.ReadManifest(ctx, k)
		if err != nil {
			return fmt.Errorf("reading the manifest of %s/%s: %w", k.DateString(), k.Tenant, err)
		}
		var m struct {
			Pseudonymization *Pseudonymization `json:"pseudonymization"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("the manifest of %s/%s: %w", k.DateString(), k.Tenant, err)
		}
		had := ""
		if m.Pseudonymization != nil {
			had = m.Pseudonymization.KeyFingerprint
		}
		if had != want {
			changes = append(changes, PseudonymizationChange{Slice: k, Had: had, Want: want})
		}
	}
	if len(changes) > 0 {
		return &PseudonymizationError{Changes: changes}
	}
	return nil
}

// pseudonymsDiffer says why a slice whose manifest is m must be rebuilt
// to have the names p gives (nil: real names); "" when it has them.
func pseudonymsDiffer(m *Manifest, p *transform.Pseudonymizer) string {
	had, want := "", ""
	if m.Pseudonymization != nil {
		had = m.Pseudonymization.KeyFingerprint
	}
	if p != nil {
		want = p.Fingerprint()
	}
	if had == want {
		return ""
	}
	return "its names are " + strings.TrimPrefix(namesDescription(had), "names ") + ", wanted " +
		strings.TrimPrefix(namesDescription(want), "names ")
}
