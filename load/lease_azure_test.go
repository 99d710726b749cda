package load

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/gcerrors"

	"github.com/credreg/credreg/internal/azurite"
	"github.com/credreg/credreg/schemas"
)

// The azblob:// lease is tested against Azurite, which checks If-Match
// and If-None-Match on uploads and deletes as Azure does;
// TestAzurePreconditions checks that before the lease tests rely on it.

// azureContainer is a container of its own on the shared Azurite.
type azureContainer struct {
	srv  *azurite.Server
	name string
}

func newAzureContainer(t *testing.T) azureContainer {
	t.Helper()
	srv := azuriteServer.Get(t)
	u := srv.NewContainer(t, "")
	name := strings.TrimPrefix(u[:strings.Index(u, "?")], "azblob://")
	return azureContainer{srv: srv, name: name}
}

// client is a container client as another process would have, whose
// requests hook, if not nil, sees and may hold.
func (c azureContainer) client(t *testing.T, hook func(*http.Request, http.RoundTripper) (*http.Response, error)) *container.Client {
	t.Helper()
	var rt http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()
	if hook != nil {
		next := rt
		rt = roundTripFunc(func(r *http.Request) (*http.Response, error) { return hook(r, next) })
	}
	cred, err := azblob.NewSharedKeyCredential(azurite.Account, azurite.Key)
	if err != nil {
		t.Fatal(err)
	}
	opts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: &http.Client{Transport: rt},
		Retry:     policy.RetryOptions{MaxRetries: -1}, // a lost answer stays lost
	}}
	cc, err := container.NewClientWithSharedKeyCredential("http://"+c.srv.Host+"/"+azurite.Account+"/"+c.name, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

// open opens a warehouse on the container as another process would.
func (c azureContainer) open(t *testing.T, hook func(*http.Request, http.RoundTripper) (*http.Response, error)) *Warehouse {
	t.Helper()
	b, err := azureblob.OpenBucket(context.Background(), c.client(t, hook), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return &Warehouse{bucket: b, location: "azblob://" + c.name}
}

// lease reads the lease object of key as the emulator holds it; ok false
// when there is none.
func (c azureContainer) lease(t *testing.T, key schemas.Key) (h LeaseHolder, etag string, ok bool) {
	t.Helper()
	resp, err := c.client(t, nil).NewBlobClient(leaseDir+"/"+leaseName(key)+".json").DownloadStream(context.Background(), nil)
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return h, "", false
		}
		t.Fatalf("lease object: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	return h, string(*resp.ETag), true
}

func (c azureContainer) mustLease(t *testing.T, key schemas.Key) (LeaseHolder, string) {
	t.Helper()
	h, etag, ok := c.lease(t, key)
	if !ok {
		t.Fatalf("no lease object for %v", key)
	}
	return h, etag
}

// store is the container for the shared lease tests.
func (c azureContainer) store() exactStore {
	return exactStore{
		open: c.open,
		lease: func(t *testing.T, key schemas.Key) (LeaseHolder, bool) {
			h, _, ok := c.lease(t, key)
			return h, ok
		},
	}
}

// Azurite honours what the lease relies on: creation only if absent, a
// write only under the ETag named, a delete only under the ETag named,
// and the ETag written told by the answer captured.
func TestAzurePreconditions(t *testing.T) {
	c := newAzureContainer(t)
	w := c.open(t, nil)
	if !hasETags(w.bucket) || hasETags(openTest(t, "mem://").bucket) || versionsOf(w.bucket) == nil {
		t.Fatal("hasETags must be true on azureblob and false on mem://")
	}
	ctx := context.Background()
	obj := leaseObject{bucket: w.bucket, key: leaseDir + "/probe.json", exact: true}
	e1, err := obj.create(ctx, LeaseHolder{RunID: "one"})
	if err != nil || e1 == "" {
		t.Fatalf("create = %q, %v; want an ETag", e1, err)
	}
	if _, err := obj.create(ctx, LeaseHolder{RunID: "two"}); gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Fatalf("create of a present object = %v, want FailedPrecondition", err)
	}
	if h, e, err := obj.read(ctx); err != nil || e != e1 || h.RunID != "one" {
		t.Fatalf("read = %+v, %q, %v; want one at ETag %q", h, e, err, e1)
	}
	e2, err := obj.write(ctx, LeaseHolder{RunID: "two"}, e1, false)
	if err != nil || e2 == e1 || e2 == "" {
		t.Fatalf("write under the live ETag = %q, %v; want a new ETag", e2, err)
	}
	if _, e, _ := obj.read(ctx); e != e2 {
		t.Fatalf("the ETag read is %q, the write said %q", e, e2)
	}
	if _, err := obj.write(ctx, LeaseHolder{RunID: "three"}, e1, false); gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Fatalf("write under a past ETag = %v, want FailedPrecondition", err)
	}
	if err := obj.remove(ctx, e1); !moved(err) {
		t.Fatalf("delete under a past ETag = %v, want it refused", err)
	}
	if h, e, err := obj.read(ctx); err != nil || e != e2 || h.RunID != "two" {
		t.Fatalf("after the refused writes read = %+v, %q, %v; want two at ETag %q", h, e, err, e2)
	}
	if err := obj.remove(ctx, e2); err != nil {
		t.Fatalf("delete under the live ETag: %v", err)
	}
	if _, _, err := obj.read(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read after delete = %v, want ErrNotFound", err)
	}
}

// Two writers that both read one stale lease, then both take it over:
// exactly one wins, and the other is told who holds it.
func TestAzureLeaseTakeoverRace(t *testing.T) { testLeaseTakeoverRace(t, newAzureContainer(t).store()) }

// A holder that could not renew in time, and whose lease was taken over,
// learns it at its next renewal, which leaves the new holder's lease
// alone; so does its Release.
func TestAzureLeaseLostAtRenewal(t *testing.T) {
	c := newAzureContainer(t)
	ctx := context.Background()
	key := schemas.Key{Date: day("2026-02-03"), Tenant: "tenant-t"}
	var renewals gate
	first, err := c.open(t, func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
		if isUpload(r) {
			if err := renewals.pass(r); err != nil {
				return nil, err
			}
		}
		return next.RoundTrip(r)
	}).Lease(ctx, key, LeaseOptions{RunID: "first", Timeout: 900 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Release() })
	renewals.close()
	waitUntil(t, "the lease to go stale", func() bool {
		h, _ := c.mustLease(t, key)
		return time.Now().After(h.Expires.Add(10 * time.Millisecond))
	})
	second, err := c.open(t, nil).Lease(ctx, key, LeaseOptions{RunID: "second", Timeout: time.Minute})
	if err != nil {
		t.Fatalf("Lease of a stale lease: %v", err)
	}
	defer second.Release()
	renewals.open()
	waitUntil(t, "the first holder to learn it lost the lease", func() bool {
		err := first.check()
		return err != nil && strings.Contains(err.Error(), `"second"`)
	})
	if h, _ := c.mustLease(t, key); h.Token != second.Holder().Token {
		t.Errorf("after the first holder's renewal the lease names %+v, want second", h)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	if h, _ := c.mustLease(t, key); h.Token != second.Holder().Token {
		t.Errorf("after the first holder's Release the lease names %+v, want second", h)
	}
}

// A renewal that Azure applied but whose answer was lost leaves the lease
// at an ETag its holder did not see: the next renewal is refused, and the
// holder, finding its own token there, carries on.
func TestAzureLeaseRenewalAnswerLost(t *testing.T) {
	testLeaseRenewalAnswerLost(t, newAzureContainer(t).store())
}
