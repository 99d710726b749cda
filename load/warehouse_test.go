package load

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/credreg/credreg/schemas"
)

func TestOpenWarehouse(t *testing.T) {
	base := t.TempDir()
	t.Chdir(base)
	cases := []struct {
		name    string
		loc     string
		wantDir string // folder the warehouse must write into ("" for mem)
		wantStr string
	}{
		{"relative path, created", "wh/nested", filepath.Join(base, "wh", "nested"), filepath.Join(base, "wh", "nested")},
		{"absolute path", filepath.Join(base, "abs"), filepath.Join(base, "abs"), filepath.Join(base, "abs")},
		{"file URL", "file://" + filepath.ToSlash(filepath.Join(base, "url")), filepath.Join(base, "url"), "file://" + filepath.ToSlash(filepath.Join(base, "url"))},
		{"file URL with localhost", "file://localhost" + filepath.ToSlash(filepath.Join(base, "lh")), filepath.Join(base, "lh"), "file://localhost" + filepath.ToSlash(filepath.Join(base, "lh"))},
		{"relative file URL", "file://./rel", filepath.Join(base, "rel"), "file://./rel"},
		{"mem URL", "mem://", "", "mem://"},
		{"mem URL with a folder", "mem://bucket/warehouse", "", "mem://bucket/warehouse"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := openTest(t, tc.loc)
			if got := w.String(); got != tc.wantStr {
				t.Errorf("String() = %q, want %q", got, tc.wantStr)
			}
			// Parquet files are staged in the folder the bucket writes into.
			if w.root != tc.wantDir {
				t.Errorf("root = %q, want %q", w.root, tc.wantDir)
			}
			key := schemas.Key{Date: day("2025-01-02"), Tenant: "t1"}
			commitSlice(t, w, key, "run-open", makeSlice(key, "run-open", 2, 1, 1), WriterOptions{})
			if tc.wantDir != "" {
				want := filepath.Join(tc.wantDir, filepath.FromSlash(partKey(schemas.Tables[0].Name, key)))
				if _, err := os.Stat(want); err != nil {
					t.Errorf("no file at %s: %v", want, err)
				}
				for _, f := range localFiles(t, tc.wantDir) {
					if strings.HasSuffix(f, ".attrs") {
						t.Errorf("sidecar %s written into the warehouse", f)
					}
				}
			}
		})
	}
}

func TestOpenWarehouseErrors(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o666); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, loc, wantInErr string }{
		{"empty", "", "empty"},
		{"a file, not a folder", notDir, "not a directory"},
		{"unknown scheme", "s4://bucket", "s4"},
		{"bad file URL parameter", "file:///tmp/x?bogus=1", "bogus"},
		{"bad parameter beside secrets", "file://user:hunter2@/tmp/x?bogus=hunter2", "bogus"},
		{"path and prefix", "mem://b/folder?prefix=other/", "both a path and a prefix"},
		{"unparseable URL", "gs://bucket/%zz?secret=hunter2", "invalid URL escape"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := OpenWarehouse(context.Background(), tc.loc)
			if err == nil {
				w.Close()
				t.Fatalf("OpenWarehouse(%q) succeeded", tc.loc)
			}
			if !strings.Contains(err.Error(), tc.wantInErr) {
				t.Errorf("error %q does not mention %q", err, tc.wantInErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q repeats a query parameter that may be a secret", err)
			}
		})
	}
}

func TestURLHandling(t *testing.T) {
	cases := []struct{ in, wantOpen, wantString string }{
		{"gs://bucket", "gs://bucket", "gs://bucket"},
		{"gs://bucket/", "gs://bucket/", "gs://bucket/"},
		{"gs://bucket/credreg/wh", "gs://bucket?prefix=credreg%2Fwh%2F", "gs://bucket/credreg/wh"},
		{"gs://bucket?prefix=wh/", "gs://bucket?prefix=wh/", "gs://bucket?prefix=wh%2F"},
		{"gs://user:pw@bucket/wh?access_id=x&private_key_path=/k", "gs://user:pw@bucket?access_id=x&prefix=wh%2F&private_key_path=%2Fk", "gs://bucket/wh"},
	}
	for _, tc := range cases {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redactedURL(u); got != tc.wantString {
			t.Errorf("redactedURL(%s) = %s, want %s", tc.in, got, tc.wantString)
		}
		open, err := pathToPrefix(u)
		if err != nil {
			t.Fatalf("pathToPrefix(%s): %v", tc.in, err)
		}
		if got := open.String(); got != tc.wantOpen {
			t.Errorf("pathToPrefix(%s) = %s, want %s", tc.in, got, tc.wantOpen)
		}
	}
}

