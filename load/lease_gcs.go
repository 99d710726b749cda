package load

import (
	"errors"

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

// writeIfGeneration is a WriterOptions.BeforeWrite that applies the write
// only while the live object is generation gen (0: any, or none if
// IfNotExist is set), and keeps the writer, whose attributes tell the
// generation written once it is closed.
func writeIfGeneration(gen int64, written **storage.Writer) func(as func(any) bool) error {
	return func(as func(any) bool) error {
		if gen != 0 {
			var obj **storage.ObjectHandle
			if !as(&obj) {
				return errors.New("load: the bucket gives no GCS object handle to write under a generation")
			}
			*obj = (*obj).If(storage.Conditions{GenerationMatch: gen})
		}
		if !as(written) {
			return errors.New("load: the bucket gives no GCS writer")
		}
		return nil
	}
}

// deleteIfGeneration is a DeleteOptions.BeforeDelete that deletes only
// generation gen, and only while it is the live one. GCS honours each of
// the two alone: the precondition fails (412) once the object was
// rewritten, and naming the generation makes the delete miss (404) a
// generation that is gone, or remove only that archived one, never the
// live object, on a bucket that keeps versions. fake-gcs-server, which
// the tests run against, honours the generation but ignores
// ifGenerationMatch on deletes; both are sent so that either suffices.
func deleteIfGeneration(gen int64) func(as func(any) bool) error {
	return func(as func(any) bool) error {
		var obj **storage.ObjectHandle
		if !as(&obj) {
			return errors.New("load: the bucket gives no GCS object handle to delete a generation")
		}
		*obj = (*obj).Generation(gen).If(storage.Conditions{GenerationMatch: gen})
		return nil
	}
}

// readGeneration is the generation a blob.Reader of a GCS bucket reads; 0
// on other buckets.
func readGeneration(r *blob.Reader) int64 {
	var sr *storage.Reader
	if !r.As(&sr) || sr == nil {
		return 0
	}
	return sr.Attrs.Generation
}
