package extract

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

var importAt = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)

// savedFile is a saved export held in memory.
type savedFile struct {
	name string
	data []byte
}

func importTestFiles(files ...savedFile) []ImportFile {
	out := make([]ImportFile, len(files))
	for i, f := range files {
		out[i] = ImportFile{Name: f.name, Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(f.data)), nil
		}}
	}
	return out
}

// runImport imports files into a fresh memory bucket as the beta report
// of testDay for an upper-case tenant (which Import lowercases).
func runImport(t *testing.T, pageSize int, files ...savedFile) (*blob.Bucket, RawIndex, error) {
	t.Helper()
	bucket := memblob.OpenBucket(nil)
	t.Cleanup(func() { bucket.Close() })
	idx, err := Import(context.Background(), importTestFiles(files...), ImportOptions{
		Bucket: bucket, Key: schemas.Key{Tenant: "ABCDEF01-0000-0000-0000-000000000001", Date: testDay},
		Endpoint: schemas.CredentialUserRegistrationDetails, RunID: "20261120T093000Z-im",
		PageSize: pageSize, Now: func() time.Time { return importAt },
	})
	return bucket, idx, err
}

// landedBodies reads back every landed page, in seq order.
func landedBodies(t *testing.T, bucket *blob.Bucket, idx RawIndex) []string {
	t.Helper()
	var out []string
	for i, p := range idx.Pages {
		if p.Seq != int64(i+1) {
			t.Errorf("page %d has seq %d", i, p.Seq)
		}
		body, err := ReadRawPage(context.Background(), bucket, p.Key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(body))
	}
	return out
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const (
	page1 = `{"@odata.context":"https://graph.microsoft.com/beta/$metadata#x","value":[{"id":"a"},{"id":"b"}],"@odata.nextLink":"https://graph.microsoft.com/beta/reports/x?$skiptoken=1"}`
	page2 = `{"@odata.context":"https://graph.microsoft.com/beta/$metadata#x","value":[{"id":"c"},{"id":"d"}],"@odata.nextLink":"https://graph.microsoft.com/beta/reports/x?$skiptoken=2"}`
	page3 = `{"@odata.context":"https://graph.microsoft.com/beta/$metadata#x","value":[{"id":"e"}]}`
)

// Every accepted format lands the pages a replay reads: pages byte for
// byte as saved, records cut into envelopes around their own bytes.
func TestImportFormats(t *testing.T) {
	pretty := "{\n  \"@odata.context\": \"https://graph.microsoft.com/beta/$metadata#x\",\n  \"value\": [\n    {\"id\": \"a\"},\n    {\"id\": \"b\"}\n  ]\n}"
	jsonlPages := page1 + "\n" + page2 + "\n" + page3 + "\n"
	// ConvertTo-Json of one item (Windows line ends, PowerShell's indent).
	ps1 := "{\r\n    \"id\":  \"a\",\r\n    \"methodsRegistered\":  [\r\n                              \"sms\",\r\n" +
		"                              \"email\"\r\n                          ],\r\n    \"isAdmin\":  false\r\n}"
	ps2 := "{\r\n    \"id\":  \"b\",\r\n    \"methodsRegistered\":  [\r\n\r\n                          ]\r\n}"
	for _, tc := range []struct {
		name     string
		data     []byte
		pageSize int
		want     []string // landed bodies
		records  []int
	}{
		{"page", []byte(page1), 0, []string{page1}, []int{2}},
		{"pretty page", []byte(pretty + "\n"), 0, []string{pretty}, []int{2}},
		{"empty page", []byte(`{"value":[]}`), 0, []string{`{"value":[]}`}, []int{0}},
		{"array", []byte("[{\"id\":\"a\"}, {\"id\":\"b\"},\n  {\"id\":\"c\"} ]\n"), 2,
			[]string{`{"value":[{"id":"a"},{"id":"b"}]}`, `{"value":[{"id":"c"}]}`}, []int{2, 1}},
		{"array of records with commas", []byte(`[{"id":"a","m":["x","y"]},{"id":"b,]"}]`), 0,
			[]string{`{"value":[{"id":"a","m":["x","y"]},{"id":"b,]"}]}`}, []int{2}},
		{"empty array", []byte("[ ]"), 0, []string{`{"value":[]}`}, []int{0}},
		{"array with empty elements", []byte(`[{"id":"a"},,{"id":"b"}, ]`), 0,
			[]string{`{"value":[{"id":"a"},,{"id":"b"},]}`}, []int{4}},
		{"jsonl records", []byte("{\"id\":\"a\"}\r\n\n{\"id\":\"b\"}\n  {\"id\":\"c\"}  \n{\"id\":\"d\"}"), 3,
			[]string{`{"value":[{"id":"a"},{"id":"b"},{"id":"c"}]}`, `{"value":[{"id":"d"}]}`}, []int{3, 1}},
		{"jsonl pages", []byte(jsonlPages), 0, []string{page1, page2, page3}, []int{2, 2, 1}},
		{"gzip jsonl pages", gzipped(t, []byte(jsonlPages)), 0, []string{page1, page2, page3}, []int{2, 2, 1}},
		{"gzip array", gzipped(t, []byte(`[{"id":"a"}]`)), 0, []string{`{"value":[{"id":"a"}]}`}, []int{1}},
		{"bom page", append([]byte("\ufeff"), page3...), 0, []string{page3}, []int{1}},
		{"bom jsonl records", []byte("\ufeff{\"id\":\"a\"}\n"), 0, []string{`{"value":[{"id":"a"}]}`}, []int{1}},
		{"empty file", nil, 0, []string{`{"value":[]}`}, []int{0}},
		{"blank lines", []byte("\n \r\n\t\n"), 0, []string{`{"value":[]}`}, []int{0}},
		{"pretty record", []byte(ps1 + "\r\n"), 0, []string{`{"value":[` + ps1 + `]}`}, []int{1}},
		{"pretty records", []byte(ps1 + "\r\n" + ps2 + "\r\n"), 0, []string{`{"value":[` + ps1 + "," + ps2 + `]}`}, []int{2}},
		{"pretty records abutting", []byte(ps1 + ps2), 1, []string{`{"value":[` + ps1 + `]}`, `{"value":[` + ps2 + `]}`}, []int{1, 1}},
		{"gzip bom pretty records", gzipped(t, []byte("\ufeff"+ps2+"\n\n"+ps1)), 0,
			[]string{`{"value":[` + ps2 + "," + ps1 + `]}`}, []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket, idx, err := runImport(t, tc.pageSize, savedFile{`C:\exports\` + "saved.json", tc.data})
			if err != nil {
				t.Fatal(err)
			}
			if !idx.Complete || !idx.Imported || idx.Listing != "unsharded" || len(idx.Shards) != 1 ||
				idx.Shards[0].Name != "all" || idx.Tenant != "abcdef01-0000-0000-0000-000000000001" ||
				len(idx.Sources) != 1 || idx.Sources[0] != "saved.json" {
				t.Errorf("index %+v", idx)
			}
			if idx.Prefix != "tenant_id=abcdef01-0000-0000-0000-000000000001/snapshot_date=2026-11-20/credentialUserRegistrationDetails/run_id=20261120T093000Z-im/" {
				t.Errorf("prefix %q", idx.Prefix)
			}
			got := landedBodies(t, bucket, idx)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("landed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for i, p := range idx.Pages {
				if p.Records != tc.records[i] || p.Shard != "all" || !p.ReceivedAt.Equal(importAt) ||
					p.URL != "import:saved.json#"+string(rune('1'+i)) {
					t.Errorf("page %d: %+v", i+1, p)
				}
			}
		})
	}
}

// The example page of Graph's documentation lands as saved.
func TestImportDocsExamplePage(t *testing.T) {
	data, err := os.ReadFile("testdata/import/docs-example-page.json")
	if err != nil {
		t.Fatal(err)
	}
	bucket, idx, err := runImport(t, 0, savedFile{"testdata/import/docs-example-page.json", data})
	if err != nil {
		t.Fatal(err)
	}
	got := landedBodies(t, bucket, idx)
	if len(got) != 1 || got[0] != string(bytes.TrimSpace(data)) || idx.Pages[0].Records != 1 {
		t.Fatalf("landed %q, %+v", got, idx.Pages)
	}
	if idx.Sources[0] != "docs-example-page.json" || idx.Pages[0].URL != "import:docs-example-page.json#1" {
		t.Errorf("sources %q, url %q", idx.Sources, idx.Pages[0].URL)
	}
}

// A script that appended each response of a listing to a file wrote a
// three-page export; a second file follows it in the run's numbering.
func TestImportThreePageExport(t *testing.T) {
	bucket, idx, err := runImport(t, 0,
		savedFile{"export.jsonl", []byte(page1 + "\n" + page2 + "\n" + page3 + "\n")},
		savedFile{"more.json", []byte(`[{"id":"f"}]`)})
	if err != nil {
		t.Fatal(err)
	}
	got := landedBodies(t, bucket, idx)
	want := []string{page1, page2, page3, `{"value":[{"id":"f"}]}`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("landed\n%s", strings.Join(got, "\n"))
	}
	urls := []string{"import:export.jsonl#1", "import:export.jsonl#2", "import:export.jsonl#3", "import:more.json#1"}
	for i, p := range idx.Pages {
		if p.URL != urls[i] || p.Records != []int{2, 2, 1, 1}[i] {
			t.Errorf("page %d: %+v", i+1, p)
		}
	}
	if strings.Join(idx.Sources, ",") != "export.jsonl,more.json" {
		t.Errorf("sources %q", idx.Sources)
	}
}

// A record line that is not JSON lands as one bad record of its page and
// leaves its neighbours good, whether its brackets balance or not.
func TestImportBadRecordLines(t *testing.T) {
	seed, err := os.ReadFile("testdata/import/seed-example-invalid.json")
	if err != nil {
		t.Fatal(err)
	}
	seedLine := strings.Join(strings.Fields(string(seed)), " ")
	lines := []string{
		`{"id":"a"}`,
		seedLine, // a set where an array belongs: one element as it is
		`{"id":"b"}`,
		`{"id":"u","x":"never closed`, // would swallow the rest of the page
		`{"id":"v"},{"id":"w"}`,       // two records on one line: not a JSON Lines record
		`]`,                           // would close the value array
		`{"id":"c"}`,
	}
	bad := map[int]bool{1: true, 3: true, 4: true, 5: true}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"jsonl", []byte(strings.Join(lines, "\n"))},
		{"gzip jsonl", gzipped(t, []byte(strings.Join(lines, "\n")))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket, idx, err := runImport(t, 0, savedFile{"users.jsonl", tc.data})
			if err != nil {
				t.Fatal(err)
			}
			got := landedBodies(t, bucket, idx)
			if len(got) != 1 || idx.Pages[0].Records != len(lines) {
				t.Fatalf("landed %d pages: %+v", len(got), idx.Pages)
			}
			p, err := odata.Split([]byte(got[0]))
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Records) != len(lines) {
				t.Fatalf("split into %d records, want %d: %s", len(p.Records), len(lines), got[0])
			}
			for i, r := range p.Records {
				if (r.Err != nil) != bad[i] {
					t.Errorf("record %d %s: err %v", i, r.Raw, r.Err)
				}
				if r.Err != nil && !errors.Is(r.Err, odata.ErrInvalidRecordJSON) {
					t.Errorf("record %d: %v", i, r.Err)
				}
				// Lines that are one element stay as they were.
				if i <= 2 || i == 6 {
					if string(r.Raw) != lines[i] {
						t.Errorf("record %d is %s, want %s", i, r.Raw, lines[i])
					}
				} else if !strings.Contains(string(r.Raw), "never closed") && i == 3 {
					t.Errorf("record %d lost its line: %s", i, r.Raw)
				}
			}
		})
	}
	// The documentation's own invalid record, spread over lines inside
	// an array, is one bad element too.
	bucket, idx, err := runImport(t, 0, savedFile{"users.json", []byte("[{\"id\":\"a\"},\n" + string(seed) + ",{\"id\":\"b\"}]")})
	if err != nil {
		t.Fatal(err)
	}
	p, err := odata.Split([]byte(landedBodies(t, bucket, idx)[0]))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 3 || p.Records[0].Err != nil || p.Records[1].Err == nil || p.Records[2].Err != nil ||
		string(p.Records[1].Raw) != strings.TrimSpace(string(seed)) {
		t.Errorf("split %+v", p.Records)
	}

	// A first line cut inside a string is a bad JSON Lines record, not
	// the first line of a pretty-printed one.
	bucket, idx, err = runImport(t, 0, savedFile{"users.jsonl", []byte("{\"id\":\"u\",\"m\":[\"never closed\n{\"id\":\"c\"}\n")})
	if err != nil {
		t.Fatal(err)
	}
	if p, err = odata.Split([]byte(landedBodies(t, bucket, idx)[0])); err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 2 || p.Records[0].Err == nil || string(p.Records[1].Raw) != `{"id":"c"}` {
		t.Errorf("split %+v", p.Records)
	}
}

// A file that is no export, or a damaged one, stops the import with its
// name and line and ErrNotExport (bad input, not worth a retry) besides
// its cause; the run's index says incomplete, and what landed before
// stays.
func TestImportNotAnExport(t *testing.T) {
	good := savedFile{"first.json", []byte(page1)}
	gz := gzipped(t, []byte(page1))
	badSum := bytes.Clone(gz)
	badSum[len(badSum)-8] ^= 0xff // the CRC-32 of the trailer
	for _, tc := range []struct {
		name string
		data string
		line int
		want error
	}{
		{"html", "\n\n<!DOCTYPE html>\n<html><body>Sign in</body></html>\n", 3, ErrNotExport},
		{"csv", "id,userPrincipalName\na,b@c\n", 1, ErrNotExport},
		{"truncated page", `{"@odata.context":"x","value":[{"id":"a"},{"id":"b`, 1, odata.ErrTruncated},
		{"truncated pretty page", "{\n \"value\": [\n  {\"id\": \"a\"}\n", 1, odata.ErrTruncated},
		{"page then junk", page1 + "\n" + page2 + "\nnot a page\n", 3, ErrNotExport},
		{"page with bad link", page1 + "\n" + "{\n\"value\":[],\n\"@odata.nextLink\":5}", 4, odata.ErrBadNextLink},
		{"truncated array", "[{\"id\":\"a\"},\n{\"id\":\"b\"", 1, odata.ErrTruncated},
		{"junk after array", "[{\"id\":\"a\"}]\n]", 2, ErrNotExport},
		{"number", "42", 1, ErrNotExport},
		{"truncated record page", `{"value":[{"id":"a"`, 1, odata.ErrTruncated},
		{"record among pages", page1 + "\n" + `{"id":"a"}` + "\n" + page3, 2, odata.ErrNoValue},
		{"truncated gzip", string(gz[:len(gz)/2]), 1, io.ErrUnexpectedEOF},
		{"gzip checksum", string(badSum), 1, gzip.ErrChecksum},
		{"gzip header", "\x1f\x8b\x00 is not a gzip header", 1, gzip.ErrHeader},
		{"truncated pretty record", "{\n  \"id\": \"a\"\n}\n{\n  \"id\": \"b\",\n", 4, odata.ErrTruncated},
		{"pretty record then junk", "{\n  \"id\": \"a\"\n}\n,\n{\n  \"id\": \"b\"\n}\n", 4, ErrNotExport},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket, idx, err := runImport(t, 0, good, savedFile{"exports/bad.json", []byte(tc.data)})
			var ie *ImportError
			if !errors.As(err, &ie) || !errors.Is(err, tc.want) || !errors.Is(err, ErrNotExport) ||
				ie.File != "bad.json" || ie.Line != tc.line {
				t.Fatalf("err %v (%#v), want %v at bad.json line %d", err, ie, tc.want, tc.line)
			}
			stored, rerr := ReadRawIndex(context.Background(), bucket, idx.Prefix)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if stored.Complete || !stored.Imported || strings.Join(stored.Sources, ",") != "first.json,bad.json" ||
				len(stored.Pages) == 0 || stored.Pages[0].URL != "import:first.json#1" {
				t.Errorf("stored index %+v", stored)
			}
		})
	}
}

