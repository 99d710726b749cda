package load

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Location shows where a store is without what may be a credential.
func TestLocation(t *testing.T) {
	abs, err := filepath.Abs("rel/dir")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ in, want string }{
		{"rel/dir", abs},
		{"/data/wh", "/data/wh"},
		{"file:///data/wh?no_tmp_dir=true", "file:///data/wh"},
		{"gs://user:secret@bucket/wh?access_token=secret", "gs://bucket/wh"},
		{"gs://bucket?prefix=wh%2F&access_token=secret", "gs://bucket?prefix=wh%2F"},
		{"mem://", "mem://"},
		{"gs://bucket/%zz?token=secret", "gs://(unparseable URL)"},
	}
	for _, tc := range cases {
		if got := Location(tc.in); got != tc.want {
			t.Errorf("Location(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(Location(tc.in), "secret") {
			t.Errorf("Location(%q) shows the secret", tc.in)
		}
	}
}

// The raw zone is <warehouse>/_raw unless given, and its location never
// shows a query parameter.
func TestOpenRaw(t *testing.T) {
	ctx := context.Background()
	wh := t.TempDir()
	other := t.TempDir()
	cases := []struct {
		name, warehouse, raw string
		wantDir, wantLoc     string
	}{
		{"default, folder", wh, "", filepath.Join(wh, "_raw"), filepath.Join(wh, "_raw")},
		{"default, file URL", "file://" + filepath.ToSlash(wh) + "?no_tmp_dir=true", "", filepath.Join(wh, "_raw"), "file://" + filepath.ToSlash(wh) + "/_raw"},
		{"given", wh, "file://" + filepath.ToSlash(other) + "?no_tmp_dir=true", other, "file://" + filepath.ToSlash(other)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, loc, err := OpenRaw(ctx, tc.warehouse, tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if loc != tc.wantLoc {
				t.Errorf("location = %q, want %q", loc, tc.wantLoc)
			}
			if err := b.WriteAll(ctx, "page-"+tc.name, []byte("{}"), nil); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(tc.wantDir, "page-"+tc.name)); err != nil {
				t.Errorf("the page is not in %s: %v", tc.wantDir, err)
			}
		})
	}
	t.Run("bucket with a prefix", func(t *testing.T) {
		b, loc, err := OpenRaw(ctx, "mem://?prefix=wh/", "")
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if want := "mem://?prefix=wh%2F_raw%2F"; loc != want {
			t.Errorf("location = %q, want %q", loc, want)
		}
	})
}

// A failed run's folder is _failed/run_id=<run>, a Sub.
func TestFailed(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, dir)
	f, err := w.Failed("run-7")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "_failed", "run_id=run-7"); f.String() != want {
		t.Errorf("Failed = %s, want %s", f, want)
	}
	for _, bad := range []string{"", "a/b", `a\b`} {
		if _, err := w.Failed(bad); err == nil {
			t.Errorf("Failed(%q) = nil error", bad)
		}
	}
}
