package load

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"gocloud.dev/blob"

	"github.com/credreg/credreg/schemas"
)

// backend is a warehouse kind every sink test runs against.
type backend struct {
	name string
	// open returns a fresh, empty warehouse and, for a local one, its folder.
	open func(t *testing.T) (*Warehouse, string)
}

// rootBackends open warehouses with OpenWarehouse; backends adds a Sub of
// each, which must behave the same.
var (
	rootBackends = []backend{
		{"file", func(t *testing.T) (*Warehouse, string) {
			dir := t.TempDir()
			return openTest(t, "file://"+filepath.ToSlash(dir)), dir
		}},
		{"mem", func(t *testing.T) (*Warehouse, string) {
			return openTest(t, "mem://"), ""
		}},
		{"azblob", func(t *testing.T) (*Warehouse, string) {
			return openAzurite(t, "warehouse"), ""
		}},
	}
	backends = append(rootBackends[:len(rootBackends):len(rootBackends)], subBackend(rootBackends[0]), subBackend(rootBackends[1]), subBackend(rootBackends[2]))
)

// subBackend opens a Sub of b's warehouse. When the test ends, it checks
// that the parent's bucket and folder hold nothing outside the Sub.
func subBackend(b backend) backend {
	const prefix = "_failed/run_id=conformance"
	return backend{b.name + " sub", func(t *testing.T) (*Warehouse, string) {
		parent, dir := b.open(t)
		t.Cleanup(func() {
			for k := range objects(t, parent) {
				if !strings.HasPrefix(k, prefix+"/") {
					t.Errorf("the Sub wrote %s, outside %s/", k, prefix)
				}
			}
			if dir != "" {
				for _, f := range localFiles(t, dir) {
					if !strings.HasPrefix(f, prefix+"/") {
						t.Errorf("the Sub left %s in the folder, outside %s/", f, prefix)
					}
				}
			}
		})
		sub := subTest(t, parent, prefix)
		if dir == "" {
			return sub, ""
		}
		return sub, filepath.Join(dir, filepath.FromSlash(prefix))
	}}
}

// subTest returns parent.Sub(prefix), and closes it when the test ends,
// before the parent, whose Close (registered by openTest) must then still
// succeed.
func subTest(t *testing.T, parent *Warehouse, prefix string) *Warehouse {
	t.Helper()
	sub, err := parent.Sub(prefix)
	if err != nil {
		t.Fatalf("Sub(%q): %v", prefix, err)
	}
	t.Cleanup(func() {
		if err := sub.Close(); err != nil {
			t.Errorf("Close of the Sub: %v", err)
		}
	})
	return sub
}