// A UTF-16 file, as Windows PowerShell 5.1 writes by default, is refused
// as bad input with a message that says how to save it as UTF-8.
func TestImportUTF16(t *testing.T) {
	le := []byte{0xff, 0xfe}
	be := []byte{0xfe, 0xff}
	for _, c := range page3 {
		le = append(le, byte(c), 0)
		be = append(be, 0, byte(c))
	}
	for name, data := range map[string][]byte{"le": le, "be": be, "gzip le": gzipped(t, le)} {
		t.Run(name, func(t *testing.T) {
			_, _, err := runImport(t, 0, savedFile{"users.json", data})
			var ie *ImportError
			if !errors.Is(err, ErrNotExport) || !errors.As(err, &ie) || ie.Line != 1 ||
				!strings.Contains(err.Error(), "UTF-16") || !strings.Contains(err.Error(), "-Encoding utf8") {
				t.Fatalf("err %v", err)
			}
		})
	}
}

// A line past the body cap stops the import rather than holding it.
func TestImportLineTooLong(t *testing.T) {
	huge := io.MultiReader(strings.NewReader("{\"id\":\"a\"}\n{\"id\":\""),
		io.LimitReader(repeatByte('x'), DefaultMaxBodyBytes), strings.NewReader("\"}\n"))
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	_, err := Import(context.Background(), []ImportFile{{Name: "huge.jsonl", Open: func() (io.ReadCloser, error) {
		return io.NopCloser(huge), nil
	}}}, ImportOptions{Bucket: bucket, Key: schemas.Key{Tenant: "t", Date: testDay},
		Endpoint: schemas.UserRegistrationDetails, RunID: "r"})
	var ie *ImportError
	if !errors.Is(err, ErrBodyTooLarge) || !errors.Is(err, ErrNotExport) || !errors.As(err, &ie) || ie.Line != 2 {
		t.Fatalf("err %v", err)
	}
}

