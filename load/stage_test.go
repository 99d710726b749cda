package load

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/schemas"
)

// On a local warehouse, however it is named, a slice being written lives
// in _staging only: the partitions hold exactly the previous files until
// Commit renames the new ones onto them, and Slices and ReadSlice do not
// see it.
func TestLocalStaging(t *testing.T) {
	for _, form := range []struct {
		name string
		loc  func(dir string) string
	}{
		{"plain path", func(dir string) string { return dir }},
		{"file URL", func(dir string) string { return "file://" + filepath.ToSlash(dir) }},
	} {
		t.Run(form.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openTest(t, form.loc(dir))
			if w.root != dir {
				t.Fatalf("warehouse root = %q, want %q", w.root, dir)
			}
			ctx := context.Background()
			key := schemas.Key{Date: day("2025-07-01"), Tenant: "tenant-s"}
			fresh := schemas.Key{Date: day("2025-07-01"), Tenant: "tenant-new"}
			prev := commitSlice(t, w, key, "run-1", makeSlice(key, "run-1", 10, 2, 1), WriterOptions{})
			before := publishedFiles(t, dir)

			recs := makeSlice(key, "run-2", 40, 3, 2).records(memory.DefaultAllocator, 8)
			defer release(recs)
			s, err := w.Begin(ctx, key, "run-2", WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Abort()
			writeAll(t, ctx, s, recs)
			freshRecs := makeSlice(fresh, "run-3", 5, 0, 3).records(memory.DefaultAllocator, 8)
			defer release(freshRecs)
			n, err := w.Begin(ctx, fresh, "run-3", WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Abort()
			writeAll(t, ctx, n, freshRecs)

			if got := publishedFiles(t, dir); !slices.Equal(got, before) {
				t.Errorf("before Commit the folder shows %v, want exactly the previous files %v", got, before)
			}
			for _, fi := range prev {
				if got := sha256File(t, filepath.Join(dir, fi.Path)); got != fi.SHA256 {
					t.Errorf("before Commit %s changed", fi.Path)
				}
			}
			if got := len(stagingFiles(t, dir)); got != 2*len(schemas.Tables) {
				t.Errorf("_staging holds %d files, want one per table of both slices", got)
			}
			for _, table := range schemas.Tables {
				keys, err := w.Slices(ctx, table)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(keys, []schemas.Key{key}) {
					t.Errorf("Slices(%s) = %v, want only the published %v", table.Name, keys, key)
				}
				if _, err := w.ReadSlice(ctx, table, fresh); !errors.Is(err, ErrNotFound) {
					t.Errorf("ReadSlice of a staged slice = %v, want ErrNotFound", err)
				}
			}

			n.Abort()
			wantStaged(t, dir, "run-2")
			infos, err := s.Commit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := stagingFiles(t, dir); len(got) != 0 {
				t.Errorf("after Commit _staging holds %v", got)
			}
			if got := publishedFiles(t, dir); !slices.Equal(got, before) {
				t.Errorf("after Commit the folder holds %v, want %v", got, before)
			}
			// The published file has the permissions of any file created
			// in the folder, not a temporary file's 0600.
			ref := filepath.Join(dir, "ref")
			if err := os.WriteFile(ref, nil, 0o666); err != nil {
				t.Fatal(err)
			}
			refInfo, err := os.Stat(ref)
			if err != nil {
				t.Fatal(err)
			}
			for i, fi := range infos {
				p := filepath.Join(dir, fi.Path)
				if got := sha256File(t, p); got != fi.SHA256 || got == prev[i].SHA256 {
					t.Errorf("after Commit %s has sha256 %s, want the new file's %s", fi.Path, got, fi.SHA256)
				}
				if info, err := os.Stat(p); err != nil || info.Mode() != refInfo.Mode() {
					t.Errorf("%s: mode %v (%v), want %v", fi.Path, info.Mode(), err, refInfo.Mode())
				}
			}
		})
	}
}

// A staged file that disappears before Commit (removed by hand, or swept
// from a machine whose clock jumped) fails Commit before the first file
// is published, whichever table it belongs to.
func TestStagedFileGoneFailsCommit(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, dir)
	ctx := context.Background()
	key := schemas.Key{Date: day("2025-07-02"), Tenant: "tenant-g"}
	commitSlice(t, w, key, "run-1", makeSlice(key, "run-1", 10, 2, 1), WriterOptions{})
	before := objects(t, w)

	recs := makeSlice(key, "run-2", 10, 2, 2).records(memory.DefaultAllocator, 8)
	defer release(recs)
	s, err := w.Begin(ctx, key, "run-2", WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	writeAll(t, ctx, s, recs)
	last := s.files[len(s.files)-1]
	if err := os.Remove(last.obj.(*stagedFile).path); err != nil {
		t.Fatal(err)
	}
	_, err = s.Commit(ctx)
	if err == nil || !strings.Contains(err.Error(), last.key) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Commit = %v, want a not-exist error naming %s", err, last.key)
	}
	if after := objects(t, w); len(after) != len(before) {
		t.Errorf("the warehouse holds %v, want the previous files %v", after, before)
	} else {
		for k, h := range before {
			if after[k] != h {
				t.Errorf("%s was replaced by a Commit that failed", k)
			}
		}
	}
	if got := stagingFiles(t, dir); len(got) != 0 {
		t.Errorf("after the failed Commit _staging holds %v", got)
	}
}

// fileblob stores these tenant ids under escaped folder names, where a
// renamed file would not be found again; a local warehouse refuses them.
func TestLocalTenantRefused(t *testing.T) {
	w := openTest(t, t.TempDir())
	for _, tenant := range []string{"a\x01b", "x__0x41__y"} {
		key := schemas.Key{Date: day("2025-07-03"), Tenant: tenant}
		s, err := w.Begin(context.Background(), key, "run", WriterOptions{})
		if err == nil {
			s.Abort()
			t.Errorf("Begin accepted tenant id %q", tenant)
		} else if !strings.Contains(err.Error(), "another folder name") {
			t.Errorf("Begin(%q) = %v, want an error about the folder name", tenant, err)
		}
	}
}

// A run id names the staged files, so it must not bring a path separator
// into them.
func TestFileNamePart(t *testing.T) {
	cases := map[string]string{
		"20260101T120000Z-0a1b2c": "20260101T120000Z-0a1b2c",
		"a/b c\\d":                "a_b_c_d",
		strings.Repeat("x", 100):  strings.Repeat("x", 64),
	}
	for in, want := range cases {
		if got := fileNamePart(in); got != want {
			t.Errorf("fileNamePart(%q) = %q, want %q", in, got, want)
		}
	}
}
