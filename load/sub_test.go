package load

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/schemas"
)

func TestSubPrefix(t *testing.T) {
	key := schemas.Key{Date: day("2026-11-27"), Tenant: "t1"}
	cases := []struct {
		name      string
		prefix    string
		wantInErr string // "" for a valid prefix
		wantKey   string // where the Sub's manifest lands in the parent
	}{
		{"run folder", "_failed/run_id=20261127T100000Z-abc123", "", "_failed/run_id=20261127T100000Z-abc123/_manifests/snapshot_date=2026-11-27/tenant_id=t1.json"},
		{"one segment", "_quarantine", "", "_quarantine/_manifests/snapshot_date=2026-11-27/tenant_id=t1.json"},
		{"dots inside a name", "_failed/run.1..x", "", "_failed/run.1..x/_manifests/snapshot_date=2026-11-27/tenant_id=t1.json"},
		{"empty", "", "empty", ""},
		{"leading slash", "/_failed/x", `starts with "/"`, ""},
		{"trailing slash", "_failed/x/", "empty segment", ""},
		{"double slash", "_failed//x", "empty segment", ""},
		{"dot dot", "_failed/../x", `".."`, ""},
		{"only dot dot", "..", `".."`, ""},
		{"dot", "_failed/./x", `"."`, ""},
		{"no underscore", "failed/run_id=x", `does not start with "_"`, ""},
		{"a table", "user_registration_details", `does not start with "_"`, ""},
		{"the staging folder", "_staging/x", "_staging", ""},
		{"the manifests folder", "_manifests", "_manifests", ""},
		{"backslash", `_failed\x`, "not portable", ""},
		{"colon", "_failed/run:1", "not portable", ""},
		{"control character", "_failed/a\nb", "not portable", ""},
		{"fileblob escape", "_failed/__0x2f__", "__0x", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := openTest(t, "mem://")
			sub, err := w.Sub(tc.prefix)
			if tc.wantInErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantInErr) {
					t.Errorf("Sub(%q) = %v, want an error about %s", tc.prefix, err, tc.wantInErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Sub(%q): %v", tc.prefix, err)
			}
			if err := sub.WriteManifest(context.Background(), key, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			if got := slices.Collect(maps.Keys(objects(t, w))); !slices.Equal(got, []string{tc.wantKey}) {
				t.Errorf("the parent holds %v, want [%s]", got, tc.wantKey)
			}
		})
	}
}

