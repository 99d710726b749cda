package graphsim

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/credreg/credreg/internal/odata"
	"github.com/credreg/credreg/schemas"
	"github.com/credreg/credreg/transform"
)

// fetched is one record as a client receives it: through odata's tolerant
// split, then credreg's data contract.
type fetched struct {
	raw    []byte
	id     string // the loaded user's id, or the id a reject names
	reason string // "" for a loaded user
}

// listTolerant follows a listing's next links, splitting pages the way
// credreg does, so that a page holding invalid JSON is still read.
func listTolerant(t *testing.T, s *Server, tok, url string) (recs []odata.Record, salvaged int) {
	t.Helper()
	for pages := 0; url != ""; pages++ {
		if pages > 1000 {
			t.Fatal("listing does not end")
		}
		r := get(t, s, tok, url)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: status %d: %s", url, r.status, r.body)
		}
		p, err := odata.Split(r.body)
		if err != nil {
			t.Fatalf("page %s: %v", r.body, err)
		}
		if p.Salvaged {
			salvaged++
		}
		recs = append(recs, p.Records...)
		url = p.NextLink
	}
	return recs, salvaged
}

// decodeAll applies the data contract to the records of one snapshot:
// DecodeRecord per record, and duplicate_id for an id loaded before, as
// transform.Transformer does.
func decodeAll(t *testing.T, endpoint schemas.Endpoint, recs []odata.Record) []fetched {
	t.Helper()
	seen := map[string]bool{}
	out := make([]fetched, len(recs))
	for i, r := range recs {
		out[i].raw = r.Raw
		rec, err := transform.DecodeRecord(endpoint, r.Raw)
		var re *transform.RecordError
		switch {
		case errors.As(err, &re):
			out[i].reason, out[i].id = re.Code, re.UserID
		case err != nil:
			t.Fatalf("record %s: %v is not a *RecordError", r.Raw, err)
		case seen[rec.ID]:
			out[i].reason, out[i].id = transform.ReasonDuplicateID, rec.ID
		default:
			seen[rec.ID] = true
			out[i].id = rec.ID
		}
	}
	return out
}

func TestDefects(t *testing.T) {
	const users, after = 60, 20
	defects := AllDefects(after)
	// Anchored on the day, whose MFA campaign has only begun: users
	// without MFA sit among the defects' neighbours, so both shards hold
	// some (in a tenant anchored in 2024, whose campaign is long over,
	// none of them is).
	s := newServer(t, Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: users, UsersOn: testDay, Defects: defects}}})
	tok := accessToken(t, s, DefaultTenantID)
	truth := s.Users(DefaultTenantID, testDay)
	isUser := map[string]bool{}
	for _, u := range truth {
		isUser[u.ID] = true
	}
	shards := []string{"isMfaRegistered eq true", "isMfaRegistered eq false"}
	tests := []struct {
		name     string
		endpoint schemas.Endpoint
		path     string
		filters  []string // one listing each; "" for none
	}{
		{"v1.0 whole", schemas.UserRegistrationDetails, v1Path, []string{""}},
		{"v1.0 two shards", schemas.UserRegistrationDetails, v1Path, shards},
		{"beta whole", schemas.CredentialUserRegistrationDetails, betaPath, []string{""}},
		{"beta two shards", schemas.CredentialUserRegistrationDetails, betaPath, shards},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Stats().Defects
			var all []fetched
			salvaged := 0
			for _, f := range tt.filters {
				// Small pages, so that defects also sit at page edges.
				u := s.URL() + tt.path + "?$top=7"
				if f != "" {
					u += "&$filter=" + url.QueryEscape(f)
				}
				recs, sv := listTolerant(t, s, tok, u)
				salvaged += sv
				got := decodeAll(t, tt.endpoint, recs)
				if len(tt.filters) > 1 && !slices.ContainsFunc(got, func(r fetched) bool { return r.reason != "" }) {
					t.Fatalf("shard %q holds no defect: the test does not split the defects", f)
				}
				all = append(all, got...)
			}

			wantReasons := map[string]int{}
			for _, d := range defects {
				wantReasons[d.Kind.Reason(tt.endpoint)]++
			}
			gotReasons := map[string]int{}
			var loaded []string
			for _, r := range all {
				if r.reason == "" {
					loaded = append(loaded, r.id)
					continue
				}
				gotReasons[r.reason]++
				// An injected record with a readable id of its own must not
				// pass for a user.
				if r.reason != transform.ReasonDuplicateID && isUser[r.id] {
					t.Errorf("%s record %s carries user %s's id", r.reason, r.raw, r.id)
				}
			}
			if !maps.Equal(gotReasons, wantReasons) {
				t.Errorf("rejects by reason %v, want %v", gotReasons, wantReasons)
			}
			slices.Sort(loaded)
			if !slices.Equal(loaded, sortedIDs(truth)) {
				t.Errorf("%d users loaded, want each of the %d users once", len(loaded), len(truth))
			}
			if salvaged != 1 {
				t.Errorf("%d pages needed the tolerant split, want the one with the invalid_json record", salvaged)
			}
			if n := s.Stats().Defects - before; n != int64(len(defects)) {
				t.Errorf("Stats.Defects grew by %d, want %d", n, len(defects))
			}
		})
	}
}

