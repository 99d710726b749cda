package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/pipeline"
)

// docsPage is the list response of Microsoft's documentation for the beta
// endpoint: one user, two methods.
const docsPage = "testdata/import/credentialUserRegistrationDetails-page.json"

// importCmd runs `credreg import` with stdin and returns its exit status
// and output.
func importCmd(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	cmd := credregCmd(context.Background(), nil, append([]string{"import"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	return runCmd(t, cmd)
}

// readManifest reads the manifest of the test's tenant and day.
func readManifest(t *testing.T, wh, tenant string) pipeline.Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wh, "_manifests", "snapshot_date="+sliceDate, "tenant_id="+tenant+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m pipeline.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The docs' example page, from a file or from standard input, imports and
// publishes a slice of one user and two methods, marked imported; a
// second import of the slice needs --force.
func TestImportDocsPage(t *testing.T) {
	page, err := os.ReadFile(docsPage)
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"file", "stdin"} {
		t.Run(from, func(t *testing.T) {
			wh := filepath.Join(t.TempDir(), "wh")
			args := []string{"--date", sliceDate, "--tenant", strings.ToUpper(tenantA), "--endpoint", "credentialUserRegistrationDetails",
				"--warehouse", wh}
			file, stdin := docsPage, []byte(nil)
			if from == "stdin" {
				file, stdin = "-", page
			}
			code, out, errs := importCmd(t, stdin, append(args, file)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errs)
			}
			t.Logf("import:\n%s", out)
			for _, want := range []string{"users          1\n", "method rows    2\n", "rejected       0\n", "as raw run "} {
				if !strings.Contains(out, want) {
					t.Errorf("summary lacks %q:\n%s", want, out)
				}
			}
			m := readManifest(t, wh, tenantA)
			if m.ReplayedFrom == nil || !m.ReplayedFrom.Imported || m.Endpoint != "credentialUserRegistrationDetails" {
				t.Errorf("manifest: replayed_from %+v, endpoint %s", m.ReplayedFrom, m.Endpoint)
			}
			rows := warehouseRows(t, wh, "run_id", "extracted_at")
			if got := rows["user_auth_methods"]; len(got) != 2 || !strings.Contains(got[1], `"auth_method":"mobileSMS"`) ||
				!strings.Contains(got[1], `"is_known_value":true`) || !strings.Contains(got[1], `"user_id":"id-value"`) {
				t.Errorf("user_auth_methods:\n%s", strings.Join(got, "\n"))
			}

			code, _, errs = importCmd(t, stdin, append(args, file)...)
			if code != exitUsage || !strings.Contains(errs, "already exists") || !strings.Contains(errs, "--force") {
				t.Errorf("a second import without --force: exit %d\n%s", code, errs)
			}
			if code, out, errs := importCmd(t, stdin, append(args, "--force", file)...); code != 0 {
				t.Errorf("a second import with --force: exit %d\n%s%s", code, out, errs)
			}
		})
	}
}

// A 3-page export — the pages a run received, gunzipped from its raw
// zone and saved as JSON Lines of pages, gzip-compressed — imported into
// another warehouse under the same day and tenant makes the rows the run
// made, but for run_id and extracted_at (an import has no time of
// receipt of its own).
func TestImportThreePageExport(t *testing.T) {
	ran := filepath.Join(t.TempDir(), "ran")
	out, err := credregCmd(context.Background(), nil, "run", "--demo", "--demo-users", "50", "--page-size", "20",
		"--shards", "off", "--date", sliceDate, "--warehouse", ran, "--progress", "none").CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	pages := rawPages(t, ran)
	if len(pages) != 3 {
		t.Fatalf("the run landed %d pages, want 3", len(pages))
	}
	export := filepath.Join(t.TempDir(), "export.jsonl.gz")
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	for _, p := range pages {
		if bytes.ContainsRune(p, '\n') {
			t.Fatalf("a page holds a newline: it cannot be one line of JSON Lines:\n%s", p)
		}
		gz.Write(append(p, '\n'))
	}
	gz.Close()
	if err := os.WriteFile(export, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	imported := filepath.Join(t.TempDir(), "imported")
	code, out2, errs := importCmd(t, nil, "--date", sliceDate, "--tenant", graphsim.DefaultTenantID, "--warehouse", imported, export)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, out2, errs)
	}
	if !strings.Contains(out2, "(3 pages)") {
		t.Errorf("the import does not say it landed 3 pages:\n%s", out2)
	}
	sameRows(t, warehouseRows(t, imported, "run_id", "extracted_at"), warehouseRows(t, ran, "run_id", "extracted_at"))
}

