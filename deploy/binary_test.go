package deploy

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// nonroot is the distroless image's user and group.
const nonroot = 65532

// simClient and simSecret sign in to the simulator; the test writes them
// where each recipe's config expects its secrets.
const (
	simClient = "c4ed7e61-9a1b-4c2d-8e3f-5a6b7c8d9e0f"
	simSecret = "credreg-demo-secret"
)

// TestBinary builds credreg with the Dockerfile's go build line, checks it
// is static and stripped, and runs it as the image's user with every
// recipe's credreg.yaml against a credreg simulate it starts.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED in -short: builds credreg (minutes with a cold build cache)")
	}
	line := dockerBuildLine(t)
	words, err := shellWords(line)
	if err != nil {
		t.Fatal(err)
	}
	dir := sharedDir(t)
	bin := filepath.Join(dir, "credreg")
	env, args := words[0], words[1:] // CGO_ENABLED=0; go build … -o /out/credreg ./cmd/credreg
	if i := slices.Index(args, "-o"); i < 0 || args[0] != "go" {
		t.Fatalf("Dockerfile build line %q: want CGO_ENABLED=0 go build … -o", line)
	} else {
		args[i+1] = bin
	}
	build := exec.Command(args[0], args[1:]...)
	build.Dir = ".." // the repository root, the Dockerfile's build context
	build.Env = append(os.Environ(), env)
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built with %q in %s: %.1f MB", line, time.Since(start).Round(time.Second), float64(fi.Size())/1e6)
	checkStatic(t, bin)

	configs := []recipeConfig{
		kubeConfig(loadKube(t)),
		containerAppsConfig(t, loadContainerApps(t)),
		{Name: "cloudrun/credreg.yaml", Text: readRecipe(t, "cloudrun/credreg.yaml")},
		{Name: "systemd/credreg.yaml", Text: readRecipe(t, "systemd/credreg.yaml")},
	}
	var tenants []string
	for _, c := range configs {
		for _, tn := range c.tenants(t) {
			if id, ok := tn["id"].(string); ok && !slices.Contains(tenants, id) {
				tenants = append(tenants, id)
			}
		}
	}
	url, ca := startSimulator(t, bin, dir, tenants)
	asUser := runsAsNonroot(t)
	for i, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			runConfig(t, bin, url, ca, filepath.Join(dir, fmt.Sprintf("recipe%d", i)), c, asUser)
		})
	}
}

// sharedDir is a temporary folder the non-root user can enter (t.TempDir's
// parents are root's alone).
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "credreg-deploy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkStatic fails unless bin needs no dynamic loader (distroless/static
// has no libc) and carries no symbol table or DWARF (-s -w).
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary is dynamically linked (%v): it will not start on distroless/static", p.Type)
		}
	}
	for _, name := range []string{".symtab", ".debug_info", ".zdebug_info"} {
		if f.Section(name) != nil {
			t.Errorf("the binary has %s: not stripped", name)
		}
	}
}

// runsAsNonroot is the credential for the image's user when the test can
// switch to it (it runs as root), else nil, said loudly.
func runsAsNonroot(t *testing.T) *syscall.Credential {
	if os.Geteuid() != 0 {
		t.Logf("NOT CHECKED: running as uid %d, not root, so credreg runs as this user and not as %d", os.Geteuid(), nonroot)
		return nil
	}
	return &syscall.Credential{Uid: nonroot, Gid: nonroot, NoSetGroups: true}
}

// startSimulator starts `credreg simulate` with the recipes' tenants and
// returns its URL and CA file.
func startSimulator(t *testing.T, bin, dir string, tenants []string) (url, ca string) {
	t.Helper()
	ca = filepath.Join(dir, "sim-ca.pem")
	args := []string{"simulate", "--addr", "127.0.0.1:0", "--ca-out", ca, "--users", "300", "--no-throttle",
		"--client-id", simClient, "--log-format", "json"}
	for _, id := range tenants {
		args = append(args, "--tenant", id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export CREDREG_GRAPH_URL="); ok {
			url = u
			break
		}
	}
	if url == "" {
		cancel()
		_ = cmd.Wait()
		t.Fatalf("credreg simulate printed no URL:\n%s", stderr.String())
	}
	go func() { // drain the rest so the simulator never blocks on stdout
		for sc.Scan() {
		}
	}()
	return url, ca
}

