package load

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"gocloud.dev/blob/fileblob"
)

func TestCheckWritable(t *testing.T) {
	asRoot := os.Geteuid() == 0
	// regularFile replaces whatever is at p with a regular file, where a
	// folder cannot be created whoever runs the test.
	regularFile := func(t *testing.T, p string) {
		t.Helper()
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("not a folder"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// readOnly makes dir read-only until the test ends.
	readOnly := func(t *testing.T, dir string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
	}
	cases := []struct {
		name string
		// open returns the warehouse and its parent's folder, "" if it
		// has none or the folder is not there.
		open       func(t *testing.T) (*Warehouse, string)
		needsUser  bool     // permissions do not stop root
		wantCause  error    // nil if writable
		wantInErr  []string // besides "is not writable"
		notInError string
	}{
		{name: "existing folder", open: func(t *testing.T) (*Warehouse, string) {
			dir := t.TempDir()
			return openTest(t, dir), dir
		}},
		{name: "folder removed since open, created again", open: func(t *testing.T) (*Warehouse, string) {
			base := t.TempDir()
			dir := filepath.Join(base, "a", "wh")
			w := openTest(t, dir)
			if err := os.RemoveAll(filepath.Join(base, "a")); err != nil {
				t.Fatal(err)
			}
			return w, dir
		}},
		{name: "file URL", open: func(t *testing.T) (*Warehouse, string) {
			dir := t.TempDir()
			return openTest(t, "file://"+filepath.ToSlash(dir)), dir
		}},
		{name: "mem", open: func(t *testing.T) (*Warehouse, string) {
			return openTest(t, "mem://b/wh"), ""
		}},
		{name: "Sub of a folder", open: func(t *testing.T) (*Warehouse, string) {
			dir := t.TempDir()
			return subTest(t, openTest(t, dir), "_failed/run_id=x"), dir
		}},
		{name: "Sub of mem", open: func(t *testing.T) (*Warehouse, string) {
			return subTest(t, openTest(t, "mem://"), "_failed/run_id=x"), ""
		}},
		{
			name: "read-only folder", needsUser: true,
			open: func(t *testing.T) (*Warehouse, string) {
				dir := filepath.Join(t.TempDir(), "wh")
				w := openTest(t, dir)
				readOnly(t, dir)
				return w, dir
			},
			wantCause: fs.ErrPermission,
			wantInErr: []string{"create _staging: permission denied"},
		},
		{
			name: "read-only _staging", needsUser: true,
			open: func(t *testing.T) (*Warehouse, string) {
				dir := t.TempDir()
				w := openTest(t, dir)
				readOnly(t, filepath.Join(dir, stagingDir))
				return w, dir
			},
			wantCause: fs.ErrPermission,
			wantInErr: []string{"create a file in _staging: permission denied"},
		},
		{
			name: "parent is a regular file",
			open: func(t *testing.T) (*Warehouse, string) {
				base := t.TempDir()
				dir := filepath.Join(base, "parent", "wh")
				w := openTest(t, dir)
				regularFile(t, filepath.Join(base, "parent"))
				return w, ""
			},
			wantCause: syscall.ENOTDIR,
			wantInErr: []string{"create the folder: not a directory"},
		},
		{
			name: "_staging is a regular file",
			open: func(t *testing.T) (*Warehouse, string) {
				dir := t.TempDir()
				w := openTest(t, dir)
				regularFile(t, filepath.Join(dir, stagingDir))
				return w, dir
			},
			wantCause: syscall.ENOTDIR,
			wantInErr: []string{"create _staging: not a directory"},
		},
		{
			name: "file URL with secrets, parent is a regular file",
			open: func(t *testing.T) (*Warehouse, string) {
				base := t.TempDir()
				keyFile := filepath.Join(base, "hunter2.key")
				if err := os.WriteFile(keyFile, []byte("hunter2hunter2"), 0o600); err != nil {
					t.Fatal(err)
				}
				dir := filepath.Join(base, "parent", "wh")
				w := openTest(t, "file://me:hunter2@localhost"+filepath.ToSlash(dir)+"?base_url=/show&secret_key_path="+keyFile)
				regularFile(t, filepath.Join(base, "parent"))
				return w, ""
			},
			wantCause:  syscall.ENOTDIR,
			wantInErr:  []string{"file://localhost/", "/parent/wh is not writable"},
			notInError: "hunter2",
		},
		{name: "gs (fake-gcs-server)", open: func(t *testing.T) (*Warehouse, string) {
			return openGCS(t, fakeGCS(t), nil), ""
		}},
		{name: "Sub of a folder whose _leases is a regular file: a Sub takes no lease", open: func(t *testing.T) (*Warehouse, string) {
			dir := t.TempDir()
			sub := subTest(t, openTest(t, dir), "_failed/run_id=x")
			regularFile(t, filepath.Join(sub.root, leaseDir))
			return sub, dir
		}},
		{
			name: "read-only _leases", needsUser: true,
			open: func(t *testing.T) (*Warehouse, string) {
				dir := t.TempDir()
				w := openTest(t, dir)
				readOnly(t, filepath.Join(dir, leaseDir))
				return w, dir
			},
			wantCause: fs.ErrPermission,
			wantInErr: []string{"create a file in _leases: permission denied"},
		},
		{
			name: "_leases is a regular file",
			open: func(t *testing.T) (*Warehouse, string) {
				dir := t.TempDir()
				w := openTest(t, dir)
				regularFile(t, filepath.Join(dir, leaseDir))
				return w, dir
			},
			wantCause: syscall.ENOTDIR,
			wantInErr: []string{"create _leases: not a directory"},
		},
		{
			// The bucket path, where _staging takes the probe but
			// _leases refuses it whoever runs the test.
			name: "bucket whose _leases refuses the probe",
			open: func(t *testing.T) (*Warehouse, string) {
				dir := t.TempDir()
				regularFile(t, filepath.Join(dir, leaseDir))
				opts := localOptions()
				b, err := fileblob.OpenBucket(dir, &opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				return &Warehouse{bucket: b, location: "test://refusing"}, ""
			},
			wantCause: syscall.ENOTDIR,
			wantInErr: []string{"warehouse test://refusing is not writable: write an object in _leases: not a directory"},
		},
		{
			// The bucket path, on a store that refuses the probe whoever
			// runs the test.
			name: "bucket that refuses the probe",
			open: func(t *testing.T) (*Warehouse, string) {
				dir := t.TempDir()
				regularFile(t, filepath.Join(dir, stagingDir))
				opts := localOptions()
				b, err := fileblob.OpenBucket(dir, &opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				return &Warehouse{bucket: b, location: "test://refusing"}, ""
			},
			wantCause: syscall.ENOTDIR,
			wantInErr: []string{"warehouse test://refusing is not writable: write an object in _staging: not a directory"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needsUser && asRoot {
				t.Skip("running as root, which permissions do not stop; the cases with a regular file in the way cover it")
			}
			w, dir := tc.open(t)
			// What CheckWritable must leave as it found it.
			snapshot := func() []string {
				if dir == "" {
					return slices.Sorted(maps.Keys(objects(t, &Warehouse{bucket: w.bucket})))
				}
				if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return localFiles(t, dir)
			}
			before := snapshot()
			err := w.CheckWritable(context.Background())
			if tc.wantCause == nil {
				if err != nil {
					t.Fatalf("CheckWritable = %v, want nil", err)
				}
				if info, err := os.Stat(w.root); w.root != "" && (err != nil || !info.IsDir()) {
					t.Errorf("after CheckWritable the folder %s is not there: %v", w.root, err)
				}
			} else {
				if !errors.Is(err, ErrNotWritable) || !errors.Is(err, tc.wantCause) {
					t.Fatalf("CheckWritable = %v, want ErrNotWritable and %v", err, tc.wantCause)
				}
				msg := err.Error()
				for _, want := range append([]string{"load: warehouse " + w.String() + " is not writable: "}, tc.wantInErr...) {
					if !strings.Contains(msg, want) {
						t.Errorf("error %q does not say %q", msg, want)
					}
				}
				if strings.Contains(msg, "\n") || (tc.notInError != "" && strings.Contains(msg, tc.notInError)) {
					t.Errorf("error %q is not one line free of %q", msg, tc.notInError)
				}
			}
			if after := snapshot(); !slices.Equal(after, before) {
				t.Errorf("CheckWritable left %v, want %v as before", after, before)
			}
			// snapshot skips _leases, where the lease probe goes.
			if entries, err := os.ReadDir(filepath.Join(w.root, leaseDir)); w.root != "" && err == nil && len(entries) != 0 {
				t.Errorf("CheckWritable left %d files in %s", len(entries), leaseDir)
			}
			if tc.wantCause == nil && w.root != "" && !w.shared {
				if info, err := os.Stat(filepath.Join(w.root, leaseDir)); err != nil || !info.IsDir() {
					t.Errorf("after CheckWritable %s is not a folder: %v", leaseDir, err)
				}
			}
		})
	}
}

// A done ctx says nothing about the warehouse: it is reported as such.
func TestCheckWritableCancelled(t *testing.T) {
	for _, loc := range []string{"mem://", t.TempDir()} {
		w := openTest(t, loc)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := w.CheckWritable(ctx)
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNotWritable) {
			t.Errorf("%s: CheckWritable with a cancelled ctx = %v, want context.Canceled and not ErrNotWritable", loc, err)
		}
	}
}