// A file that cannot be read, and a run that cannot land, fail for a
// reason a retry may mend: never ErrNotExport, even inside a gzip stream.
func TestImportReadFailure(t *testing.T) {
	errDisk := errors.New("disk on fire")
	gz := gzipped(t, []byte(page1+"\n"+page2+"\n"))
	failAfter := func(data []byte) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) {
			return io.NopCloser(io.MultiReader(bytes.NewReader(data), failingReader{errDisk})), nil
		}
	}
	for _, tc := range []struct {
		name string
		open func() (io.ReadCloser, error)
		ctx  func() context.Context
		want error
	}{
		{"open", func() (io.ReadCloser, error) { return nil, errDisk }, context.Background, errDisk},
		{"read", failAfter([]byte(page1 + "\n" + page2[:20])), context.Background, errDisk},
		{"read at the start", failAfter(nil), context.Background, errDisk},
		{"read gzip", failAfter(gz[:len(gz)/2]), context.Background, errDisk},
		{"read gzip header", failAfter(gz[:5]), context.Background, errDisk},
		{"cancelled", failAfter([]byte(page1)), func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := memblob.OpenBucket(nil)
			defer bucket.Close()
			_, err := Import(tc.ctx(), []ImportFile{{Name: "x.json", Open: tc.open}}, ImportOptions{Bucket: bucket,
				Key: schemas.Key{Tenant: "t", Date: testDay}, Endpoint: schemas.UserRegistrationDetails, RunID: "r"})
			var ie *ImportError
			if !errors.Is(err, tc.want) || errors.Is(err, ErrNotExport) || !errors.As(err, &ie) || ie.File != "x.json" {
				t.Fatalf("err %v, want %v and not ErrNotExport", err, tc.want)
			}
		})
	}
}

