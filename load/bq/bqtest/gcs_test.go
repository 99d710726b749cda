package bqtest

import (
	"io"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/credreg/credreg/load/bq"
	"github.com/credreg/credreg/schemas"
)

// A warehouse on GCS: BigQuery reads the slice's gs:// objects itself, and
// nothing is uploaded with the jobs. The emulator reads gs:// through
// STORAGE_EMULATOR_HOST, here an in-process fake-gcs-server holding the
// files credreg's writer made (copied there byte for byte).
func TestLoadFromGCS(t *testing.T) {
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Writer: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gcs.Stop)
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.URL())
	const bucket = "credreg-warehouse"
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})

	e := newEmulator(t)
	s := ensured(t, e, e.config())
	sl := publish(t, t.TempDir(), schemas.Key{Date: day(27), Tenant: "tenant-a"}, "run-1", 5, 2)
	for i, f := range sl.Files {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		name := "warehouse/" + sl.Infos[i].Path
		gcs.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: name}, Content: b})
		sl.Files[i] = bq.File{Table: f.Table, URI: "gs://" + bucket + "/" + name, Rows: f.Rows, Bytes: f.Bytes}
	}
	mark := e.mark()
	loadSlice(t, s, sl)
	if up := loadJobsStarted(e.requests(mark)); len(up) > 0 {
		t.Errorf("files uploaded with the jobs: %v", up)
	}
	var uris []string
	for _, r := range e.requests(mark) {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/projects/"+project+"/jobs") {
			if l := jobOf(t, r).Configuration.Load; l != nil {
				uris = append(uris, l.SourceURIs...)
			}
		}
	}
	if len(uris) != len(schemas.Tables) {
		t.Errorf("gs:// sources sent: %v", uris)
	}
	checkCounts(t, e, []slice{sl})
}
