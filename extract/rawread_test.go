package extract

import (
	"bytes"
	"compress/gzip"
	"context"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"

	"github.com/credreg/credreg/schemas"
)

// landPages lands bodies as pages 1..n of one run and returns its index.
func landPages(t testing.TB, bucket *blob.Bucket, bodies ...[]byte) RawIndex {
	t.Helper()
	ctx := context.Background()
	key := schemas.Key{Tenant: "11111111-2222-3333-4444-555555555555", Date: testDay}
	z := NewRawZone(bucket, key, schemas.UserRegistrationDetails, "20261120T100000Z-aa")
	for i, b := range bodies {
		if _, err := z.Land(ctx, int64(i+1), "all", Page{URL: "https://g/v1.0/x", Body: b, ReceivedAt: testDay}); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Finish(ctx, RawIndex{Tenant: key.Tenant, SnapshotDate: key.DateString(),
		Endpoint: schemas.UserRegistrationDetails, RunID: "20261120T100000Z-aa"}, true); err != nil {
		t.Fatal(err)
	}
	idx, err := ReadRawIndex(ctx, bucket, z.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func openTestBucket(t testing.TB) *blob.Bucket {
	t.Helper()
	bucket, err := fileblob.OpenBucket(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bucket.Close() })
	return bucket
}

// One RawPageReader reads bodies of every size back exactly, into the
// caller's buffer when it is large enough and into a grown one when not,
// and a damaged object in between neither reads as a body nor spoils
// the next read.
func TestRawPageReaderReadInto(t *testing.T) {
	ctx := context.Background()
	bucket := openTestBucket(t)
	big := []byte(`{"value":[` + strings.Repeat(`{"id":"a"},`, 30000) + `{"id":"b"}]}`)
	idx := landPages(t, bucket, []byte(`{"value":[]}`), big, []byte(`{"value":[{"id":"c"}]}`), nil)
	// A gzip object whose body is cut short, and one that is not gzip.
	var z bytes.Buffer
	gw := gzip.NewWriter(&z)
	gw.Write(big)
	gw.Close()
	if err := bucket.WriteAll(ctx, "cut.json.gz", z.Bytes()[:z.Len()/2], nil); err != nil {
		t.Fatal(err)
	}
	// Every byte of the body but not the gzip trailer (CRC and length).
	if err := bucket.WriteAll(ctx, "no-trailer.json.gz", z.Bytes()[:z.Len()-8], nil); err != nil {
		t.Fatal(err)
	}
	if err := bucket.WriteAll(ctx, "plain.json", big, nil); err != nil {
		t.Fatal(err)
	}

	var r RawPageReader
	tests := []struct {
		name    string
		key     string
		want    []byte
		bufCap  int
		inPlace bool // the body is read into the buffer given
		exact   bool // the buffer's capacity is bufCap exactly, as readAhead gives it
		wantErr bool
	}{
		{name: "small into nil", key: idx.Pages[0].Key, want: []byte(`{"value":[]}`)},
		{name: "big into a buffer of its size", key: idx.Pages[1].Key, want: big, bufCap: idx.Pages[1].Bytes, inPlace: true},
		{name: "big into a buffer of exactly its size", key: idx.Pages[1].Key, want: big, bufCap: idx.Pages[1].Bytes, inPlace: true, exact: true},
		{name: "big into a small buffer", key: idx.Pages[1].Key, want: big, bufCap: 100},
		{name: "cut gzip", key: "cut.json.gz", bufCap: len(big), wantErr: true},
		{name: "after the cut one", key: idx.Pages[2].Key, want: []byte(`{"value":[{"id":"c"}]}`), bufCap: 64, inPlace: true},
		{name: "gzip without its trailer into a buffer of exactly its size", key: "no-trailer.json.gz", bufCap: len(big), exact: true, wantErr: true},
		{name: "not gzip", key: "plain.json", wantErr: true},
		{name: "after the plain one", key: idx.Pages[1].Key, want: big, bufCap: len(big), inPlace: true},
		{name: "empty body", key: idx.Pages[3].Key, want: []byte{}, bufCap: 8, inPlace: true},
		{name: "missing", key: "nothing-here.json.gz", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := make([]byte, 3, tc.bufCap+3) // stale bytes: ReadInto starts at buf[:0]
			copy(buf, "xyz")
			if tc.exact {
				buf = make([]byte, 0, tc.bufCap)
			}
			got, err := r.ReadInto(ctx, bucket, tc.key, buf)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("read %d bytes, want an error", len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("read %d bytes %.40q, want %d bytes %.40q", len(got), got, len(tc.want), tc.want)
			}
			if inPlace := cap(buf) > 0 && len(got) > 0 && &got[0] == &buf[:1][0]; tc.inPlace && len(got) > 0 && !inPlace {
				t.Errorf("the body was not read into the buffer of capacity %d", cap(buf))
			}
		})
	}
	// ReadRawPage and ReadRawPageInto read the same.
	for _, e := range idx.Pages {
		a, err := ReadRawPage(ctx, bucket, e.Key)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ReadRawPageInto(ctx, bucket, e.Key, make([]byte, 0, e.Bytes))
		if err != nil || !bytes.Equal(a, b) || len(a) != e.Bytes {
			t.Errorf("%s: ReadRawPage %d bytes, ReadRawPageInto %d bytes (%v), index %d", e.Key, len(a), len(b), err, e.Bytes)
		}
	}
}

// BenchmarkReadRawPage reads one landed page of about 600 KB of JSON,
// like the pages of a 1M-user replay, two ways: ReadRawPage, and a
// reused RawPageReader into a reused buffer.
func BenchmarkReadRawPage(b *testing.B) {
	ctx := context.Background()
	bucket := openTestBucket(b)
	var page bytes.Buffer
	page.WriteString(`{"value":[`)
	for i := range 999 {
		if i > 0 {
			page.WriteByte(',')
		}
		page.WriteString(`{"id":"` + time.Unix(int64(i)*7919, 0).UTC().Format(time.RFC3339Nano) + `-0000-0000-0000-000000000000",` +
			`"userPrincipalName":"user` + strings.Repeat("x", i%17) + `@contoso.example","userDisplayName":"A User",` +
			`"isAdmin":false,"isMfaCapable":true,"isMfaRegistered":true,"isPasswordlessCapable":false,` +
			`"isSsprCapable":true,"isSsprEnabled":true,"isSsprRegistered":false,"isSystemPreferredAuthenticationMethodEnabled":false,` +
			`"lastUpdatedDateTime":"2026-11-30T04:12:00Z","methodsRegistered":["microsoftAuthenticatorPush","softwareOneTimePasscode"],` +
			`"systemPreferredAuthenticationMethods":[],"userPreferredMethodForSecondaryAuthentication":"push","userType":"member"}`)
	}
	page.WriteString(`]}`)
	idx := landPages(b, bucket, page.Bytes())
	e := idx.Pages[0]
	b.Run("ReadRawPage", func(b *testing.B) {
		b.SetBytes(int64(e.Bytes))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ReadRawPage(ctx, bucket, e.Key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RawPageReader", func(b *testing.B) {
		b.SetBytes(int64(e.Bytes))
		b.ReportAllocs()
		var r RawPageReader
		buf := make([]byte, 0, e.Bytes)
		for b.Loop() {
			body, err := r.ReadInto(ctx, bucket, e.Key, buf)
			if err != nil {
				b.Fatal(err)
			}
			buf = body
		}
	})
}
