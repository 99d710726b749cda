package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/schemas"
	"github.com/credreg/credreg/transform"
)

// landRecyclePages lands a sharded run whose records exercise everything
// the transformer may keep from a record between pages: users with
// methods, a user read in two shards (the truer copy wins), an id twice
// in one shard, a record that is not JSON and one that is not a user
// (rejects keep raw_json), unknown fields and method values (Stats keep
// their names), and a lookup.
func landRecyclePages(t *testing.T, bucket *blob.Bucket) []extract.RawPage {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	raw := extract.NewRawZone(bucket, schemas.Key{Tenant: "t", Date: testDay}, schemas.UserRegistrationDetails, "r")
	user := func(id, upn, updated string, methods ...string) string {
		return fmt.Sprintf(`{"id":%q,"userPrincipalName":%q,"userDisplayName":"User %s","lastUpdatedDateTime":%q,`+
			`"methodsRegistered":["%s"],"isAdmin":false,"userType":"member"}`, id, upn, id, updated, strings.Join(methods, `","`))
	}
	var seq int64
	for i := range 12 {
		shard := []string{"a", "b"}[i%2]
		var recs []string
		for j := range 5 {
			id := fmt.Sprintf("u%02d-%d", i, j)
			recs = append(recs, user(id, id+"@contoso.example", "2026-11-19T10:00:00Z", "email", "fido2"))
		}
		switch i {
		case 2:
			recs = append(recs, user("moved", "old@contoso.example", "2026-11-18T10:00:00Z", "email"))
		case 5:
			recs = append(recs, user("moved", "new@contoso.example", "2026-11-19T11:00:00Z", "sms"))
		case 7:
			recs = append(recs, user("u07-1", "again@contoso.example", "2026-11-19T10:00:00Z"),
				`{"id":"broken","userPrincipalName":tru}`, `{"id":7}`,
				`{"id":"odd","userPrincipalName":"odd@contoso.example","aFieldNobodyKnows":1,"methodsRegistered":["carrierPigeon"]}`)
		}
		seq++
		if _, err := raw.Land(ctx, seq, shard, extract.Page{Body: []byte(`{"value":[` + strings.Join(recs, ",") + `]}`), ReceivedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	seq++
	body := user("found", "found@contoso.example", "2026-11-19T12:00:00Z", "email")
	if _, err := raw.LandLookup(ctx, seq, extract.Lookup{UserID: "found", Body: []byte(body), Status: http.StatusOK, Found: true, ReceivedAt: at}); err != nil {
		t.Fatal(err)
	}
	return raw.Pages()
}

// Once the transformer has taken a page, nothing it holds points into
// the page's body: replayRaw recycles the body to read a later page into
// while the batches of this one are still to be written. Scribbling over
// every body as soon as it is recycled changes no row, reject or count.
func TestReplayRecycledBodiesAreNotRetained(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	entries := landRecyclePages(t, bucket)

	feed := func(scribble bool) string {
		tr := transform.New(transform.Options{Key: schemas.Key{Tenant: "t", Date: testDay}, Endpoint: schemas.UserRegistrationDetails,
			RunID: "r", BatchRows: 4})
		defer tr.Release()
		var out strings.Builder
		collect := func(batches []transform.Batch) {
			for _, b := range batches {
				fmt.Fprintf(&out, "%s:\n", b.Table.Name)
				if err := array.RecordToJSON(b.Record, &out); err != nil {
					t.Fatal(err)
				}
				b.Record.Release()
			}
		}
		pages, stop := readAhead(ctx, bucket, entries, 2)
		defer stop()
		for p := range pages {
			if p.err != nil {
				t.Fatal(p.err)
			}
			shard := p.e.Shard
			if p.e.Kind == extract.RawKindLookup {
				shard = lookupShard
			}
			batches := tr.AddShardPage(p.e.Seq, shard, p.e.ReceivedAt, p.records)
			if scribble {
				// As replayRaw does, but with the body overwritten at
				// once instead of by a later page some time after.
				copy(p.body[:cap(p.body)], bytes.Repeat([]byte{'#'}, cap(p.body)))
				p.recycle()
			}
			collect(batches)
		}
		collect(tr.Finish())
		fmt.Fprintf(&out, "stats %+v\nsuperseded %d winners %v\n", tr.Stats(), tr.Superseded(), tr.Winners())
		return out.String()
	}
	want, got := feed(false), feed(true)
	if !strings.Contains(want, "moved") || !strings.Contains(want, "carrierPigeon") || !strings.Contains(want, "tru}") {
		t.Fatalf("the pages do not exercise what they should:\n%s", want)
	}
	if got != want {
		t.Errorf("scribbling over recycled bodies changed the output:\n%s\nwant:\n%s", got, want)
	}
}

// readAhead reads every page into the same few buffers when the receiver
// recycles them: depth in the channel, one being read, one being
// transformed.
func TestReadAheadReusesRecycledBuffers(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	raw := extract.NewRawZone(bucket, schemas.Key{Tenant: "t"}, schemas.UserRegistrationDetails, "r")
	for i := range 40 {
		body := fmt.Sprintf(`{"value":[{"id":"u%03d"}]}`, i)
		if _, err := raw.Land(ctx, int64(i+1), "", extract.Page{Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	const depth = 3
	pages, stop := readAhead(ctx, bucket, raw.Pages(), depth)
	defer stop()
	buffers := map[*byte]bool{}
	i := 0
	for p := range pages {
		if p.err != nil {
			t.Fatal(p.err)
		}
		if want := fmt.Sprintf(`{"id":"u%03d"}`, i); string(p.records[0].Raw) != want {
			t.Fatalf("page %d holds %s, want %s", i, p.records[0].Raw, want)
		}
		buffers[&p.body[:1][0]] = true
		p.recycle()
		i++
	}
	if i != 40 || len(buffers) > depth+2 {
		t.Errorf("%d pages read into %d buffers, want 40 pages in at most %d", i, len(buffers), depth+2)
	}
}