func TestInvalidKeys(t *testing.T) {
	w := openTest(t, "mem://")
	ctx := context.Background()
	d := day("2025-01-02")
	cases := []struct {
		name      string
		key       schemas.Key
		wantInErr string
	}{
		{"empty tenant", schemas.Key{Date: d}, "empty tenant"},
		{"slash", schemas.Key{Date: d, Tenant: "a/b"}, `"/"`},
		{"equals", schemas.Key{Date: d, Tenant: "tenant_id=x"}, `"="`},
		{"dot dot", schemas.Key{Date: d, Tenant: ".."}, `".."`},
		{"no date", schemas.Key{Tenant: "t"}, "no snapshot date"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checks := map[string]error{}
			s, err := w.Begin(ctx, tc.key, "run", WriterOptions{})
			if s != nil {
				s.Abort()
			}
			checks["Begin"] = err
			checks["WriteManifest"] = w.WriteManifest(ctx, tc.key, []byte(`{}`))
			_, checks["ReadManifest"] = w.ReadManifest(ctx, tc.key)
			_, checks["ReadSlice"] = w.ReadSlice(ctx, schemas.UserAuthMethodsTable, tc.key)
			for op, err := range checks {
				if err == nil || !strings.Contains(err.Error(), tc.wantInErr) {
					t.Errorf("%s(%+v) = %v, want an error about %s", op, tc.key, err, tc.wantInErr)
				}
			}
		})
	}
	if objs := objects(t, w); len(objs) != 0 {
		t.Errorf("invalid keys wrote %v", objs)
	}
}

func TestWriteRejects(t *testing.T) {
	ctx := context.Background()
	key := schemas.Key{Date: day("2025-02-03"), Tenant: "tenant-w"}
	mem := checkedAllocator(t)
	d := makeSlice(key, "run", 3, 1, 1)
	other := schemas.Key{Date: day("2025-02-04"), Tenant: "tenant-w"}
	otherTenant := schemas.Key{Date: key.Date, Tenant: "tenant-v"}
	recs := d.records(mem, 10)
	defer release(recs)
	wrongDate := makeSlice(other, "run", 1, 0, 1).records(mem, 10)
	defer release(wrongDate)
	wrongTenant := makeSlice(otherTenant, "run", 1, 0, 1).records(mem, 10)
	defer release(wrongTenant)
	foreign := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil))
	foreignRec := foreign.NewRecordBatch()
	foreign.Release()
	defer foreignRec.Release()

	cases := []struct {
		name      string
		table     *schemas.Table
		rec       arrow.RecordBatch
		wantInErr string
	}{
		{"batch of another table", schemas.UserRegistrationDetailsTable, recs[1][0], "has 11 columns, want 24"},
		{"foreign schema", schemas.RejectedRecordsTable, foreignRec, "has 1 columns"},
		{"row of another day", schemas.UserRegistrationDetailsTable, wrongDate[0][0], "snapshot_date 2025-02-04, but the slice is 2025-02-03"},
		{"row of another tenant", schemas.UserAuthMethodsTable, wrongTenant[1][0], `tenant_id "tenant-v", but the slice is "tenant-w"`},
		{"unknown table", &schemas.Table{Name: "nope"}, recs[0][0], `"nope" is not a warehouse table`},
	}
	w := openTest(t, "mem://")
	s, err := w.Begin(ctx, key, "run", WriterOptions{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Write(ctx, tc.table, tc.rec)
			if err == nil || !strings.Contains(err.Error(), tc.wantInErr) {
				t.Errorf("Write = %v, want an error containing %q", err, tc.wantInErr)
			}
		})
	}

	// A rejected batch writes nothing: the slice still commits what is right.
	writeAll(t, ctx, s, recs)
	infos, err := s.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit after rejected batches: %v", err)
	}
	for i, fi := range infos {
		var want int64
		if len(recs[i]) > 0 {
			want = recs[i][0].NumRows()
		}
		if fi.Rows != want {
			t.Errorf("%s has %d rows, want %d", fi.Table, fi.Rows, want)
		}
	}
	if err := s.Write(ctx, schemas.UserRegistrationDetailsTable, recs[0][0]); err == nil || !strings.Contains(err.Error(), "already committed") {
		t.Errorf("Write after Commit = %v, want an error saying it is committed", err)
	}
	if _, err := s.Commit(ctx); err == nil {
		t.Error("a second Commit succeeded")
	}
	s.Abort() // no-op after Commit
	if got := objects(t, w); len(got) != len(schemas.Tables) {
		t.Errorf("Abort after Commit changed the warehouse: %v", got)
	}
	if _, err := w.Begin(ctx, key, "", WriterOptions{}); err == nil || !strings.Contains(err.Error(), "run id") {
		t.Errorf("Begin with no run id = %v, want an error about the run id", err)
	}
}