// rawPages returns the bodies of the listing pages of the one raw run in
// the warehouse's raw zone, in the run's order.
func rawPages(t *testing.T, wh string) [][]byte {
	t.Helper()
	idxs, _ := filepath.Glob(filepath.Join(wh, "_raw", "tenant_id=*", "snapshot_date=*", "*", "run_id=*", "_index.json"))
	if len(idxs) != 1 {
		t.Fatalf("%d raw runs, want 1: %v", len(idxs), idxs)
	}
	b, err := os.ReadFile(idxs[0])
	if err != nil {
		t.Fatal(err)
	}
	var idx extract.RawIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	entries := slices.Clone(idx.Pages)
	slices.SortFunc(entries, func(a, b extract.RawPage) int { return int(a.Seq - b.Seq) })
	var out [][]byte
	for _, e := range entries {
		if e.Kind != "" || e.Invalid {
			continue
		}
		f, err := os.Open(filepath.Join(wh, "_raw", filepath.FromSlash(e.Key)))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		if _, err := body.ReadFrom(zr); err != nil {
			t.Fatal(err)
		}
		f.Close()
		out = append(out, body.Bytes())
	}
	return out
}

// A file that is not a saved Graph response is bad data: exit status 4,
// nothing published, the raw run kept incomplete.
func TestImportOfNotAnExport(t *testing.T) {
	dir := t.TempDir()
	html := filepath.Join(dir, "export.json")
	if err := os.WriteFile(html, []byte("<html><body>Sign in to your account</body></html>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wh := filepath.Join(dir, "wh")
	code, out, errs := importCmd(t, nil, "--date", sliceDate, "--tenant", tenantA, "--warehouse", wh, docsPage, html)
	if code != exitContract {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitContract, out, errs)
	}
	for _, want := range []string{"export.json", "not a saved Graph response", "incomplete, for inspection"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if n := countFiles(t, wh, ".parquet"); n != 0 {
		t.Errorf("%d Parquet files published", n)
	}
	idxs, _ := filepath.Glob(filepath.Join(wh, "_raw", "tenant_id="+tenantA, "snapshot_date="+sliceDate, "*", "run_id=*", "_index.json"))
	if len(idxs) != 1 {
		t.Fatalf("raw runs: %v", idxs)
	}
	b, _ := os.ReadFile(idxs[0])
	if !bytes.Contains(b, []byte(`"complete": false`)) && !bytes.Contains(b, []byte(`"complete":false`)) {
		t.Errorf("the raw run of a failed import is not marked incomplete:\n%s", b)
	}
}

// Bad flags and files are usage errors, found before anything is landed.
func TestImportRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	wh := filepath.Join(dir, "wh")
	missing := filepath.Join(dir, "missing.json")
	ok := []string{"--date", sliceDate, "--tenant", tenantA, "--warehouse", wh}
	cases := []struct {
		args []string
		want string
	}{
		{ok, "needs at least one FILE"},
		{[]string{"--tenant", tenantA, "--warehouse", wh, docsPage}, "--date is required"},
		{[]string{"--date", sliceDate, "--warehouse", wh, docsPage}, "--tenant is required"},
		{[]string{"--date", "2999-01-01", "--tenant", tenantA, "--warehouse", wh, docsPage}, "in the future"},
		{[]string{"--date", "27.11.2026", "--tenant", tenantA, "--warehouse", wh, docsPage}, "want YYYY-MM-DD"},
		{[]string{"--date", sliceDate, "--tenant", "contoso.onmicrosoft.com", "--warehouse", wh, docsPage}, "not a GUID"},
		{append(ok, "--endpoint", "users", docsPage), "unknown endpoint"},
		{append(ok, docsPage, missing), missing + ": no such file"},
		{append(ok, dir), "is a folder"},
		{append(ok, "-", "-"), "given twice"},
		{append(ok, "--max-reject-ratio", "2", docsPage), "between 0 and 1"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			defer os.RemoveAll(wh) // a case that fails does not fail the next
			code, out, errs := importCmd(t, nil, c.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d\n%s%s", code, exitUsage, out, errs)
			}
			if !strings.Contains(errs, c.want) {
				t.Errorf("stderr does not say %q:\n%s", c.want, errs)
			}
			if _, err := os.Stat(wh); err == nil {
				t.Errorf("the refused import created %s", wh)
			}
		})
	}
}
