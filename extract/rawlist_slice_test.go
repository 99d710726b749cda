package extract

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/credreg/credreg/internal/blobtest"
	"github.com/credreg/credreg/schemas"
)

// ListRawSlice lists one slice as ListRawSlices does, merging the case
// variants it is given, and lists nothing but those folders' day: not the
// raw zone's top, not another tenant's folder, not another day.
func TestListRawSliceListsOnlyItsFolders(t *testing.T) {
	ctx := context.Background()
	inner := memblob.OpenBucket(nil)
	defer inner.Close()
	const users = schemas.UserRegistrationDetails
	landRun(t, inner, "t1", "2026-11-20", users, "20261120T080000Z-a", "complete")
	landRun(t, inner, "T1", "2026-11-20", users, "20261120T100000Z-b", "complete") // landed before ids were lowercased
	landRun(t, inner, "t1", "2026-11-20", users, "20261120T110000Z-c", "")         // crashed
	landRun(t, inner, "t1", "2026-11-21", users, "20261121T080000Z-d", "complete")
	for _, other := range []string{"t0", "t2", "T3"} {
		landRun(t, inner, other, "2026-11-20", users, "20261120T090000Z-"+other, "complete")
	}
	bucket, rec := blobtest.NewRecorder(inner)
	defer bucket.Close()
	d := time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC) // a day counts whole

	all, err := ListRawSlices(ctx, inner, d, d, []string{"t1"})
	if err != nil || len(all) != 1 {
		t.Fatalf("ListRawSlices = %v, %v", all, err)
	}
	cases := []struct {
		name    string
		folders []string
		want    string // run ids, newest first; "" = no slice
	}{
		{"both cases", []string{"t1", "T1"}, runIDs(all[0].Runs)},
		{"twice", []string{"T1", "t1", "T1"}, runIDs(all[0].Runs)},
		{"lowercase only", []string{"t1"}, "20261120T110000Z-c,20261120T080000Z-a"},
		{"capitals only", []string{"T1", ""}, "20261120T100000Z-b"},
		{"no such folder", []string{"t9"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec.Listed()
			s, ok, err := ListRawSlice(ctx, bucket, d, tc.folders)
			if err != nil {
				t.Fatal(err)
			}
			if got := runIDs(s.Runs); ok != (tc.want != "") || got != tc.want {
				t.Errorf("ListRawSlice = %v %q, want %q", ok, got, tc.want)
			}
			if ok && (s.Tenant != "t1" || !s.Date.Equal(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))) {
				t.Errorf("slice is %s %s, want t1 2026-11-20", s.Tenant, s.Date)
			}
			if tc.name == "both cases" && !reflect.DeepEqual(s, all[0]) {
				t.Errorf("ListRawSlice = %+v,\nListRawSlices = %+v", s, all[0])
			}
			listed := rec.Listed()
			if len(listed) == 0 {
				t.Fatal("nothing listed")
			}
			for _, l := range listed {
				p := l.Prefix
				if !strings.HasPrefix(p, "tenant_id=t1/snapshot_date=2026-11-20/") &&
					!strings.HasPrefix(p, "tenant_id=T1/snapshot_date=2026-11-20/") &&
					!strings.HasPrefix(p, "tenant_id=t9/snapshot_date=2026-11-20/") {
					t.Errorf("listed %q: outside the slice's folders", p)
				}
			}
		})
	}
}

func TestRawTenantFolder(t *testing.T) {
	for _, tc := range []struct{ prefix, want string }{
		{"tenant_id=Contoso/snapshot_date=2026-11-20/userRegistrationDetails/run_id=r/", "Contoso"},
		{"tenant_id=t1/", "t1"},
		{"tenant_id=t1", ""},
		{"tenant_id=/snapshot_date=2026-11-20/", ""},
		{"other/tenant_id=t1/", ""},
		{"", ""},
	} {
		got, ok := RawTenantFolder(tc.prefix)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("RawTenantFolder(%q) = %q %v, want %q", tc.prefix, got, ok, tc.want)
		}
	}
}
