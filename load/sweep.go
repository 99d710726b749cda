package load

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/credreg/credreg/schemas"
)

// staleTemp is how old a leftover must be before Begin removes it. A
// process killed before Commit leaves its staged files in _staging; an
// hour is far longer than the interval at which a live SliceWriter
// refreshes its own (staleTemp/4, see heartbeat), so only files nobody
// writes any more are that old.
const staleTemp = time.Hour

// sweepStale removes what killed runs left in a local warehouse:
//
//   - every stale file in <root>/_staging and in the slices' folders
//     there, whatever the slice, since a killed run does not come back for
//     its files — except in a folder holding a publish intent, which only
//     the next writer of that slice may act on (see recoverSlice), and
//     stale empty slice folders;
//   - stale part-00000.parquet.<hex>.tmp files in the slice's partition
//     folders, which earlier versions of credreg staged next to the part
//     file.
//
// It is best effort: a file it cannot list or remove stays, harmless to
// readers.
func sweepStale(root string, key schemas.Key, now time.Time) {
	staging := filepath.Join(root, stagingDir)
	removeStale(staging, now, func(string) bool { return true })
	if entries, err := os.ReadDir(staging); err == nil {
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(staging, e.Name())
			if _, err := os.Lstat(filepath.Join(dir, intentName)); err == nil {
				continue
			}
			removeStale(dir, now, func(name string) bool { return true })
			if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleTemp {
				_ = os.Remove(dir) // only if empty
			}
		}
	}
	for _, t := range schemas.Tables {
		dir := filepath.Join(root, filepath.FromSlash(path.Dir(partKey(t.Name, key))))
		removeStale(dir, now, func(name string) bool { return strings.HasSuffix(name, ".tmp") })
	}
}

// removeStale removes the regular files of dir that match and were last
// modified more than staleTemp before now.
func removeStale(dir string, now time.Time, match func(name string) bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !match(e.Name()) {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleTemp {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
