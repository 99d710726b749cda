package extract

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob/fileblob"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

// Lookups land beside pages under one seq numbering, 404s included, and a
// run reads back as it was landed; ListRawRuns finds every run of the
// day, the index-less one too.
func TestRawZoneLookupsAndRuns(t *testing.T) {
	ctx := context.Background()
	bucket, err := fileblob.OpenBucket(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	key := schemas.Key{Tenant: "11111111-2222-3333-4444-555555555555", Date: testDay}
	at := testDay.Add(time.Hour)

	older := NewRawZone(bucket, key, schemas.UserRegistrationDetails, "20261120T100000Z-aa")
	page := Page{URL: "https://g/v1.0/x?$top=999", Body: []byte(`{"value":[{"id":"a"}]}`),
		Records: []odata.Record{{Raw: []byte(`{"id":"a"}`)}}, ReceivedAt: at}
	found := Lookup{URL: "https://g/v1.0/x/" + lookupID, UserID: lookupID, Body: []byte(lookupEntity),
		Status: http.StatusOK, Found: true, ReceivedAt: at}
	gone := Lookup{URL: "https://g/v1.0/x/" + lookupID, UserID: lookupID, Body: []byte(lookupGone),
		Status: http.StatusNotFound, ReceivedAt: at}
	if _, err := older.Land(ctx, 1, "all", page); err != nil {
		t.Fatal(err)
	}
	for seq, l := range map[int64]Lookup{2: found, 3: gone} {
		k, err := older.LandLookup(ctx, seq, l)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(k, fmt.Sprintf("/lookup-%06d.json.gz", seq)) {
			t.Errorf("lookup %d landed as %s", seq, k)
		}
	}
	if err := older.Finish(ctx, RawIndex{Tenant: key.Tenant, SnapshotDate: key.DateString(),
		Endpoint: schemas.UserRegistrationDetails, RunID: "20261120T100000Z-aa", Listing: "unsharded"}, true); err != nil {
		t.Fatal(err)
	}
	// A newer run that never finished, a failed run of the beta report,
	// and runs of another day and another tenant, which are not listed.
	crashed := NewRawZone(bucket, key, schemas.UserRegistrationDetails, "20261120T110000Z-bb")
	if _, err := crashed.Land(ctx, 1, "all", page); err != nil {
		t.Fatal(err)
	}
	failed := NewRawZone(bucket, key, schemas.CredentialUserRegistrationDetails, "20261120T103000Z-cc")
	if err := failed.Finish(ctx, RawIndex{Tenant: key.Tenant, SnapshotDate: key.DateString(),
		Endpoint: schemas.CredentialUserRegistrationDetails, RunID: "20261120T103000Z-cc"}, false); err != nil {
		t.Fatal(err)
	}
	for _, k := range []schemas.Key{{Tenant: key.Tenant, Date: testDay.AddDate(0, 0, -1)}, {Tenant: "other", Date: testDay}} {
		if err := NewRawZone(bucket, k, schemas.UserRegistrationDetails, "20261120T120000Z-dd").Finish(ctx, RawIndex{}, true); err != nil {
			t.Fatal(err)
		}
	}

	runs, err := ListRawRuns(ctx, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, string(r.Endpoint)+"/"+r.RunID)
	}
	want := []string{"userRegistrationDetails/20261120T110000Z-bb", "credentialUserRegistrationDetails/20261120T103000Z-cc",
		"userRegistrationDetails/20261120T100000Z-aa"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("runs %v, want %v", got, want)
	}
	if r := runs[0]; !r.NoIndex || r.Complete || r.Tenant != key.Tenant || r.SnapshotDate != key.DateString() {
		t.Errorf("index-less run listed as %+v", r)
	}
	if r := runs[1]; r.NoIndex || r.Complete {
		t.Errorf("failed run listed as %+v", r)
	}
	if _, err := ReadRawIndex(ctx, bucket, crashed.Prefix()); !errors.Is(err, ErrNoRawIndex) {
		t.Errorf("ReadRawIndex of an index-less run = %v", err)
	}

	idx, err := ReadRawIndex(ctx, bucket, older.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	if !idx.Complete || idx.Listing != "unsharded" || len(idx.Pages) != 3 {
		t.Fatalf("index %+v", idx)
	}
	wantEntries := []struct {
		kind, user string
		status     int
		records    int
		body       string
	}{
		{"", "", 0, 1, string(page.Body)},
		{RawKindLookup, lookupID, 200, 1, lookupEntity},
		{RawKindLookup, lookupID, 404, 0, lookupGone},
	}
	for i, w := range wantEntries {
		e := idx.Pages[i]
		if e.Seq != int64(i+1) || e.Kind != w.kind || e.UserID != w.user || e.Status != w.status || e.Records != w.records {
			t.Errorf("entry %d: %+v", i, e)
		}
		body, err := ReadRawPage(ctx, bucket, e.Key)
		if err != nil || string(body) != w.body {
			t.Errorf("entry %d reads back %q, %v", i, body, err)
		}
	}
	// A page's entry carries no kind, status or user: indexes written
	// before lookups existed read the same.
	data, err := bucket.ReadAll(ctx, older.Prefix()+"_index.json")
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), `"seq": 2`)
	for _, field := range []string{`"kind"`, `"user_id"`, `"status"`} {
		if strings.Contains(first, field) {
			t.Errorf("a page's index entry holds %s:\n%s", field, first)
		}
	}
}
