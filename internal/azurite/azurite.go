// Package azurite runs Azurite, Microsoft's Azure Storage emulator, for
// tests of azblob:// warehouses and raw zones.
//
// Azurite is a Node.js program (npm install azurite@3.37.0); Start finds
// its azurite-blob command through $CREDREG_AZURITE, then PATH, then
// node_modules/.bin of this folder and its parents, starts it on a free
// loopback port with its data in memory, waits until it answers, and
// stops it when the test ends. Without the command a test is skipped,
// loudly, unless $CREDREG_REQUIRE_AZURITE is 1 (as .ci/run sets it): then
// it fails, so that CI cannot pass without having run these tests.
//
// What Azurite models faithfully, and the tests rely on: shared-key
// authentication (it refuses a wrong key), containers, block blobs, and
// ETag access conditions (If-Match, If-None-Match) on uploads and deletes.
// Its ETags differ in form from Azure's, which is fine: credreg treats an
// ETag as opaque.
package azurite

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// The well-known development account every Azurite serves (documented by
// Microsoft; not a secret).
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Server is a running Azurite blob service.
type Server struct {
	// Host is its host:port on the loopback interface.
	Host string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs Azurite for the test (see the package doc) and stops it when
// the test ends. It also sets AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY
// for the test, so that azblob:// URLs reach the emulator's account.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		Missing(t, err)
	}
	t.Cleanup(s.Stop)
	t.Setenv("AZURE_STORAGE_ACCOUNT", Account)
	t.Setenv("AZURE_STORAGE_KEY", Key)
	return s
}

// Missing skips the test, loudly, or fails it when Azurite is required.
func Missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CREDREG_REQUIRE_AZURITE") == "1" {
		t.Fatalf("Azurite is required (CREDREG_REQUIRE_AZURITE=1) but cannot run: %v", err)
	}
	t.Skipf("!!! SKIPPED: azblob:// is NOT TESTED here: %v. Install it with `npm install azurite@3.37.0` and set CREDREG_AZURITE to its azurite-blob, or run .ci/run. !!!", err)
}

// Shared is a Server started at most once, for the tests of a package
// that share one emulator (each in containers of its own); the package's
// TestMain stops it.
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Get starts the emulator on first use and returns it, skipping or
// failing the test as Start does when it cannot run. Unlike Start it sets
// no environment (a parallel test cannot): the package's TestMain sets
// the account's, with Env.
func (s *Shared) Get(t testing.TB) *Server {
	t.Helper()
	s.once.Do(func() { s.srv, s.err = start() })
	if s.err != nil {
		Missing(t, s.err)
	}
	return s.srv
}

// Env is the environment that points azblob:// URLs at the emulator's
// account, as NAME=value pairs.
func Env() []string {
	return []string{"AZURE_STORAGE_ACCOUNT=" + Account, "AZURE_STORAGE_KEY=" + Key}
}

// Stop stops the emulator if it was started.
func (s *Shared) Stop() {
	if s.srv != nil {
		s.srv.Stop()
	}
}

// Binary finds the azurite-blob command.
func Binary() (string, error) {
	if p := os.Getenv("CREDREG_AZURITE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("CREDREG_AZURITE names %s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p, nil
	}
	dir, _ := os.Getwd()
	for dir != "" {
		p := filepath.Join(dir, "node_modules", ".bin", "azurite-blob")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("azurite-blob is not installed (not in $CREDREG_AZURITE, PATH or node_modules/.bin)")
}

func start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	host := net.JoinHostPort("127.0.0.1", port)
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", port,
		"--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--silent")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{Host: host, cmd: cmd, done: make(chan struct{})}
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/" + Account + "?comp=list")
		if err == nil {
			resp.Body.Close()
			return s, nil // any answer, even 403 for no credentials, means it serves
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("%s exited before answering (%v): %s", bin, waitErr, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("%s did not answer on %s within 60s: %s", bin, host, out.String())
		}
	}
}

// Stop ends the emulator and waits for it.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, nil
}

// Query is what an azblob:// URL needs to reach this emulator rather than
// Azure.
func (s *Server) Query() string {
	return url.Values{"protocol": {"http"}, "domain": {s.Host}, "localemu": {"true"}}.Encode()
}

// NewContainer creates a container with a name unique to the test and
// returns its azblob:// URL, with path (a folder, may be "") in it.
func (s *Server) NewContainer(t testing.TB, path string) string {
	t.Helper()
	name := "t" + strings.ToLower(rand.Text()[:20])
	if err := s.CreateContainer(context.Background(), name); err != nil {
		t.Fatalf("create container %s on Azurite: %v", name, err)
	}
	u := "azblob://" + name
	if path != "" {
		u += "/" + strings.Trim(path, "/")
	}
	return u + "?" + s.Query()
}

// CreateContainer creates a container with the SDK directly, as an
// operator would before pointing credreg at it.
func (s *Server) CreateContainer(ctx context.Context, name string) error {
	cred, err := azblob.NewSharedKeyCredential(Account, Key)
	if err != nil {
		return err
	}
	c, err := azblob.NewClientWithSharedKeyCredential("http://"+s.Host+"/"+Account, cred, nil)
	if err != nil {
		return err
	}
	_, err = c.CreateContainer(ctx, name, nil)
	return err
}
