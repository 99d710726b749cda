package load

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"
)

// On gs:// every object has a generation, a number GCS changes on each
// write, and a request can be made conditional on it: GCS applies it only
// while the live object is that generation, and answers 412 (gocloud's
// FailedPrecondition) otherwise, in one step no other writer can come
// between. That is what makes the lease exact on gs://: a writer replaces
// or deletes the lease object only under the generation it last saw.

// hasGenerations reports whether b is a GCS bucket, reached through
// gcsblob, whose objects have generations.
func hasGenerations(b *blob.Bucket) bool {
	var c *storage.Client
	return b.As(&c)
}

// gcsVersions makes lease writes and deletes conditional on generations,
// written as decimal strings ("" for none).
type gcsVersions struct{}

// beforeWrite applies the write only while the live object is generation
// v ("": any, or none if IfNotExist is set), and keeps the writer, whose
// attributes tell the generation written once it is closed.
func (gcsVersions) beforeWrite(ctx context.Context, v string) (context.Context, func(as func(any) bool) error, func() string) {
	var written *storage.Writer
	before := func(as func(any) bool) error {
		if v != "" {
			gen, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("load: %q is no GCS generation", v)
			}
			var obj **storage.ObjectHandle
			if !as(&obj) {
				return errors.New("load: the bucket gives no GCS object handle to write under a generation")
			}
			*obj = (*obj).If(storage.Conditions{GenerationMatch: gen})
		}
		if !as(&written) {
			return errors.New("load: the bucket gives no GCS writer")
		}
		return nil
	}
	return ctx, before, func() string {
		if written == nil {
			return ""
		}
		return strconv.FormatInt(written.Attrs().Generation, 10)
	}
}

// beforeDelete deletes only generation v, and only while it is the live
// one. GCS honours each of the two alone: the precondition fails (412)
// once the object was rewritten, and naming the generation makes the
// delete miss (404) a generation that is gone, or remove only that
// archived one, never the live object, on a bucket that keeps versions.
// fake-gcs-server, which the tests run against, honours the generation
// but ignores ifGenerationMatch on deletes; both are sent so that either
// suffices.
func (gcsVersions) beforeDelete(v string) func(as func(any) bool) error {
	return func(as func(any) bool) error {
		gen, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("load: %q is no GCS generation", v)
		}
		var obj **storage.ObjectHandle
		if !as(&obj) {
			return errors.New("load: the bucket gives no GCS object handle to delete a generation")
		}
		*obj = (*obj).Generation(gen).If(storage.Conditions{GenerationMatch: gen})
		return nil
	}
}

// readVersion is the generation a blob.Reader of a GCS bucket reads.
func (gcsVersions) readVersion(r *blob.Reader) string {
	var sr *storage.Reader
	if !r.As(&sr) || sr == nil {
		return ""
	}
	return strconv.FormatInt(sr.Attrs.Generation, 10)
}
