package load

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/credreg/credreg/schemas"
)

// manifestOf is the manifest a test run publishes: it names its run, so
// that a slice can be checked to be all of one run.
func manifestOf(runID string) func([]FileInfo) ([]byte, error) {
	return func(files []FileInfo) ([]byte, error) {
		return fmt.Appendf(nil, `{"run_id":%q,"files":%d}`, runID, len(files)), nil
	}
}

// wantSlice is what a run that published key leaves: its tables' files
// and its manifest.
func wantSlice(infos []FileInfo, key schemas.Key, manifest []byte) map[string]string {
	want := map[string]string{}
	for _, fi := range infos {
		want[fi.Path] = fi.SHA256
	}
	want[manifestKey(key)] = sha256Hex(manifest)
	return want
}

// A Commit killed after any of its steps leaves the slice entirely old or
// entirely new once the next writer of the slice has begun: before the
// intent is durable the new files are dropped, from then on they are
// published. Nothing is left in _staging either way.
func TestCrashAtEveryPublishStep(t *testing.T) {
	key := schemas.Key{Date: day("2026-03-04"), Tenant: "tenant-c"}
	for _, step := range PublishSteps() {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			w := openTest(t, dir)
			ctx := context.Background()
			oldInfos := commitWith(t, w, key, "run-old", 1, "")
			old := wantSlice(oldInfos, key, must(manifestOf("run-old")(oldInfos)))
			if got := objects(t, w); !maps.Equal(got, old) {
				t.Fatalf("after the first run the warehouse holds %v, want %v", got, old)
			}

			newInfos := commitWith(t, w, key, "run-new", 2, step)
			fresh := wantSlice(newInfos, key, must(manifestOf("run-new")(newInfos)))

			next, err := w.Begin(ctx, key, "run-next", WriterOptions{})
			if err != nil {
				t.Fatalf("Begin after the crash: %v", err)
			}
			next.Abort()
			want, wantRec := old, NothingToRecover
			switch step {
			case StepStaged:
			case StepIntentRemoved:
				want = fresh
			default:
				want, wantRec = fresh, RolledForward
			}
			if got := objects(t, w); !maps.Equal(got, want) {
				t.Errorf("after the crash and the next Begin the warehouse holds\n%v\nwant\n%v", got, want)
			}
			if got := next.Recovered(); got != wantRec {
				t.Errorf("Recovered = %q, want %q", got, wantRec)
			}
			if got := stagingFiles(t, dir); len(got) != 0 {
				t.Errorf("_staging holds %v after the next Begin", got)
			}
		})
	}
}