func openTest(t *testing.T, loc string) *Warehouse {
	t.Helper()
	w, err := OpenWarehouse(context.Background(), loc)
	if err != nil {
		t.Fatalf("OpenWarehouse(%q): %v", loc, err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w
}

// checkedAllocator fails the test if anything the sink allocated is not
// released by the end of it.
func checkedAllocator(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func ptr[T any](v T) *T { return &v }

// sliceData holds the rows of the three tables of one slice.
type sliceData struct {
	users   []schemas.UserRow
	methods []schemas.MethodRow
	rejects []schemas.RejectRow
}

// makeSlice builds n users (two methods each) and nRejects rejects,
// covering NULLs, empty and NULL lists, and timestamps. seed changes the
// values, so two runs of a slice differ.
func makeSlice(key schemas.Key, runID string, n, nRejects, seed int) sliceData {
	var d sliceData
	extracted := time.Date(2025, 3, 4, 5, 6, 7, 891011000, time.UTC).Add(time.Duration(seed) * time.Hour)
	for i := range n {
		id := fmt.Sprintf("user-%d-%06d", seed, i)
		upn := fmt.Sprintf("u%d.%d@contoso.example", seed, i)
		u := schemas.UserRow{
			Key: key, UserID: id, UserPrincipalName: upn,
			Source: schemas.UserRegistrationDetails, IsMfaRegistered: ptr(i%2 == 0),
			AuthMethodCount: 2, ExtractedAt: extracted.Add(time.Duration(i) * time.Microsecond), RunID: runID,
		}
		switch i % 4 {
		case 0: // a v1.0 user with everything set
			u.UserDisplayName = ptr(fmt.Sprintf("User %d", i))
			u.UserType = ptr("member")
			u.IsAdmin, u.IsSsprCapable, u.IsPasswordlessCapable = ptr(i%8 == 0), ptr(true), ptr(false)
			u.DefaultMfaMethod = ptr("microsoftAuthenticatorPush")
			u.SystemPreferredMethods = []string{"push", "sms"}
			u.LastUpdatedAt = ptr(time.Date(2024, 12, 31, 23, 59, 59, 123456000, time.UTC))
		case 1: // an empty list, not NULL
			u.SystemPreferredMethods = []string{}
		case 2: // a beta user: v1.0 booleans NULL
			u.Source = schemas.CredentialUserRegistrationDetails
			u.IsRegistered, u.IsEnabled, u.IsCapable = ptr(true), ptr(false), ptr(true)
		}
		d.users = append(d.users, u)
		for _, m := range []string{"mobilePhone", "brandNewMethod"} {
			cat, known := schemas.LookupMethod(m)
			d.methods = append(d.methods, schemas.MethodRow{
				Key: key, UserID: id, UserPrincipalName: upn, Source: u.Source,
				AuthMethod: m, MethodFamily: cat.Family, UsableForMFA: cat.UsableForMFA,
				UsableForSSPR: cat.UsableForSSPR, IsKnownValue: known, RunID: runID,
			})
		}
	}
	for i := range nRejects {
		r := schemas.RejectRow{
			Key: key, Source: schemas.UserRegistrationDetails, PageSeq: int64(1 + i/10), RecordIndex: int64(i % 10),
			ReasonCode: "missing_id", ReasonDetail: "the record has no id", RawJSON: fmt.Sprintf(`{"n":%d,"seed":%d}`, i, seed), RunID: runID,
		}
		if i%2 == 1 {
			r.ReasonCode, r.UserID = "bad_upn", ptr(fmt.Sprintf("user-%d", i))
		}
		d.rejects = append(d.rejects, r)
	}
	return d
}

// batches cuts rows into record batches of at most size rows.
func batches[T any, P interface {
	*T
	Append(*array.RecordBuilder)
}](mem memory.Allocator, table *schemas.Table, rows []T, size int) []arrow.RecordBatch {
	var out []arrow.RecordBatch
	for start := 0; start < len(rows); start += size {
		b := array.NewRecordBuilder(mem, table.Arrow())
		for i := start; i < min(start+size, len(rows)); i++ {
			P(&rows[i]).Append(b)
		}
		out = append(out, b.NewRecordBatch())
		b.Release()
	}
	return out
}

// records is a slice's data as batches per table, in schemas.Tables order.
func (d sliceData) records(mem memory.Allocator, size int) [][]arrow.RecordBatch {
	recs := [][]arrow.RecordBatch{
		batches(mem, schemas.UserRegistrationDetailsTable, d.users, size),
		batches(mem, schemas.UserAuthMethodsTable, d.methods, size),
		batches(mem, schemas.RejectedRecordsTable, d.rejects, size),
	}
	// The derived tables (summary, changes) get no rows here: load
	// treats every table alike, and their files must still exist.
	for len(recs) < len(schemas.Tables) {
		recs = append(recs, nil)
	}
	return recs
}

// dropFirstRows replaces each batch of recs by its slice past its first
// row: sliced batches, as erase writes.
func dropFirstRows(recs []arrow.RecordBatch) {
	for i, r := range recs {
		recs[i] = r.NewSlice(1, r.NumRows())
		r.Release()
	}
}

// commitTable commits a slice whose table number tab (in schemas.Tables
// order) holds recs, and the others nothing.
func commitTable(t *testing.T, w *Warehouse, key schemas.Key, runID string, tab int, recs []arrow.RecordBatch, opts WriterOptions) []FileInfo {
	t.Helper()
	all := make([][]arrow.RecordBatch, len(schemas.Tables))
	all[tab] = recs
	return commitRecords(t, w, key, runID, all, opts, nil)
}

func release(recs [][]arrow.RecordBatch) {
	for _, rs := range recs {
		for _, r := range rs {
			r.Release()
		}
	}
}

// writeAll writes every batch, one goroutine per table as the pipeline may.
func writeAll(t *testing.T, ctx context.Context, s *SliceWriter, recs [][]arrow.RecordBatch) {
	t.Helper()
	errs := make(chan error, len(recs))
	for i, rs := range recs {
		go func() {
			for _, r := range rs {
				if err := s.Write(ctx, schemas.Tables[i], r); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range recs {
		if err := <-errs; err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
}

// commitSlice writes d as one run of the slice and commits it.
func commitSlice(t *testing.T, w *Warehouse, key schemas.Key, runID string, d sliceData, opts WriterOptions) []FileInfo {
	t.Helper()
	recs := d.records(memory.DefaultAllocator, 7)
	defer release(recs)
	return commitRecords(t, w, key, runID, recs, opts, nil)
}

// commitRecords writes the batches as one run of the slice and commits it;
// tune, if set, adjusts the writer before the first batch.
func commitRecords(t *testing.T, w *Warehouse, key schemas.Key, runID string, recs [][]arrow.RecordBatch, opts WriterOptions, tune func(*SliceWriter)) []FileInfo {
	t.Helper()
	ctx := context.Background()
	s, err := w.Begin(ctx, key, runID, opts)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	defer s.Abort()
	if tune != nil {
		tune(s)
	}
	writeAll(t, ctx, s, recs)
	infos, err := s.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if len(infos) != len(schemas.Tables) {
		t.Fatalf("Commit returned %d FileInfos, want %d", len(infos), len(schemas.Tables))
	}
	return infos
}

// objects returns every object key in the warehouse, relative to it, with
// the sha256 of its content: a snapshot of what a reader could see. The
// slices' leases, which no reader looks at, are left out (leaseFiles
// lists them).
func objects(t *testing.T, w *Warehouse) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	it := w.bucket.List(&blob.ListOptions{Prefix: w.prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if strings.HasPrefix(obj.Key, w.prefix+leaseDir+"/") {
			continue
		}
		b, err := w.bucket.ReadAll(ctx, obj.Key)
		if err != nil {
			t.Fatalf("ReadAll(%s): %v", obj.Key, err)
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(obj.Key, w.prefix)] = hex.EncodeToString(sum[:])
	}
}

// localFiles lists the files under dir, slash-separated and sorted, as a
// reader globbing the folder sees them, except the slices' lock files in
// _leases, which stay once created (see localLease).
func localFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p == filepath.Join(dir, leaseDir) {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// stagingFiles lists the names of the files in the local warehouse's
// _staging folder and the slices' folders in it: the slices being
// written.
func stagingFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(dir, stagingDir), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() {
			return err
		}
		out = append(out, d.Name())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// publishedFiles is localFiles without _staging: what a reader of the
// tables and manifests could see.
func publishedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, f := range localFiles(t, dir) {
		if !strings.HasPrefix(f, stagingDir+"/") {
			out = append(out, f)
		}
	}
	return out
}

// wantStaged checks that _staging holds exactly one staged file per table
// of the run.
func wantStaged(t *testing.T, dir, runID string) {
	t.Helper()
	files := stagingFiles(t, dir)
	if len(files) != len(schemas.Tables) {
		t.Errorf("_staging holds %v, want one file per table (%d)", files, len(schemas.Tables))
		return
	}
	for _, table := range schemas.Tables {
		prefix := runID + "-" + table.Name + "-"
		i := slices.IndexFunc(files, func(f string) bool {
			return strings.HasPrefix(f, prefix) && strings.HasSuffix(f, ".parquet.tmp")
		})
		if i < 0 {
			t.Errorf("_staging holds %v, none of them %s<hex>.parquet.tmp", files, prefix)
		}
	}
}

// sha256File is the hex sha256 of a file's content.
func sha256File(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
