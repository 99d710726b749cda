package transform

import (
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
)

// referenceGUID is parseGUID as its doc states it, written another way:
// 36 bytes, dashes at 8, 13, 18 and 23, lowercase hex elsewhere.
func referenceGUID(s string) (g guid, ok bool) {
	if len(s) != 36 {
		return g, false
	}
	for i := range len(s) {
		dash := i == 8 || i == 13 || i == 18 || i == 23
		if dash != (s[i] == '-') || !dash && !strings.ContainsRune("0123456789abcdef", rune(s[i])) {
			return g, false
		}
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil {
		return g, false
	}
	return guid(b), true
}

func checkParseGUID(t *testing.T, s string) {
	t.Helper()
	g, ok := parseGUID(s)
	wg, wok := referenceGUID(s)
	if ok != wok || ok && g != wg {
		t.Fatalf("parseGUID(%q) = %x, %t; want %x, %t", s, g, ok, wg, wok)
	}
}

// TestParseGUIDMatchesItsDefinition changes every byte of GUIDs to every
// other value, and tries lengths around 36.
func TestParseGUIDMatchesItsDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		var g guid
		for i := range g {
			g[i] = byte(rng.Uint32())
		}
		id := guidString(g)
		checkParseGUID(t, id)
		for i := range len(id) {
			for c := range 256 {
				b := []byte(id)
				b[i] = byte(c)
				checkParseGUID(t, string(b))
			}
		}
		for _, s := range []string{"", id[:35], id + "0", "-" + id[1:], strings.ToUpper(id)} {
			checkParseGUID(t, s)
		}
	}
}

func FuzzParseGUID(f *testing.F) {
	for _, s := range []string{"0123abcd-4567-89ef-abcd-ef0123456789", "0123ABCD-4567-89ef-abcd-ef0123456789", "u1", "0123abcd-4567-89ef-abcd-ef012345678g"} {
		f.Add(s)
	}
	f.Fuzz(checkParseGUID)
}
