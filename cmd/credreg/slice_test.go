package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/schemas"
)

// sliceDate is the snapshot date of the tests that read a slice back.
const sliceDate = "2026-11-20"

// sliceState is the run id of each table's file of the test's slice and
// of its manifest; "" for a file that is not there.
type sliceState struct {
	tables   [numTables]string // in schemas.Tables order
	manifest string
}

// numTables is len(schemas.Tables), a constant so that sliceState stays
// comparable; readSlice fails when the two part.
const numTables = 5

// whole: every file is there and all are of one run.
func (s sliceState) whole() bool {
	for _, r := range s.tables {
		if r == "" || r != s.manifest {
			return false
		}
	}
	return true
}

func (s sliceState) empty() bool { return s == sliceState{} }

// readSlice reads the slice of the default tenant (graphsim's) and date as a reader
// would: each table's part file, and the manifest.
func readSlice(t *testing.T, wh string) sliceState {
	t.Helper()
	var s sliceState
	if len(schemas.Tables) != numTables {
		t.Fatalf("schemas has %d tables; set numTables to it", len(schemas.Tables))
	}
	for i, table := range schemas.Tables {
		p := filepath.Join(wh, table.Name, "snapshot_date="+sliceDate, "tenant_id="+graphsim.DefaultTenantID, "part-00000.parquet")
		if _, err := os.Stat(p); err == nil {
			s.tables[i] = parquetRunID(t, p)
		}
	}
	b, err := os.ReadFile(filepath.Join(wh, "_manifests", "snapshot_date="+sliceDate, "tenant_id="+graphsim.DefaultTenantID+".json"))
	if err == nil {
		var m struct {
			RunID string `json:"run_id"`
		}
		if err := json.Unmarshal(b, &m); err != nil || m.RunID == "" {
			t.Fatalf("manifest is not complete JSON with a run id: %v\n%s", err, b)
		}
		s.manifest = m.RunID
	}
	return s
}

// checkReaderFiles walks every file a reader can find — all but the
// folders whose names start with "_" or ".", which Hive-style readers
// skip — and checks that each is a complete Parquet file of the run old
// or of one other run, which it returns ("" when none).
func checkReaderFiles(t *testing.T, wh, old string) string {
	t.Helper()
	other := ""
	err := filepath.WalkDir(wh, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != wh && (strings.HasPrefix(d.Name(), "_") || strings.HasPrefix(d.Name(), ".")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !strings.HasSuffix(p, ".parquet") {
			t.Errorf("a reader finds %s, which is not a Parquet file", p)
			return nil
		}
		run := parquetRunID(t, p)
		switch {
		case run == old:
		case other == "":
			other = run
		case run != other:
			t.Errorf("%s is of run %s; the slice's files are of %q and %q", p, run, old, other)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return other
}

// parquetRunID reads a Parquet file whole — a truncated or partial file
// fails — and returns the run id in its key-value metadata.
func parquetRunID(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader(data), nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("%s is not a complete Parquet file: %v", p, err)
	}
	tbl.Release()
	r, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	run := r.MetaData().KeyValueMetadata().FindValue("credreg.run_id")
	if run == nil || *run == "" {
		t.Fatalf("%s has no credreg.run_id", p)
	}
	return *run
}