// An intent whose staged file is incomplete is rolled back: nothing of it
// was published yet (renames start only once every file is complete),
// so the slice stays old.
func TestCrashRolledBack(t *testing.T) {
	key := schemas.Key{Date: day("2026-03-04"), Tenant: "tenant-c"}
	dir := t.TempDir()
	w := openTest(t, dir)
	oldInfos := commitWith(t, w, key, "run-old", 1, "")
	old := wantSlice(oldInfos, key, must(manifestOf("run-old")(oldInfos)))
	commitWith(t, w, key, "run-new", 2, StepIntentWritten)

	staged, err := filepath.Glob(filepath.Join(dir, stagingDir, leaseName(key), "run-new-user_auth_methods-*.parquet.tmp"))
	if err != nil || len(staged) != 1 {
		t.Fatalf("staged methods file: %v %v", staged, err)
	}
	if err := os.Truncate(staged[0], 10); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	next, err := w.Begin(context.Background(), key, "run-next", WriterOptions{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	next.Abort()
	if got := next.Recovered(); got != RolledBack {
		t.Errorf("Recovered = %q, want %q", got, RolledBack)
	}
	if line := logged.String(); !strings.Contains(line, `recovery="rolled back"`) || !strings.Contains(line, "run_id=run-new") {
		t.Errorf("the log says %q, want the roll back of run-new", line)
	}
	if got := objects(t, w); !maps.Equal(got, old) {
		t.Errorf("after the roll back the warehouse holds\n%v\nwant the old slice\n%v", got, old)
	}
	if got := stagingFiles(t, dir); len(got) != 0 {
		t.Errorf("_staging holds %v after the roll back", got)
	}
}

// The sweep of another slice's Begin never removes the files of an
// unfinished publish, however old: only the next writer of that slice
// decides, and it rolls them forward.
func TestSweepSparesIntent(t *testing.T) {
	key := schemas.Key{Date: day("2026-03-04"), Tenant: "tenant-c"}
	dir := t.TempDir()
	w := openTest(t, dir)
	newInfos := commitWith(t, w, key, "run-new", 2, StepIntentWritten)
	folder := filepath.Join(dir, stagingDir, leaseName(key))
	old := time.Now().Add(-2 * staleTemp)
	for _, name := range stagingFiles(t, dir) {
		if err := os.Chtimes(filepath.Join(folder, name), old, old); err != nil {
			t.Fatal(err)
		}
	}
	other, err := w.Begin(context.Background(), schemas.Key{Date: key.Date, Tenant: "tenant-d"}, "run-other", WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other.Abort()
	if got := len(stagingFiles(t, dir)); got != len(schemas.Tables)+2 {
		t.Errorf("after another slice's Begin _staging holds %d files, want the %d of the intent and the intent", got, len(schemas.Tables)+2)
	}
	next, err := w.Begin(context.Background(), key, "run-next", WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	next.Abort()
	if got, want := objects(t, w), wantSlice(newInfos, key, must(manifestOf("run-new")(newInfos))); !maps.Equal(got, want) {
		t.Errorf("after the roll forward the warehouse holds\n%v\nwant\n%v", got, want)
	}
}

// CommitWith reports its steps in PublishSteps order on a local
// warehouse, and the steps that apply on a bucket; the manifest it
// publishes reads back.
func TestCommitWithSteps(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			w, dir := b.open(t)
			key := schemas.Key{Date: day("2026-03-04"), Tenant: "tenant-s"}
			var steps []string
			opts := WriterOptions{AfterStep: func(s string) { steps = append(steps, s) }}
			infos := commitWithOpts(t, w, key, "run-1", 1, "", opts)
			want := PublishSteps()
			if dir == "" {
				want = slices.DeleteFunc(want, func(s string) bool { return s == StepIntentWritten || s == StepIntentRemoved })
			}
			if !slices.Equal(steps, want) {
				t.Errorf("steps = %q, want %q", steps, want)
			}
			got, err := w.ReadManifest(context.Background(), key)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(must(manifestOf("run-1")(infos))) {
				t.Errorf("manifest = %s", got)
			}
			if dir != "" {
				if got := stagingFiles(t, dir); len(got) != 0 {
					t.Errorf("_staging holds %v after Commit", got)
				}
			}
		})
	}
}

// The step names match the tables they publish.
func TestPublishStepsNameTables(t *testing.T) {
	steps := PublishSteps()
	for i, table := range schemas.Tables {
		if steps[2+i] != publishedStep(table.Name) {
			t.Errorf("step %d is %q, want %q", 2+i, steps[2+i], publishedStep(table.Name))
		}
	}
}

func commitWith(t *testing.T, w *Warehouse, key schemas.Key, runID string, seed int, crashAt string) []FileInfo {
	t.Helper()
	return commitWithOpts(t, w, key, runID, seed, crashAt, WriterOptions{})
}

// commitWithOpts writes a run of the slice and commits it with its
// manifest; with crashAt, Commit stops dead after that step, as if the
// process were killed there, and the FileInfos are those it staged.
func commitWithOpts(t *testing.T, w *Warehouse, key schemas.Key, runID string, seed int, crashAt string, opts WriterOptions) []FileInfo {
	t.Helper()
	ctx := context.Background()
	recs := makeSlice(key, runID, 20, 3, seed).records(memory.DefaultAllocator, 7)
	defer release(recs)
	s, err := w.Begin(ctx, key, runID, opts)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	defer s.Abort()
	s.crashAt = crashAt
	writeAll(t, ctx, s, recs)
	var staged []FileInfo
	infos, err := s.CommitWith(ctx, func(files []FileInfo) ([]byte, error) {
		staged = files
		return manifestOf(runID)(files)
	})
	if crashAt != "" {
		if !errors.Is(err, errCrashed) {
			t.Fatalf("CommitWith = %v, want the simulated crash after %s", err, crashAt)
		}
		return staged
	}
	if err != nil {
		t.Fatalf("CommitWith: %v", err)
	}
	return infos
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// A publish killed after its first rename whose remaining staged file is
// then damaged can be neither finished nor undone: the next Begin removes
// the old manifest, so no reader takes new users beside old methods for
// a complete slice.
func TestCrashUnfinishable(t *testing.T) {
	key := schemas.Key{Date: day("2026-03-04"), Tenant: "tenant-u"}
	dir := t.TempDir()
	w := openTest(t, dir)
	commitWith(t, w, key, "run-old", 1, "")
	commitWith(t, w, key, "run-new", 2, StepPublishedUsers)
	staged, err := filepath.Glob(filepath.Join(dir, stagingDir, leaseName(key), "run-new-user_auth_methods-*.parquet.tmp"))
	if err != nil || len(staged) != 1 {
		t.Fatalf("staged methods file: %v %v", staged, err)
	}
	if err := os.Truncate(staged[0], 10); err != nil {
		t.Fatal(err)
	}
	next, err := w.Begin(context.Background(), key, "run-next", WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	next.Abort()
	if got := next.Recovered(); got != Unfinishable {
		t.Errorf("Recovered = %q, want %q", got, Unfinishable)
	}
	if _, err := w.ReadManifest(context.Background(), key); !errors.Is(err, ErrNotFound) {
		t.Errorf("the old manifest still vouches for a half-published slice: %v", err)
	}
	if got := stagingFiles(t, dir); len(got) != 0 {
		t.Errorf("_staging holds %v", got)
	}
}
