package load

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/credreg/credreg/schemas"
)

// AfterPublish runs once the slice is out and before its lease goes: no
// other writer gets in while a second sink loads the files, the manifest
// it returns replaces the published one, and its failure does not
// unpublish the slice.
func TestAfterPublishHoldsTheSlice(t *testing.T) {
	for _, b := range rootBackends {
		t.Run(b.name, func(t *testing.T) {
			w, _ := b.open(t)
			ctx := context.Background()
			key := schemas.Key{Date: day("2026-11-20"), Tenant: "tenant-a"}
			var seen []FileInfo
			var heldErr error
			opts := WriterOptions{AfterPublish: func(ctx context.Context, files []FileInfo, manifest []byte) ([]byte, error) {
				seen = files
				if string(manifest) != `{"v":1}` {
					t.Errorf("AfterPublish got manifest %s", manifest)
				}
				if got, err := w.ReadManifest(ctx, key); err != nil || string(got) != `{"v":1}` {
					t.Errorf("the manifest is not published before AfterPublish: %s %v", got, err)
				}
				l, err := w.Lease(ctx, key, LeaseOptions{RunID: "intruder"})
				if err == nil {
					l.Release()
				}
				heldErr = err
				return []byte(`{"v":2}`), nil
			}}
			s, err := w.Begin(ctx, key, "run-1", opts)
			if err != nil {
				t.Fatal(err)
			}
			infos, err := s.CommitWith(ctx, func([]FileInfo) ([]byte, error) { return []byte(`{"v":1}`), nil })
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) != len(infos) || seen[0] != infos[0] {
				t.Errorf("AfterPublish saw %v, the commit returned %v", seen, infos)
			}
			if !errors.Is(heldErr, ErrLeaseHeld) {
				t.Errorf("another writer could take the slice during AfterPublish: %v", heldErr)
			}
			if got, err := w.ReadManifest(ctx, key); err != nil || string(got) != `{"v":2}` {
				t.Errorf("manifest after AfterPublish: %s %v, want its replacement", got, err)
			}
			l, err := w.Lease(ctx, key, LeaseOptions{RunID: "next"})
			if err != nil {
				t.Fatalf("the lease is not released after AfterPublish: %v", err)
			}
			l.Release()

			boom := errors.New("bigquery is down")
			opts.AfterPublish = func(context.Context, []FileInfo, []byte) ([]byte, error) { return nil, boom }
			s, err = w.Begin(ctx, key, "run-2", opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.CommitWith(ctx, func([]FileInfo) ([]byte, error) { return []byte(`{"v":3}`), nil })
			if !errors.Is(err, ErrPublishedBut) || !errors.Is(err, boom) {
				t.Errorf("a failed AfterPublish: %v, want ErrPublishedBut wrapping its error", err)
			}
			if got, _ := w.ReadManifest(ctx, key); string(got) != `{"v":3}` {
				t.Errorf("the slice was not left published: manifest %s", got)
			}
		})
	}
}

func TestObjectURIOnGCSOnly(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"gs://bkt?prefix=credreg%2F", "gs://bkt/credreg/"},
		{"gs://bkt", "gs://bkt/"},
		{"mem://", ""},
		{"file:///tmp/x", ""},
	} {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := gsRoot(u); got != c.want {
			t.Errorf("gsRoot(%s) = %q, want %q", c.url, got, c.want)
		}
	}
	w := &Warehouse{gsRoot: "gs://bkt/credreg/"}
	sub := &Warehouse{gsRoot: w.gsRoot, prefix: "_failed/run_id=r/"}
	if got, ok := sub.ObjectURI("user_auth_methods/p.parquet"); !ok || got != "gs://bkt/credreg/_failed/run_id=r/user_auth_methods/p.parquet" {
		t.Errorf("ObjectURI = %q %v", got, ok)
	}
	if _, ok := (&Warehouse{}).ObjectURI("x"); ok {
		t.Error("ObjectURI of a local warehouse")
	}
}
