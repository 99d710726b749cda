package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
	"github.com/credreg/credreg/transform"
)

func pseudonymizer(t *testing.T, key string) *transform.Pseudonymizer {
	t.Helper()
	p, err := transform.NewPseudonymizer([]byte(strings.Repeat(key, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A run's names must join with the tenant's newest published slice:
// another key, pseudonyms over real names and real names over pseudonyms
// are all refused, by the manifests alone.
func TestCheckPseudonymization(t *testing.T) {
	ctx := context.Background()
	wh, err := load.OpenWarehouse(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	keyA, keyB := pseudonymizer(t, "a"), pseudonymizer(t, "b")
	const (
		real   = "11111111-1111-4111-8111-111111111111" // real names
		pseudo = "22222222-2222-4222-8222-222222222222" // key a on its newest day, real names before
		fresh  = "33333333-3333-4333-8333-333333333333" // no slice
	)
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	write := func(tenant string, d int, p *transform.Pseudonymizer) {
		m := Manifest{Status: StatusPublished, Tenant: tenant, SnapshotDate: day(d).Format(time.DateOnly),
			Pseudonymization: pseudonymizationOf(p)}
		b, err := m.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.WriteManifest(ctx, schemas.Key{Date: day(d), Tenant: tenant}, b); err != nil {
			t.Fatal(err)
		}
	}
	write(real, 20, nil)
	write(pseudo, 18, nil)
	write(pseudo, 20, keyA)

	cases := []struct {
		name    string
		tenants []string
		p       *transform.Pseudonymizer
		refused []string // "tenant had->want"
	}{
		{"same key", []string{pseudo, fresh}, keyA, nil},
		{"real names as before", []string{real, fresh}, nil, nil},
		{"tenant in capitals", []string{strings.ToUpper(pseudo)}, keyA, nil},
		{"another key", []string{pseudo}, keyB, []string{pseudo + " " + keyA.Fingerprint() + "->" + keyB.Fingerprint()}},
		{"pseudonyms over real names", []string{real, pseudo, fresh}, keyA, []string{real + " ->" + keyA.Fingerprint()}},
		{"real names over pseudonyms", []string{real, pseudo}, nil, []string{pseudo + " " + keyA.Fingerprint() + "->"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckPseudonymization(ctx, wh, c.tenants, c.p)
			if c.refused == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var pe *PseudonymizationError
			if !errors.Is(err, ErrPseudonymizationChanged) || !errors.As(err, &pe) {
				t.Fatalf("got %v, want a PseudonymizationError", err)
			}
			var got []string
			for _, ch := range pe.Changes {
				got = append(got, ch.Slice.Tenant+" "+ch.Had+"->"+ch.Want)
				if !ch.Slice.Date.Equal(day(20)) {
					t.Errorf("compared with %s, want the newest slice", ch.Slice.DateString())
				}
			}
			if strings.Join(got, ",") != strings.Join(c.refused, ",") {
				t.Errorf("refused %v, want %v", got, c.refused)
			}
			if !strings.Contains(err.Error(), "would not join") {
				t.Errorf("the error does not say why: %v", err)
			}
		})
	}
}

func TestPseudonymsDiffer(t *testing.T) {
	keyA, keyB := pseudonymizer(t, "a"), pseudonymizer(t, "b")
	cases := []struct {
		had, want *transform.Pseudonymizer
		differ    bool
	}{
		{nil, nil, false}, {keyA, keyA, false}, {keyA, keyB, true}, {nil, keyA, true}, {keyA, nil, true},
	}
	for _, c := range cases {
		m := &Manifest{Pseudonymization: pseudonymizationOf(c.had)}
		if why := pseudonymsDiffer(m, c.want); (why != "") != c.differ {
			t.Errorf("had %v, want %v: %q", m.Pseudonymization, pseudonymizationOf(c.want), why)
		}
	}
}
