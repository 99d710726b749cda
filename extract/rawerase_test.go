package extract

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"path"
	"reflect"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob/fileblob"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
)

const (
	eraseID  = "0f0e0d0c-0b0a-4909-8807-060504030201"
	eraseUPN = "adele.vance@contoso.example"
)

// A page rewritten without the person keeps every other byte: the
// envelope, the whitespace around the array, the other records as sent,
// a record that is not valid JSON included.
func TestEraseBody(t *testing.T) {
	m := RawMatch{IDs: []string{eraseID}}
	for _, tc := range []struct {
		name, body, want string
		removed          int
		fail             bool
	}{
		{"middle", `{"@odata.context":"c","value":[ {"id":"a"}, {"id":"` + eraseID + `","x":1}, {"id":"b"} ],"@odata.nextLink":"https://g/next"}`,
			`{"@odata.context":"c","value":[ {"id":"a"},{"id":"b"} ],"@odata.nextLink":"https://g/next"}`, 1, false},
		{"first, id in capitals", `{"value":[{"id":"` + strings.ToUpper(eraseID) + `"},{"id":"a"}]}`, `{"value":[{"id":"a"}]}`, 1, false},
		{"last", `{"value":[{"id":"a"},{"id":"` + eraseID + `"}]}`, `{"value":[{"id":"a"}]}`, 1, false},
		{"alone", "{\"value\":[\n  {\"id\":\"" + eraseID + "\"}\n]}", "{\"value\":[\n  \n]}", 1, false},
		{"twice", `{"value":[{"id":"` + eraseID + `"},{"id":"a"},{"id":"` + eraseID + `"}]}`, `{"value":[{"id":"a"}]}`, 2, false},
		{"absent", `{"value":[{"id":"a"},{"id":"b"}]}`, `{"value":[{"id":"a"},{"id":"b"}]}`, 0, false},
		{"salvaged page", `{"value":[{"id":"a"},{"id":"` + eraseID + `",broken},{"id":"b",oops}]}`,
			`{"value":[{"id":"a"},{"id":"b",oops}]}`, 1, false},
		{"another id holding theirs, not valid JSON", `{"value":[{"id":"x` + eraseID + `",bad}]}`, `{"value":[{"id":"x` + eraseID + `",bad}]}`, 0, false},
		{"not a page, naming them", `{"error":"` + eraseID + `"`, "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, removed, drop, err := eraseBody(kindPage, RawPage{}, []byte(tc.body), m)
			if tc.fail {
				if err == nil || strings.Contains(err.Error(), eraseID) {
					t.Fatalf("err = %v, want an error that does not name the person", err)
				}
				return
			}
			if err != nil || drop {
				t.Fatalf("err %v, drop %t", err, drop)
			}
			if string(got) != tc.want || removed != tc.removed {
				t.Errorf("got %s (%d removed)\nwant %s (%d removed)", got, removed, tc.want, tc.removed)
			}
			if _, err := odata.Split(got); err != nil {
				t.Errorf("the rewritten page does not split: %v", err)
			}
		})
	}
}

