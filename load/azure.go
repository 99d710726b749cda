package load

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
)

// openAzure opens an azblob://container URL (its path already moved into
// the prefix parameter) through gocloud's azureblob driver, with the
// credentials its default opener documents, read from the environment at
// each open: AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY (shared key),
// AZURE_STORAGE_SAS_TOKEN, AZURE_STORAGE_CONNECTION_STRING, else
// azidentity's DefaultAzureCredential (workload identity, managed
// identity, the AZURE_CLIENT_* variables Graph uses, the Azure CLI). The
// URL's domain, protocol, localemu and storage_account parameters point it
// at another cloud or at an emulator.
//
// The default opener registered by azureblob reads the environment once
// per process; this one reads it at each open, so that what a warehouse
// uses is what the environment said when it was opened.
func openAzure(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	mux := new(blob.URLMux)
	mux.RegisterBucket(azureblob.Scheme, &azureblob.URLOpener{
		MakeClient:        azureblob.NewDefaultClient,
		ServiceURLOptions: *azureblob.NewDefaultServiceURLOptions(),
	})
	return mux.OpenBucketURL(ctx, u)
}

// On azblob:// every write of a blob gives it a new ETag, and a request
// can be made conditional on it (If-Match, If-None-Match): Azure applies
// it only while the live blob has that ETag, and answers 412 (gocloud's
// FailedPrecondition) otherwise, in one step no other writer can come
// between. That makes the lease as exact there as generations make it on
// gs:// (see lease_gcs.go).

// hasETags reports whether b is an Azure container, reached through
// azureblob.
func hasETags(b *blob.Bucket) bool {
	var c *container.Client
	return b.As(&c)
}

// azureVersions makes lease writes and deletes conditional on ETags.
type azureVersions struct{}

// beforeWrite applies the write only while the blob has ETag v ("": any,
// or none if the writer was opened with IfNotExist). gocloud's writer
// does not return the upload's answer, so the answer is captured through
// ctx: the last response of the upload is its commit, whose ETag is the
// one written.
func (azureVersions) beforeWrite(ctx context.Context, v string) (context.Context, func(as func(any) bool) error, func() string) {
	var resp *http.Response
	ctx = policy.WithCaptureResponse(ctx, &resp)
	before := func(as func(any) bool) error {
		if v == "" {
			return nil
		}
		var opts *azblob.UploadStreamOptions
		if !as(&opts) {
			return errors.New("load: the bucket gives no Azure upload options to write under an ETag")
		}
		etag := azcore.ETag(v)
		opts.AccessConditions = &azblob.AccessConditions{ModifiedAccessConditions: &azblobblob.ModifiedAccessConditions{IfMatch: &etag}}
		return nil
	}
	written := func() string {
		if resp == nil {
			return ""
		}
		return resp.Header.Get("ETag")
	}
	return ctx, before, written
}

// beforeDelete deletes the blob only while it has ETag v.
func (azureVersions) beforeDelete(v string) func(as func(any) bool) error {
	return func(as func(any) bool) error {
		var opts *azblobblob.DeleteOptions
		if !as(&opts) {
			return errors.New("load: the bucket gives no Azure delete options to delete under an ETag")
		}
		etag := azcore.ETag(v)
		opts.AccessConditions = &azblobblob.AccessConditions{ModifiedAccessConditions: &azblobblob.ModifiedAccessConditions{IfMatch: &etag}}
		return nil
	}
}

// readVersion is the ETag of the blob r reads.
func (azureVersions) readVersion(r *blob.Reader) string {
	var resp azblobblob.DownloadStreamResponse
	if !r.As(&resp) || resp.ETag == nil {
		return ""
	}
	return string(*resp.ETag)
}
