package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// The floor is the work no replay of these pages can skip, given the
// formats: the raw zone is gzip (the premise) and the tables are
// zstd Parquet. It inflates every landed page, looks at every JSON byte
// once, and compresses every page of credreg's own output again with the
// encoder credreg uses (zstd's fastest level, a 1 MiB window). What a
// replay spends beyond the floor is JSON decoding, row building, Parquet
// encoding, duplicate detection, the trends tables, and I/O. Each stage
// runs alone on one core, three times; the best run counts.

// floorRounds is how many times each stage runs.
const floorRounds = 3

// floorStage is one stage's best time.
type floorStage struct {
	name     string
	cpu      float64 // seconds, user and system
	in, out  int64   // bytes
	inUnit   string
	outUnit  string
	skipSize bool
}

// floor measures the stages over the raw zone rawDir and the warehouse wh
// that credreg wrote from it, and prints them against budgetWall, the wall
// time the target allows.
func floor(rawDir, wh string, budgetWall float64, cpus int) error {
	gz, err := readPages(rawDir)
	if err != nil {
		return err
	}
	pages, err := parquetPages(wh)
	if err != nil {
		return err
	}
	var jsonPages [][]byte
	inflate := floorStage{name: "inflate the raw pages (gzip)", inUnit: "gz", outUnit: "JSON"}
	inflate.cpu, err = best(func() error {
		jsonPages, inflate.in, inflate.out, err = inflateAll(gz, jsonPages)
		return err
	})
	if err != nil {
		return err
	}
	look := floorStage{name: "look at every JSON byte once", skipSize: true}
	var quotes int
	look.cpu, _ = best(func() error {
		quotes = 0
		for _, p := range jsonPages {
			quotes += bytes.Count(p, []byte{'"'})
		}
		return nil
	})
	enc, err := zstd.NewWriter(nil, zstd.WithZeroFrames(true), zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1), zstd.WithAllLitEntropyCompression(true), zstd.WithWindowSize(1<<20))
	if err != nil {
		return err
	}
	compress := floorStage{name: "zstd the output's pages again (level 1)", inUnit: "pages", outUnit: "zstd"}
	var dst []byte
	compress.cpu, _ = best(func() error {
		compress.in, compress.out = 0, 0
		for _, p := range pages {
			dst = enc.EncodeAll(p, dst[:0])
			compress.in += int64(len(p))
			compress.out += int64(len(dst))
		}
		return nil
	})

	fmt.Printf("\nfloor: the work no replay can skip (each stage alone on one core, best of %d):\n", floorRounds)
	var sum float64
	for _, s := range []floorStage{inflate, look, compress} {
		sum += s.cpu
		if s.skipSize {
			fmt.Printf("  %-42s %6.2f CPU s\n", s.name, s.cpu)
			continue
		}
		fmt.Printf("  %-42s %6.2f CPU s  (%.0f MB %s -> %.0f MB %s)\n", s.name, s.cpu, float64(s.in)/1e6, s.inUnit, float64(s.out)/1e6, s.outUnit)
	}
	budget := budgetWall * float64(cpus)
	fmt.Printf("  %-42s %6.2f CPU s = %.2f s wall on %d CPUs at best\n", "sum", sum, sum/float64(cpus), cpus)
	fmt.Printf("3x DuckDB's median wall is %.2f s: %.2f CPU s on %d CPUs, of which %.2f CPU s are left beyond the floor\n",
		budgetWall, budget, cpus, budget-sum)
	_ = quotes
	return nil
}

// best runs f floorRounds times and returns its least CPU time.
func best(f func() error) (float64, error) {
	least := -1.0
	for range floorRounds {
		before := cpuSeconds()
		if err := f(); err != nil {
			return 0, err
		}
		if d := cpuSeconds() - before; least < 0 || d < least {
			least = d
		}
	}
	return least, nil
}

// cpuSeconds is the process's CPU time so far, user and system.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return time.Duration(t.Nano()).Seconds() }
	return tv(ru.Utime) + tv(ru.Stime)
}

// readPages returns the bytes of every landed page under rawDir.
func readPages(rawDir string) ([][]byte, error) {
	var out [][]byte
	err := filepath.WalkDir(rawDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !pageName.MatchString(d.Name()) {
			return err
		}
		b, err := os.ReadFile(path)
		out = append(out, b)
		return err
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("no landed pages under %s", rawDir)
	}
	return out, err
}

// inflateAll gunzips every page into dst's buffers, reused across rounds.
func inflateAll(gz, dst [][]byte) (out [][]byte, in, n int64, err error) {
	var zr gzip.Reader
	for i, p := range gz {
		if err := zr.Reset(bytes.NewReader(p)); err != nil {
			return nil, 0, 0, err
		}
		var buf []byte
		if i < len(dst) {
			buf = dst[i][:0]
		}
		w := bytes.NewBuffer(buf)
		if _, err := io.Copy(w, &zr); err != nil {
			return nil, 0, 0, err
		}
		if i < len(dst) {
			dst[i] = w.Bytes()
		} else {
			dst = append(dst, w.Bytes())
		}
		in += int64(len(p))
		n += int64(w.Len())
	}
	return dst, in, n, nil
}

// parquetPages returns the uncompressed bytes of every page of every
// Parquet file under wh: what credreg's writer handed to zstd.
func parquetPages(wh string) ([][]byte, error) {
	var out [][]byte
	err := filepath.WalkDir(wh, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".parquet") {
			return err
		}
		r, err := file.OpenParquetFile(path, false)
		if err != nil {
			return err
		}
		defer r.Close()
		for g := range r.NumRowGroups() {
			rg := r.RowGroup(g)
			for c := range r.MetaData().Schema.NumColumns() {
				pr, err := rg.GetColumnPageReader(c)
				if err != nil {
					return err
				}
				for pr.Next() {
					out = append(out, bytes.Clone(pr.Page().Data()))
				}
				if err := pr.Err(); err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
			}
		}
		return nil
	})
	return out, err
}