// A run rewritten without the person: the page keeps the others, the
// lookup of them and a kept body naming them are deleted, the aggregate
// stays, and the index matches what the run now holds. A second erasure
// changes nothing; an index an interrupted erasure left stale is mended.
func TestEraseFromRawRun(t *testing.T) {
	ctx := context.Background()
	bucket, err := fileblob.OpenBucket(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	key := schemas.Key{Tenant: "11111111-2222-3333-4444-555555555555", Date: testDay}
	at := testDay.Add(time.Hour)
	z := NewRawZone(bucket, key, schemas.UserRegistrationDetails, "20261120T100000Z-aa")
	body := `{"value":[{"id":"a","userPrincipalName":"a@x"},{"id":"b","userPrincipalName":"` + strings.ToUpper(eraseUPN) + `"}]}`
	if _, err := z.Land(ctx, 1, "all", Page{Body: []byte(body), Records: make([]odata.Record, 2), ReceivedAt: at}); err != nil {
		t.Fatal(err)
	}
	if _, err := z.LandLookup(ctx, 2, Lookup{UserID: "b", Body: []byte(`{"id":"b"}`), Status: http.StatusOK, Found: true, ReceivedAt: at}); err != nil {
		t.Fatal(err)
	}
	if _, err := z.LandLookup(ctx, 3, Lookup{UserID: "a", Body: []byte(`{"id":"a"}`), Status: http.StatusOK, Found: true, ReceivedAt: at}); err != nil {
		t.Fatal(err)
	}
	if _, err := z.LandInvalid(ctx, 4, "all", &PageError{Body: []byte("<html>" + eraseUPN + "</html>")}, "https://g/x"); err != nil {
		t.Fatal(err)
	}
	if _, err := z.LandAggregate(ctx, 5, Aggregate{Kind: UsersRegisteredByFeature, Body: []byte(`{"value":[]}`)}); err != nil {
		t.Fatal(err)
	}
	if err := z.Finish(ctx, RawIndex{Tenant: key.Tenant, SnapshotDate: key.DateString(), RunID: "20261120T100000Z-aa"}, true); err != nil {
		t.Fatal(err)
	}
	// By UPN and by id: the lookup's index entry holds only the id.
	m := RawMatch{IDs: []string{"B"}, UPNs: []string{eraseUPN}}

	dry, err := EraseFromRawRun(ctx, bucket, z.Prefix(), m, true)
	if err != nil {
		t.Fatal(err)
	}
	if idx, _ := ReadRawIndex(ctx, bucket, z.Prefix()); len(idx.Pages) != 5 {
		t.Fatalf("the dry run changed the index: %d entries", len(idx.Pages))
	}
	res, err := EraseFromRawRun(ctx, bucket, z.Prefix(), m, false)
	if err != nil {
		t.Fatal(err)
	}
	want := RawErasure{Prefix: z.Prefix(), RunID: "20261120T100000Z-aa", PagesRewritten: 1, RecordsRemoved: 1, ObjectsRemoved: 2, IndexUpdated: true}
	res.Index, dry.Index = RawIndex{}, RawIndex{}
	if !reflect.DeepEqual(res, want) || !reflect.DeepEqual(dry, want) {
		t.Errorf("erasure %+v, dry run %+v, want %+v", res, dry, want)
	}
	idx, err := ReadRawIndex(ctx, bucket, z.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, p := range idx.Pages {
		kinds = append(kinds, path.Base(p.Key))
		got, err := ReadRawPage(ctx, bucket, p.Key)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(got)
		if p.SHA256 != hex.EncodeToString(sum[:]) || p.Bytes != len(got) {
			t.Errorf("%s: the index's checksum is not the page's", p.Key)
		}
		if strings.Contains(strings.ToLower(string(got)), eraseUPN) {
			t.Errorf("%s still names the person", p.Key)
		}
		if p.Seq == 1 && (string(got) != `{"value":[{"id":"a","userPrincipalName":"a@x"}]}` || p.Records != 1) {
			t.Errorf("the page is %s with %d records", got, p.Records)
		}
	}
	if strings.Join(kinds, " ") != "page-000001.json.gz lookup-000003.json.gz aggregate-000005-usersRegisteredByFeature.json.gz" {
		t.Errorf("the run holds %v", kinds)
	}
	for _, k := range []string{"lookup-000002.json.gz", "page-000004.invalid.json.gz"} {
		if ok, _ := bucket.Exists(ctx, z.Prefix()+k); ok {
			t.Errorf("%s was not deleted", k)
		}
	}

	again, err := EraseFromRawRun(ctx, bucket, z.Prefix(), m, false)
	if err != nil || again.Changed() {
		t.Errorf("a second erasure: %+v, %v; want no change", again, err)
	}
	// An erasure interrupted after rewriting the page, before the index.
	wantSum := idx.Pages[0].SHA256
	stale := idx
	stale.Pages = append([]RawPage(nil), idx.Pages...)
	stale.Pages[0].SHA256 = strings.Repeat("0", 64)
	if err := writeRawIndex(ctx, bucket, z.Prefix(), stale); err != nil {
		t.Fatal(err)
	}
	mended, err := EraseFromRawRun(ctx, bucket, z.Prefix(), m, false)
	if err != nil || !mended.IndexUpdated || mended.PagesRewritten != 0 {
		t.Errorf("the erasure after an interrupted one: %+v, %v; want the index mended", mended, err)
	}
	if got, _ := ReadRawIndex(ctx, bucket, z.Prefix()); got.Pages[0].SHA256 != wantSum {
		t.Error("the stale index was not mended")
	}
	if _, err := EraseFromRawRun(ctx, bucket, z.Prefix(), RawMatch{}, false); err == nil {
		t.Error("an erasure matching nobody was accepted")
	}
	if _, err := EraseFromRawRun(ctx, bucket, "tenant_id=x/none/", m, false); err != nil && !errors.Is(err, ErrNoRawIndex) {
		t.Errorf("an empty folder: %v", err)
	}
}
