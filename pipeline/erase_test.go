package pipeline

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// An erased slice's manifest keeps every field but its files, its counts
// (less the rows removed), raw.digest when its raw run was rewritten, and
// a list of erasures that grows by one.
func TestErasedManifest(t *testing.T) {
	old := `{"run_id":"r1","future_field":{"kept":true},"counts":{"users":10,"methods":25,"rejected":2,"pages":1},
		"raw":{"prefix":"tenant_id=T/snapshot_date=2026-11-20/userRegistrationDetails/run_id=r1/","digest":"old"},
		"changes":{"rows":7,"previous_snapshot_date":"2026-11-19","previous_raw_digest":"p-old"},"erasures":[{"erasure_id":"e0","log":"_erasures/e0.json"}]}`
	idx := extract.RawIndex{Pages: []extract.RawPage{{Seq: 1, Key: "k", SHA256: "s"}}}
	removed := map[string]int64{"user_registration_details": 1, "user_auth_methods": 3, "rejected_records": 1, "registration_changes": 2}
	files := []load.FileInfo{{Table: "user_registration_details", Path: "p", Rows: 9}}
	for _, tc := range []struct {
		name    string
		changed map[string]extract.RawIndex
		prev    string // the previous slice's new digest
		digest  string
		// wantPrev is changes.previous_raw_digest after
		wantPrev string
	}{
		{"its raw run rewritten (folder in another case)", map[string]extract.RawIndex{
			"tenant_id=t/snapshot_date=2026-11-20/userregistrationdetails/run_id=r1/": idx}, "p-new", rawDigest(idx), "p-new"},
		{"another raw run rewritten", map[string]extract.RawIndex{"tenant_id=t/other/": idx}, "", "old", "p-old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := erasedManifest([]byte(old), files, removed, manifestEdits{changed: tc.changed, previousRawDigest: tc.prev}, "e1")
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				RunID    string              `json:"run_id"`
				Future   map[string]any      `json:"future_field"`
				Counts   map[string]int      `json:"counts"`
				Raw      RawRef              `json:"raw"`
				Change   Changes             `json:"changes"`
				Files    []load.FileInfo     `json:"files"`
				Erasures []map[string]string `json:"erasures"`
			}
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			want := map[string]int{"users": 9, "methods": 22, "rejected": 1, "pages": 1}
			for k, v := range want {
				if m.Counts[k] != v {
					t.Errorf("counts.%s = %d, want %d", k, m.Counts[k], v)
				}
			}
			if m.RunID != "r1" || m.Future["kept"] != true || m.Change.Rows != 5 || len(m.Files) != 1 || m.Files[0].Rows != 9 {
				t.Errorf("manifest %s", data)
			}
			if m.Change.PreviousRawDigest != tc.wantPrev || m.Change.PreviousSnapshotDate != "2026-11-19" {
				t.Errorf("changes %+v, want previous_raw_digest %q", m.Change, tc.wantPrev)
			}
			if m.Raw.Digest != tc.digest {
				t.Errorf("raw.digest %q, want %q", m.Raw.Digest, tc.digest)
			}
			if len(m.Erasures) != 2 || m.Erasures[1]["erasure_id"] != "e1" || m.Erasures[1]["log"] != "_erasures/e1.json" {
				t.Errorf("erasures %v", m.Erasures)
			}
		})
	}
}

// Erasing by object id also matches the person's name, as the slices give
// it: a raw record or reject naming them whose id cannot be read is theirs.
func TestEraseByIDMatchesTheirName(t *testing.T) {
	e := newEnv(t, graphsim.Options{Tenants: []graphsim.Tenant{{ID: graphsim.DefaultTenantID, Users: 40}}})
	o := e.options(t, schemas.UserRegistrationDetails)
	o.Shards = 1
	if _, err := RunTenant(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	users := e.sim.Users(e.tenant, testDay)
	u := users[len(users)/2]
	eo := EraseOptions{Warehouse: e.wh, UserID: strings.ToUpper(u.ID)}
	m, err := eo.match(context.Background(), []schemas.Key{o.Key})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.IDs, []string{strings.ToLower(u.ID)}) || !slices.Equal(m.UPNs, []string{u.UserPrincipalName}) {
		t.Errorf("erasing %s matches %+v, want its id and its name %s", u.ID, m, u.UserPrincipalName)
	}
}