// TestDefectPlacement: in the whole listing each injected record comes
// right after its user's record; a duplicate is that record byte for byte.
func TestDefectPlacement(t *testing.T) {
	const users = 12
	defects := []Defect{
		{After: 0, Kind: DefectNullRecord},
		{After: 5, Kind: DefectDuplicateID},
		{After: 5, Kind: DefectInvalidJSON}, // two after one user, in the order given
		{After: users - 1, Kind: DefectMissingID},
	}
	s := newServer(t, Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: users, Defects: defects}}})
	tok := accessToken(t, s, DefaultTenantID)
	// Defect.After indexes Users (ID order); the defect follows that
	// user wherever the listing order puts it.
	index := map[string]int{}
	for i, u := range s.Users(DefaultTenantID, testDay) {
		index[u.ID] = i
	}
	var want []string
	for _, u := range listingOrder(s, DefaultTenantID, testDay) {
		want = append(want, u.ID)
		for _, d := range defects {
			if d.After == index[u.ID] {
				want = append(want, string(d.Kind))
			}
		}
	}
	for _, path := range []string{v1Path, betaPath} {
		t.Run(path, func(t *testing.T) {
			recs, _ := listTolerant(t, s, tok, s.URL()+path+"?$top=5")
			endpoint := schemas.UserRegistrationDetails
			if path == betaPath {
				endpoint = schemas.CredentialUserRegistrationDetails
			}
			var got []string
			for i, r := range decodeAll(t, endpoint, recs) {
				switch r.reason {
				case "":
					got = append(got, r.id)
				case transform.ReasonDuplicateID:
					if string(r.raw) != string(recs[i-1].Raw) {
						t.Errorf("duplicate %s differs from the record before it, %s", r.raw, recs[i-1].Raw)
					}
					fallthrough
				default:
					got = append(got, r.reason)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("listing\n%v\nwant\n%v", got, want)
			}
		})
	}
}

func TestDefectsValidated(t *testing.T) {
	tests := []struct {
		name    string
		defects []Defect
		wantErr string // "" for none
	}{
		{"all kinds", AllDefects(0), ""},
		{"last user", []Defect{{After: 9, Kind: DefectNullRecord}}, ""},
		{"past the last user", []Defect{{After: 10, Kind: DefectNullRecord}}, "After 10"},
		{"negative", []Defect{{After: -1, Kind: DefectNullRecord}}, "After -1"},
		{"unknown kind", []Defect{{After: 1, Kind: "half_a_record"}}, `unknown kind "half_a_record"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: 10, Defects: tt.defects}}})
			if err == nil {
				s.Close()
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("New: %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}

// TestDefectKindsAreReasonCodes holds graphsim's kinds to transform's
// reason codes, which graphsim cannot import.
func TestDefectKindsAreReasonCodes(t *testing.T) {
	codes := []string{transform.ReasonInvalidJSON, transform.ReasonNullRecord, transform.ReasonNotObject,
		transform.ReasonMissingID, transform.ReasonMalformedID, transform.ReasonMissingUPN,
		transform.ReasonWrongType, transform.ReasonBadTimestamp, transform.ReasonDuplicateID}
	var kinds []string
	for _, d := range AllDefects(0) {
		kinds = append(kinds, string(d.Kind))
	}
	if !slices.Equal(kinds, codes) {
		t.Errorf("AllDefects kinds %v, want transform's reason codes %v", kinds, codes)
	}
}

func sortedIDs(us []User) []string {
	out := userIDs(us)
	slices.Sort(out)
	return out
}