// runConfig runs `credreg run` with a recipe's config and container args,
// its secret paths pointed at files holding the simulator's credentials,
// and checks that every tenant of it published.
func runConfig(t *testing.T, bin, url, ca, dir string, c recipeConfig, as *syscall.Credential) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	text := localConfig(t, c, dir, as)
	cfgPath := filepath.Join(dir, "credreg.yaml")
	if err := os.WriteFile(cfgPath, text, 0o644); err != nil {
		t.Fatal(err)
	}
	wh := filepath.Join(dir, "warehouse")
	if err := os.Mkdir(wh, 0o750); err != nil {
		t.Fatal(err)
	}
	if as != nil {
		if err := os.Chown(wh, nonroot, nonroot); err != nil {
			t.Fatal(err)
		}
	}
	// The recipes' own arguments (JSON logs, …); the config, the warehouse
	// and Graph are this machine's. The tenant rate is raised because the
	// simulator does not throttle.
	args := []string{"run", "--config", cfgPath, "--log-format=json", "--progress=log",
		"--warehouse", wh, "--graph-url", url, "--tenant-rate", "100/10s"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "SSL_CERT_FILE=" + ca, "AZURE_AUTHORITY_HOST=" + url, "GOMEMLIMIT=800MiB"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: as}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("credreg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, tn := range c.tenants(t) {
		m, _ := filepath.Glob(filepath.Join(wh, "_manifests", "snapshot_date=*", "tenant_id="+tn["id"].(string)+".json"))
		if len(m) != 1 {
			t.Errorf("tenant %v: no manifest published\n%s", tn["name"], out)
			continue
		}
		if as != nil {
			if st, err := os.Stat(m[0]); err != nil || st.Sys().(*syscall.Stat_t).Uid != nonroot {
				t.Errorf("tenant %v: manifest not written by uid %d", tn["name"], nonroot)
			}
		}
	}
}

// localConfig rewrites a recipe's credreg.yaml for this machine: each
// secret file it names becomes a file here holding the simulator's secret
// (or, for federated_token_file, a token for its client), and each client
// id becomes the simulator's. Keys stay as the recipe wrote them, so credreg
// still refuses an unknown or misspelt one.
func localConfig(t *testing.T, c recipeConfig, dir string, as *syscall.Credential) []byte {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(c.Text, &doc); err != nil {
		t.Fatal(err)
	}
	list, _ := doc["tenants"].([]any)
	for i, v := range list {
		tn, _ := v.(map[string]any)
		if _, ok := tn["client_id"]; ok {
			tn["client_id"] = simClient
		}
		for _, k := range secretPathKeys() {
			if _, ok := tn[k]; !ok {
				continue
			}
			content := simSecret
			if k == "federated_token_file" {
				content = federatedToken(simClient)
			}
			p := filepath.Join(dir, fmt.Sprintf("%s-%d", k, i))
			if err := os.WriteFile(p, []byte(content+"\n"), 0o400); err != nil {
				t.Fatal(err)
			}
			if as != nil {
				if err := os.Chown(p, nonroot, nonroot); err != nil {
					t.Fatal(err)
				}
			}
			tn[k] = p
		}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// federatedToken is a JWT shaped like the one a workload identity webhook
// projects: the simulator accepts an assertion whose iss and sub are the
// client id.
func federatedToken(client string) string {
	enc := base64.RawURLEncoding.EncodeToString
	header := enc([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims := enc(fmt.Appendf(nil, `{"iss":%q,"sub":%q,"aud":"api://AzureADTokenExchange","exp":%d}`,
		client, client, time.Now().Add(time.Hour).Unix()))
	return header + "." + claims + "." + enc([]byte("signature"))
}
