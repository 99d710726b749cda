package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// unitSettings reads a unit file's key=value lines, every value of each key.
func unitSettings(b []byte) map[string][]string {
	out := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = append(out[k], v)
		}
	}
	return out
}

// TestSystemdUnits checks the promised settings and, when systemd-analyze is
// installed, that systemd accepts the units and rates the service's exposure
// at most 2.0 ("OK").
func TestSystemdUnits(t *testing.T) {
	service, timer := readRecipe(t, "systemd/credreg.service"), readRecipe(t, "systemd/credreg.timer")
	s, tm := unitSettings(service), unitSettings(timer)
	want := []struct{ unit, key, value string }{
		{"service", "Type", "oneshot"}, {"service", "DynamicUser", "yes"}, {"service", "StateDirectory", "credreg"},
		{"service", "ProtectSystem", "strict"}, {"service", "ProtectHome", "yes"}, {"service", "PrivateTmp", "yes"},
		{"service", "NoNewPrivileges", "yes"}, {"service", "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
		{"service", "SystemCallFilter", "@system-service"}, {"service", "CapabilityBoundingSet", ""},
		{"service", "RestartPreventExitStatus", "2 4 5 6"},
		// Spill files on disk: /tmp is a tmpfs (memory) on many distributions.
		{"service", "Environment", "TMPDIR=/var/tmp"},
		{"timer", "OnCalendar", "*-*-* 02:30:00 UTC"}, {"timer", "Persistent", "true"},
	}
	for _, w := range want {
		got := s[w.key]
		if w.unit == "timer" {
			got = tm[w.key]
		}
		if !slices.Contains(got, w.value) {
			t.Errorf("credreg.%s: want %s=%s, got %q", w.unit, w.key, w.value, got)
		}
	}
	if len(tm["RandomizedDelaySec"]) == 0 {
		t.Errorf("credreg.timer: want RandomizedDelaySec")
	}
	// Each secret the example config names is a credential the unit loads.
	cfg := recipeConfig{Name: "systemd/credreg.yaml", Text: readRecipe(t, "systemd/credreg.yaml")}
	var creds []string
	for _, lc := range s["LoadCredential"] {
		name, _, _ := strings.Cut(lc, ":")
		creds = append(creds, "/run/credentials/credreg.service/"+name)
	}
	for _, p := range cfg.secretPaths(t) {
		if !slices.Contains(creds, p) {
			t.Errorf("credreg.yaml names %s; the unit's LoadCredential= gives %q", p, creds)
		}
	}
	if !regexp.MustCompile(`--config /etc/credreg/credreg\.yaml\b`).Match([]byte(strings.Join(s["ExecStart"], " "))) {
		t.Errorf("ExecStart: want --config /etc/credreg/credreg.yaml")
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("SKIPPED: systemd-analyze is not installed here; the units were NOT verified by systemd")
	}
	// verify wants ExecStart's program to exist and be executable: point it
	// at this test binary, which is.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	unit := bytes.ReplaceAll(service, []byte("ExecStart=/usr/local/bin/credreg "), []byte("ExecStart="+self+" "))
	if bytes.Equal(unit, service) {
		t.Fatalf("credreg.service: want ExecStart=/usr/local/bin/credreg …")
	}
	for name, b := range map[string][]byte{"credreg.service": unit, "credreg.timer": timer} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	svc, tmr := filepath.Join(dir, "credreg.service"), filepath.Join(dir, "credreg.timer")
	out, err := exec.Command(analyze, "verify", svc, tmr).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=true", "--threshold=20", svc).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: exposure above 2.0 (%v):\n%s", err, out)
	}
	if m := regexp.MustCompile(`Overall exposure level for credreg.service: (\S+)`).FindSubmatch(out); m != nil {
		t.Logf("systemd-analyze security: exposure %s", m[1])
	}
}