// String shows where the Sub is, in a form OpenWarehouse reads back, and
// never what the parent's URL held besides its location.
func TestSubString(t *testing.T) {
	dir := t.TempDir()
	slashDir := filepath.ToSlash(dir)
	keyFile := filepath.Join(t.TempDir(), "hunter2.key")
	if err := os.WriteFile(keyFile, []byte("hunter2hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	const prefix = "_failed/run_id=x"
	cases := []struct {
		name, parent, want string
		open               bool // the parent can be opened here
	}{
		{"folder", dir, filepath.Join(dir, "_failed", "run_id=x"), true},
		{"file URL", "file://" + slashDir, "file://" + slashDir + "/_failed/run_id=x", true},
		{"file URL with secrets", "file://me:hunter2@localhost" + slashDir + "?base_url=/show&secret_key_path=" + keyFile, "file://localhost" + slashDir + "/_failed/run_id=x", true},
		{"mem URL", "mem://", "mem:///_failed/run_id=x", true},
		{"mem URL with a folder", "mem://b/wh/", "mem://b/wh/_failed/run_id=x", true},
		{"gs bucket", "gs://bucket", "gs://bucket/_failed/run_id=x", false},
		{"gs folder with secrets", "gs://user:hunter2@bucket/wh?access_id=x&private_key_path=/hunter2", "gs://bucket/wh/_failed/run_id=x", false},
		{"gs prefix parameter", "gs://bucket?prefix=wh/", "gs://bucket?prefix=wh%2F_failed%2Frun_id%3Dx%2F", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var w *Warehouse
			if tc.open {
				w = openTest(t, tc.parent)
			} else {
				// Opening gs:// needs credentials; String needs only the
				// location OpenWarehouse keeps.
				u, err := url.Parse(tc.parent)
				if err != nil {
					t.Fatal(err)
				}
				w = &Warehouse{location: redactedURL(u)}
			}
			sub, err := w.Sub(prefix)
			if err != nil {
				t.Fatal(err)
			}
			got := sub.String()
			if got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			if strings.Contains(got, "hunter2") || strings.Contains(got, "access_id") {
				t.Errorf("String() = %q shows a secret of the parent's URL", got)
			}
			nested, err := sub.Sub("_x")
			if err != nil {
				t.Fatal(err)
			}
			if tc.open && nested.String() == got {
				t.Errorf("a Sub of the Sub has the same String %q", got)
			}
		})
	}
}

// Writing a slice and its manifest through a Sub leaves the parent's
// published slice and manifest as they were, byte for byte and file for
// file, and the Sub reads back what it wrote.
func TestSubLeavesParentUntouched(t *testing.T) {
	const prefix = "_failed/run_id=20261127T100000Z-abc123"
	key := schemas.Key{Date: day("2026-11-27"), Tenant: "tenant-f"}
	cases := []struct {
		name string
		// write runs in the Sub; it returns the runs it committed, last
		// one last, and the manifest it wrote ("" for none).
		write func(t *testing.T, sub *Warehouse) (runs []sliceData, manifest string)
	}{
		{"Commit and WriteManifest", func(t *testing.T, sub *Warehouse) ([]sliceData, string) {
			d := makeSlice(key, "run-2", 17, 6, 2)
			commitSlice(t, sub, key, "run-2", d, WriterOptions{})
			m := `{"run_id":"run-2","status":"contract_breached"}`
			if err := sub.WriteManifest(context.Background(), key, []byte(m)); err != nil {
				t.Fatal(err)
			}
			return []sliceData{d}, m
		}},
		{"rerun in the Sub", func(t *testing.T, sub *Warehouse) ([]sliceData, string) {
			d1, d2 := makeSlice(key, "run-2", 9, 1, 2), makeSlice(key, "run-3", 4, 2, 3)
			commitSlice(t, sub, key, "run-2", d1, WriterOptions{})
			commitSlice(t, sub, key, "run-3", d2, WriterOptions{})
			return []sliceData{d1, d2}, ""
		}},
		{"Abort", func(t *testing.T, sub *Warehouse) ([]sliceData, string) {
			ctx := context.Background()
			recs := makeSlice(key, "run-2", 30, 3, 2).records(memory.DefaultAllocator, 8)
			defer release(recs)
			s, err := sub.Begin(ctx, key, "run-2", WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, ctx, s, recs)
			s.Abort()
			return nil, ""
		}},
		{"CheckWritable", func(t *testing.T, sub *Warehouse) ([]sliceData, string) {
			if err := sub.CheckWritable(context.Background()); err != nil {
				t.Fatal(err)
			}
			return nil, ""
		}},
	}
	for _, b := range rootBackends {
		for _, tc := range cases {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				w, dir := b.open(t)
				first := makeSlice(key, "run-1", 20, 4, 1)
				published := commitSlice(t, w, key, "run-1", first, WriterOptions{})
				const parentManifest = `{"run_id":"run-1"}`
				if err := w.WriteManifest(ctx, key, []byte(parentManifest)); err != nil {
					t.Fatal(err)
				}
				before := objects(t, w)
				var beforeFiles map[string]os.FileInfo
				if dir != "" {
					beforeFiles = statFiles(t, dir)
				}

				sub := subTest(t, w, prefix)
				runs, manifest := tc.write(t, sub)

				// The parent: the same objects, the same files (not
				// replaced by equal ones), the same slice and manifest.
				after := objects(t, w)
				subObjects := map[string]string{}
				for k, h := range after {
					if rest, ok := strings.CutPrefix(k, prefix+"/"); ok {
						subObjects[rest] = h
						delete(after, k)
					}
				}
				if !maps.Equal(after, before) {
					t.Errorf("outside %s the warehouse holds\n%v\nwant as before\n%v", prefix, after, before)
				}
				if dir != "" {
					for p, info := range statFiles(t, dir) {
						if strings.HasPrefix(p, prefix+"/") {
							continue
						}
						was, ok := beforeFiles[p]
						if !ok {
							t.Errorf("%s appeared outside the Sub", p)
						} else if !os.SameFile(was, info) || !was.ModTime().Equal(info.ModTime()) {
							t.Errorf("%s was replaced or modified", p)
						}
					}
					for p := range beforeFiles {
						if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
							t.Errorf("%s is gone: %v", p, err)
						}
					}
				}
				if got, err := w.ReadManifest(ctx, key); err != nil || string(got) != parentManifest {
					t.Errorf("the parent's manifest is %q, %v; want %q", got, err, parentManifest)
				}
				for i, table := range schemas.Tables {
					got, err := w.ReadSlice(ctx, table, key)
					if err != nil {
						t.Fatal(err)
					}
					if got.NumRows() != published[i].Rows {
						t.Errorf("the parent's %s has %d rows, want the first run's %d", table.Name, got.NumRows(), published[i].Rows)
					}
					got.Release()
				}

				// The Sub: exactly what it published, read back.
				want := map[string]string{}
				if len(runs) > 0 {
					for _, table := range schemas.Tables {
						want[partKey(table.Name, key)] = ""
					}
				}
				if manifest != "" {
					want[manifestKey(key)] = ""
					if got, err := sub.ReadManifest(ctx, key); err != nil || string(got) != manifest {
						t.Errorf("the Sub's manifest is %q, %v; want %q", got, err, manifest)
					}
				}
				if got, w := slices.Sorted(maps.Keys(subObjects)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
					t.Errorf("the Sub holds %v, want %v", got, w)
				}
				if dir != "" {
					subDir := filepath.Join(dir, filepath.FromSlash(prefix))
					if got := localFiles(t, subDir); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
						t.Errorf("the Sub's folder holds %v, want %v (nothing staged)", got, slices.Sorted(maps.Keys(want)))
					}
				}
				if len(runs) == 0 {
					return
				}
				keys, err := sub.Slices(ctx, schemas.UserAuthMethodsTable)
				if err != nil || !slices.Equal(keys, []schemas.Key{key}) {
					t.Errorf("the Sub's Slices = %v, %v; want [%v]", keys, err, key)
				}
				last := runs[len(runs)-1]
				checkSliceData(t, sub, key, last)
				if dir != "" {
					// What String shows opens as the same warehouse.
					checkSliceData(t, openTest(t, sub.String()), key, last)
				}
			})
		}
	}
}