func TestManifest(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			w, dir := b.open(t)
			ctx := context.Background()
			key := schemas.Key{Date: day("2025-04-05"), Tenant: "tenant-m"}
			_, err := w.ReadManifest(ctx, key)
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("ReadManifest of a missing manifest = %v, want ErrNotFound", err)
			}
			if _, err := w.ReadSlice(ctx, schemas.UserRegistrationDetailsTable, key); !errors.Is(err, ErrNotFound) {
				t.Errorf("ReadSlice of a missing slice = %v, want ErrNotFound", err)
			}
			for _, m := range []string{`{"run_id":"a"}`, `{"run_id":"b","files":[]}`} {
				if err := w.WriteManifest(ctx, key, []byte(m)); err != nil {
					t.Fatal(err)
				}
				got, err := w.ReadManifest(ctx, key)
				if err != nil || string(got) != m {
					t.Fatalf("ReadManifest = %q, %v; want %q", got, err, m)
				}
			}
			if err := w.WriteManifest(ctx, key, []byte(`{"truncated":`)); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
				t.Errorf("WriteManifest of broken JSON = %v, want an error", err)
			}
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if err := w.WriteManifest(cancelled, key, []byte(`{"run_id":"c"}`)); err == nil {
				t.Error("WriteManifest with a cancelled context succeeded")
			}
			if got, _ := w.ReadManifest(ctx, key); string(got) != `{"run_id":"b","files":[]}` {
				t.Errorf("a failed WriteManifest replaced the manifest with %q", got)
			}
			if dir != "" {
				want := []string{"_manifests/snapshot_date=2025-04-05/tenant_id=tenant-m.json"}
				if got := localFiles(t, dir); !slices.Equal(got, want) {
					t.Errorf("folder holds %v, want %v", got, want)
				}
			}
		})
	}
}

func TestSlices(t *testing.T) {
	w, dir := backends[0].open(t)
	ctx := context.Background()
	keys := []schemas.Key{
		{Date: day("2025-01-03"), Tenant: "b"},
		{Date: day("2025-01-02"), Tenant: "z"},
		{Date: day("2025-01-03"), Tenant: "a"},
		{Date: time.Date(2025, 1, 2, 23, 30, 0, 0, time.FixedZone("x", -3600)), Tenant: "m"}, // 2025-01-03 UTC
	}
	for _, k := range keys {
		commitSlice(t, w, k, "run", makeSlice(k, "run", 1, 0, 1), WriterOptions{})
	}
	// What a crashed run and a stray tool leave behind is not a slice.
	for _, junk := range []string{
		"user_registration_details/snapshot_date=2025-01-05/tenant_id=c/part-00000.parquet.18a2b.tmp",
		"user_registration_details/snapshot_date=2025-01-05/tenant_id=c/part-00001.parquet",
		"user_registration_details/snapshot_date=not-a-date/tenant_id=c/part-00000.parquet",
		"user_registration_details/README",
	} {
		p := filepath.Join(dir, filepath.FromSlash(junk))
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("junk"), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	got, err := w.Slices(ctx, schemas.UserRegistrationDetailsTable)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range got {
		names = append(names, k.DateString()+"/"+k.Tenant)
	}
	want := []string{"2025-01-02/z", "2025-01-03/a", "2025-01-03/b", "2025-01-03/m"}
	if !slices.Equal(names, want) {
		t.Errorf("Slices = %v, want %v", names, want)
	}
	// A key read back from the listing names the same slice.
	tbl, err := w.ReadSlice(ctx, schemas.UserRegistrationDetailsTable, got[3])
	if err != nil {
		t.Fatalf("ReadSlice(%v): %v", got[3], err)
	}
	tbl.Release()
}

func TestReadSliceOfAnotherSchema(t *testing.T) {
	w := openTest(t, "mem://")
	ctx := context.Background()
	key := schemas.Key{Date: day("2025-05-06"), Tenant: "t"}
	commitSlice(t, w, key, "run", makeSlice(key, "run", 3, 0, 1), WriterOptions{})
	// Put the methods file where the users file belongs.
	data, err := w.bucket.ReadAll(ctx, partKey(schemas.UserAuthMethodsTable.Name, key))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.bucket.WriteAll(ctx, partKey(schemas.UserRegistrationDetailsTable.Name, key), data, nil); err != nil {
		t.Fatal(err)
	}
	_, err = w.ReadSlice(ctx, schemas.UserRegistrationDetailsTable, key)
	if err == nil || !strings.Contains(err.Error(), "11 columns") {
		t.Errorf("ReadSlice of a file of another table = %v, want an error naming the column count", err)
	}
}