// failingReader fails every read with err.
type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

type repeatByte byte

func (b repeatByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// Options that cannot make a run land nothing.
func TestImportOptions(t *testing.T) {
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	files := importTestFiles(savedFile{"a.json", []byte(page1)})
	for name, o := range map[string]ImportOptions{
		"no bucket":        {Endpoint: schemas.UserRegistrationDetails, RunID: "r"},
		"no run id":        {Bucket: bucket, Endpoint: schemas.UserRegistrationDetails},
		"unknown endpoint": {Bucket: bucket, Endpoint: "users", RunID: "r"},
	} {
		if _, err := Import(context.Background(), files, o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Import(context.Background(), nil, ImportOptions{Bucket: bucket, Endpoint: schemas.UserRegistrationDetails, RunID: "r"}); err == nil {
		t.Error("no files: no error")
	}
	if tenants, err := RawTenants(context.Background(), bucket); err != nil || len(tenants) != 0 {
		t.Errorf("landed %q, %v", tenants, err)
	}
}

// Whatever a file holds, Import either stops with an *ImportError or lands
// pages that odata.Split reads whole, with the record counts the index
// gives: nothing it lands can break a replay or hide a record.
func FuzzImport(f *testing.F) {
	for _, s := range []string{page1, page1 + "\n" + page3, `[{"id":"a"},,]`, "{\"id\":\"a\"}\n{\"id\":\"b\",\n]\n\"x",
		"{\"a\":1},{\"b\":2}\n", "{\n \"a\": [1,\n 2]\n}{\"b\":\n\"]\"}", "\ufeff[]", "<html>", `{"value":[1,2`, "{}\n{\"value\":{}}", "[,1,,]", "[,]", "[1,]"} {
		f.Add([]byte(s), 2)
		f.Add([]byte(s), 1)
	}
	f.Fuzz(func(t *testing.T, data []byte, pageSize int) {
		if pageSize < 1 || pageSize > 50 {
			pageSize = 1 + (pageSize%50+50)%50
		}
		bucket, idx, err := runImport(t, pageSize, savedFile{"fuzz.json", data})
		if err != nil {
			var ie *ImportError
			if !errors.As(err, &ie) || errors.Is(err, errEnvelope) {
				t.Fatalf("error %v", err)
			}
			return
		}
		for i, body := range landedBodies(t, bucket, idx) {
			p, err := odata.Split([]byte(body))
			if err != nil || len(p.Records) != idx.Pages[i].Records {
				t.Fatalf("page %d %q: %d records, index %d, err %v", i+1, body, len(p.Records), idx.Pages[i].Records, err)
			}
		}
	})
}