// checkSliceData reads the slice's three tables back from w and compares
// them with d.
func checkSliceData(t *testing.T, w *Warehouse, key schemas.Key, d sliceData) {
	t.Helper()
	recs := d.records(memory.DefaultAllocator, 1000)
	defer release(recs)
	for i, table := range schemas.Tables {
		got, err := w.ReadSlice(context.Background(), table, key)
		if err != nil {
			t.Fatalf("%s: ReadSlice(%s): %v", w, table.Name, err)
		}
		want := array.NewTableFromRecords(table.Arrow(), recs[i])
		compareTables(t, table.Name, got, want)
		want.Release()
		got.Release()
	}
}

// statFiles is localFiles with each file's os.FileInfo, which tells a file
// replaced by an identical one from the same file.
func statFiles(t *testing.T, dir string) map[string]os.FileInfo {
	t.Helper()
	out := map[string]os.FileInfo{}
	for _, f := range localFiles(t, dir) {
		info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = info
	}
	return out
}

// The Sub stages in its own _staging, and each Begin sweeps only its own
// warehouse: leftovers of the other, stale or not, and the staged files of
// a live slice of the other — even ones that look stale — stay.
func TestSubSweeps(t *testing.T) {
	const prefix = "_failed/run_id=x"
	key := schemas.Key{Date: day("2026-11-27"), Tenant: "t1"}
	cases := []struct {
		name       string
		subSweeps  bool // the Sub calls Begin; else the parent does
		wantParent bool // the parent's stale leftovers stay
		wantSub    bool // the Sub's stale leftovers stay
	}{
		{"the Sub's Begin", true, true, false},
		{"the parent's Begin", false, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			w := openTest(t, dir)
			sub := subTest(t, w, prefix)
			subDir := filepath.Join(dir, filepath.FromSlash(prefix))
			if sub.root != subDir {
				t.Fatalf("the Sub's root is %s, want %s", sub.root, subDir)
			}
			// A live slice of the other warehouse, whose heartbeat is late.
			old := time.Now().Add(-2 * staleTemp)
			sweeper, other := w, sub
			if tc.subSweeps {
				sweeper, other = sub, w
			}
			otherData := makeSlice(key, "run-live", 12, 2, 5)
			recs := otherData.records(memory.DefaultAllocator, 5)
			defer release(recs)
			live, err := other.Begin(ctx, key, "run-live", WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer live.Abort()
			writeAll(t, ctx, live, recs)
			for _, p := range live.beat.paths {
				if !strings.HasPrefix(p, other.root+string(filepath.Separator)+stagingDir) {
					t.Errorf("staged %s, outside %s's _staging", p, other)
				}
				if err := os.Chtimes(p, old, old); err != nil {
					t.Fatal(err)
				}
			}

			// What killed runs left in both, after the live slice's Begin
			// swept its own.
			leftovers := func(root string) []string {
				return []string{
					filepath.Join(root, stagingDir, "run-0-user_auth_methods-0123456789abcdef.parquet.tmp"),
					filepath.Join(root, "user_auth_methods", "snapshot_date=2026-11-27", "tenant_id=t1", "part-00000.parquet.18a3f.tmp"),
				}
			}
			for _, p := range append(leftovers(dir), leftovers(subDir)...) {
				writeOld(t, p, old)
			}

			s, err := sweeper.Begin(ctx, key, "run-sweep", WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s.Abort()

			for _, c := range []struct {
				paths []string
				want  bool
			}{{leftovers(dir), tc.wantParent}, {leftovers(subDir), tc.wantSub}} {
				for _, p := range c.paths {
					_, err := os.Stat(p)
					switch {
					case c.want && err != nil:
						t.Errorf("%s was swept: %v", p, err)
					case !c.want && !errors.Is(err, fs.ErrNotExist):
						t.Errorf("%s was not swept: %v", p, err)
					}
				}
			}
			if _, err := live.Commit(ctx); err != nil {
				t.Fatalf("the live slice's Commit after the other's Begin: %v", err)
			}
			checkSliceData(t, other, key, otherData)
		})
	}
}

func writeOld(t *testing.T, p string, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("PAR1 half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// The Sub shares the parent's bucket: closing the Sub leaves the parent
// open (and openTest checks that the parent's own Close still succeeds),
// while closing the parent ends the Sub.
func TestSubClose(t *testing.T) {
	ctx := context.Background()
	key := schemas.Key{Date: day("2026-11-27"), Tenant: "t1"}
	w, err := OpenWarehouse(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := w.Sub("_failed/x")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := sub.Close(); err != nil {
			t.Fatalf("Close of the Sub: %v", err)
		}
	}
	if err := w.WriteManifest(ctx, key, []byte(`{}`)); err != nil {
		t.Errorf("the parent after the Sub's Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close of the parent after the Sub's: %v", err)
	}
	if _, err := sub.ReadManifest(ctx, key); err == nil {
		t.Error("the Sub still reads after its parent is closed")
	}
}

// A Sub that kept nothing leaves no folder behind; one that kept a slice
// keeps it.
func TestSubPrune(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenWarehouse(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	empty, err := w.Sub("_failed/run_id=a")
	if err != nil {
		t.Fatal(err)
	}
	if err := empty.CheckWritable(context.Background()); err != nil { // creates its folders
		t.Fatal(err)
	}
	empty.Prune()
	if _, err := os.Stat(filepath.Join(dir, "_failed")); !os.IsNotExist(err) {
		t.Errorf("an empty Sub left its folders: %v", err)
	}
	kept, err := w.Sub("_failed/run_id=b")
	if err != nil {
		t.Fatal(err)
	}
	if err := kept.WriteManifest(context.Background(), pruneKey, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	kept.Prune()
	if _, err := kept.ReadManifest(context.Background(), pruneKey); err != nil {
		t.Errorf("Prune removed what the Sub kept: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("Prune removed the warehouse: %v", err)
	}
}

var pruneKey = schemas.Key{Date: day("2025-03-06"), Tenant: "tenant-p"}
