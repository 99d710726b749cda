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

// replayOutput renders what a Transformer made of a raw run: every batch
// as JSON, then its Stats, superseded count and winners.
type replayOutput struct {
	t  *testing.T
	sb strings.Builder
}

func (o *replayOutput) collect(batches []transform.Batch) {
	for _, b := range batches {
		fmt.Fprintf(&o.sb, "%s:\n", b.Table.Name)
		if err := array.RecordToJSON(b.Record, &o.sb); err != nil {
			o.t.Fatal(err)
		}
		b.Record.Release()
	}
}

func (o *replayOutput) finish(tr *transform.Transformer) string {
	o.collect(tr.Finish())
	fmt.Fprintf(&o.sb, "stats %+v\nsuperseded %d winners %v\n", tr.Stats(), tr.Superseded(), tr.Winners())
	return o.sb.String()
}

func newRecycleTransformer() *transform.Transformer {
	return transform.New(transform.Options{Key: schemas.Key{Tenant: "t", Date: testDay}, Endpoint: schemas.UserRegistrationDetails,
		RunID: "r", BatchRows: 4})
}

// serialReplay is the reference: every page read into a buffer of its
// own, decoded and added on one goroutine by AddShardPage.
func serialReplay(t *testing.T, bucket *blob.Bucket, entries []extract.RawPage) string {
	t.Helper()
	ctx := context.Background()
	tr := newRecycleTransformer()
	defer tr.Release()
	out := replayOutput{t: t}
	var rd extract.RawPageReader
	for _, e := range entries {
		_, records, err := readRawEntry(ctx, &rd, bucket, e, nil)
		if err != nil {
			t.Fatal(err)
		}
		shard := e.Shard
		if e.Kind == extract.RawKindLookup {
			shard = lookupShard
		}
		out.collect(tr.AddShardPage(e.Seq, shard, e.ReceivedAt, records))
	}
	return out.finish(tr)
}

// Once the transformer has added a page, nothing it holds points into the
// page's body: replayRaw recycles the body (and the page's decoded
// records) to read a later page into while the batches of this one are
// still to be written. Decoding ahead on the reader's goroutine and
// scribbling over every body as soon as it is recycled gives exactly the
// rows, rejects (raw_json of records that are not users and of a repeat
// that decoded fine) and counts of the serial path.
func TestReplayRecycledBodiesAreNotRetained(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	entries := landRecyclePages(t, bucket)
	want := serialReplay(t, bucket, entries)
	for _, s := range []string{"moved", "carrierPigeon", "tru}", `"reason_code":"duplicate_id"`, "again@contoso.example", "found@"} {
		if !strings.Contains(want, s) {
			t.Fatalf("the pages do not exercise what they should (no %s):\n%s", s, want)
		}
	}

	tr := newRecycleTransformer()
	defer tr.Release()
	out := replayOutput{t: t}
	dec := tr.Decoder()
	pages, stop := readAhead(ctx, bucket, entries, 2, readWorkers, &dec)
	defer stop()
	for p := range pages {
		if p.err != nil {
			t.Fatal(p.err)
		}
		shard := p.e.Shard
		if p.e.Kind == extract.RawKindLookup {
			shard = lookupShard
		}
		batches := tr.AddDecodedShardPage(p.e.Seq, shard, p.e.ReceivedAt, p.decoded)
		// As replayRaw does, but with the body overwritten at once
		// instead of by a later page some time after.
		copy(p.body[:cap(p.body)], bytes.Repeat([]byte{'#'}, cap(p.body)))
		p.recycle()
		out.collect(batches)
	}
	if got := out.finish(tr); got != want {
		t.Errorf("decoding ahead and scribbling over recycled bodies changed the output:\n%s\nwant:\n%s", got, want)
	}
}

// replayRaw itself, decoding on the reader's goroutine, writes exactly
// the batches of the serial path, in the same order; under -race, a body
// recycled while the transformer still reads it is also a reported race.
func TestReplayRawMatchesTheSerialPath(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	entries := landRecyclePages(t, bucket)
	want := serialReplay(t, bucket, entries)
	idx := extract.RawIndex{Endpoint: schemas.UserRegistrationDetails, Shards: extract.ShardPlan{{Name: "a"}, {Name: "b"}}, Pages: entries}
	for range 3 {
		tr := newRecycleTransformer()
		out := replayOutput{t: t}
		err := replayRaw(ctx, bucket, idx, tr, func(b transform.Batch) error {
			out.collect([]transform.Batch{b})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got := out.finish(tr)
		tr.Release()
		if got != want {
			t.Fatalf("replayRaw's output differs from the serial path's:\n%s\nwant:\n%s", got, want)
		}
	}
}

// readAhead reads every page into the same few buffers when the receiver
// recycles them: depth waiting (at least one per reader), one being read
// by each reader, one being transformed.
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
	for _, workers := range []int{1, 2, 3} {
		pages, stop := readAhead(ctx, bucket, raw.Pages(), depth, workers, nil)
		buffers := map[*byte]bool{}
		i := 0
		for p := range pages {
			if p.err != nil {
				t.Fatal(p.err)
			}
			if want := fmt.Sprintf(`{"id":"u%03d"}`, i); string(p.records[0].Raw) != want {
				t.Fatalf("%d workers: page %d holds %s, want %s", workers, i, p.records[0].Raw, want)
			}
			buffers[&p.body[:1][0]] = true
			p.recycle()
			i++
		}
		stop()
		most := workers*(max(1, depth/workers)+1) + 1
		if i != 40 || len(buffers) > most {
			t.Errorf("%d workers: %d pages read into %d buffers, want 40 pages in at most %d", workers, i, len(buffers), most)
		}
	}
}
