package bqtest

import (
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credreg/credreg/schemas"
)

// What the emulator ignores — partitioning, clustering, descriptions,
// expirations, how a load is configured — is checked in the requests the
// client sends to it.

type sentField struct {
	Name, Type, Mode, Description string
}

// nullableAsSent is how the client sends a schema: NULLABLE, the default
// mode, is left out.
func nullableAsSent(fields []sentField) []sentField {
	out := slices.Clone(fields)
	for i := range out {
		if out[i].Mode == "NULLABLE" {
			out[i].Mode = ""
		}
	}
	return out
}

type sentTable struct {
	TableReference struct {
		TableID string `json:"tableId"`
	} `json:"tableReference"`
	Description      string
	ExpirationTime   string `json:"expirationTime"`
	TimePartitioning *struct {
		Type, Field string
	} `json:"timePartitioning"`
	Clustering *struct{ Fields []string }   `json:"clustering"`
	Schema     struct{ Fields []sentField } `json:"schema"`
}

type sentJob struct {
	JobReference struct {
		JobID string `json:"jobId"`
	} `json:"jobReference"`
	Configuration struct {
		Load *struct {
			SourceFormat      string   `json:"sourceFormat"`
			SourceURIs        []string `json:"sourceUris"`
			WriteDisposition  string   `json:"writeDisposition"`
			CreateDisposition string   `json:"createDisposition"`
			DestinationTable  struct {
				TableID string `json:"tableId"`
			} `json:"destinationTable"`
			Schema         struct{ Fields []sentField } `json:"schema"`
			ParquetOptions *struct {
				EnableListInference bool `json:"enableListInference"`
			} `json:"parquetOptions"`
		} `json:"load"`
		Query *struct {
			Query string `json:"query"`
		} `json:"query"`
	} `json:"configuration"`
}

// jobOf reads the job resource of a jobs.insert, from the first part of
// an upload or from the body.
func jobOf(t *testing.T, r request) sentJob {
	t.Helper()
	body := r.Body
	if mt, params, err := mime.ParseMediaType(r.ContentType); err == nil && strings.HasPrefix(mt, "multipart/") {
		p, err := multipart.NewReader(strings.NewReader(string(r.Body)), params["boundary"]).NextPart()
		if err != nil {
			t.Fatal(err)
		}
		if body, err = io.ReadAll(p); err != nil {
			t.Fatal(err)
		}
	}
	var j sentJob
	if err := json.Unmarshal(body, &j); err != nil {
		t.Fatalf("job resource %s: %v", body, err)
	}
	return j
}

func wantFields(tab *schemas.Table) []sentField {
	var out []sentField
	for _, f := range tab.BigQuery() {
		out = append(out, sentField{f.Name, f.Type, f.Mode, f.Description})
	}
	return out
}

func TestWhatTheClientSends(t *testing.T) {
	e := newEmulator(t)
	mark := e.mark()
	s := ensured(t, e, e.config())
	sl := publish(t, t.TempDir(), schemas.Key{Date: day(27), Tenant: "tenant-a"}, "run-1", 2, 1)
	started := time.Now()
	loadSlice(t, s, sl)

	clustering := map[string][]string{
		"user_registration_details":  {"tenant_id", "user_id"},
		"user_auth_methods":          {"tenant_id", "method_family", "user_id"},
		"rejected_records":           {"tenant_id", "reason_code"},
		"registration_daily_summary": {"tenant_id"},
		"registration_changes":       {"tenant_id", "change", "user_id"},
		"load_runs":                  {"tenant_id"},
	}
	tables, staging := map[string]sentTable{}, map[string]sentTable{}
	var loads, swaps []sentJob
	for _, r := range e.requests(mark) {
		switch {
		case r.Method == "POST" && strings.HasSuffix(r.Path, "/datasets/credreg/tables"):
			var tab sentTable
			if err := json.Unmarshal(r.Body, &tab); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(tab.TableReference.TableID, "credreg_staging_") {
				staging[tab.TableReference.TableID] = tab
			} else {
				tables[tab.TableReference.TableID] = tab
			}
		case r.Method == "POST" && (strings.HasSuffix(r.Path, "/jobs")):
			j := jobOf(t, r)
			if j.Configuration.Load != nil {
				loads = append(loads, j)
			}
			if j.Configuration.Query != nil && strings.Contains(j.Configuration.Query.Query, "TRANSACTION") {
				swaps = append(swaps, j)
			}
		}
	}
	for _, tab := range schemas.BigQueryTables() {
		got, ok := tables[tab.Name]
		if !ok {
			t.Errorf("table %s not created", tab.Name)
			continue
		}
		if p := got.TimePartitioning; p == nil || p.Type != "DAY" || p.Field != "snapshot_date" {
			t.Errorf("%s: partitioning %+v, want DAY on snapshot_date", tab.Name, p)
		}
		if got.Clustering == nil || !slices.Equal(got.Clustering.Fields, clustering[tab.Name]) {
			t.Errorf("%s: clustering %+v, want %v", tab.Name, got.Clustering, clustering[tab.Name])
		}
		if !slices.Equal(got.Schema.Fields, nullableAsSent(wantFields(tab))) || got.Description == "" {
			t.Errorf("%s: schema %+v, description %q", tab.Name, got.Schema.Fields, got.Description)
		}
	}
	if len(staging) != len(schemas.Tables) {
		t.Errorf("staging tables created: %d, want one per table (%d)", len(staging), len(schemas.Tables))
	}
	for name, tab := range staging {
		ms, err := time.ParseDuration(tab.ExpirationTime + "ms")
		exp := time.UnixMilli(ms.Milliseconds())
		if err != nil || exp.Before(started.Add(6*time.Hour-time.Minute)) || exp.After(time.Now().Add(6*time.Hour+time.Minute)) {
			t.Errorf("staging table %s expires at %q, want in 6h", name, tab.ExpirationTime)
		}
	}
	if len(loads) != len(schemas.Tables) {
		t.Fatalf("%d load jobs, want one per table (%d)", len(loads), len(schemas.Tables))
	}
	for _, j := range loads {
		l := j.Configuration.Load
		dest := l.DestinationTable.TableID
		rest := strings.TrimPrefix(j.JobReference.JobID, "credreg_load_")
		tab, ok := (*schemas.Table)(nil), false
		for _, c := range schemas.Tables {
			if strings.HasPrefix(rest, c.Name+"_") {
				tab, ok = c, true
			}
		}
		if !ok {
			t.Errorf("load job id %s names no table", j.JobReference.JobID)
			continue
		}
		if l.SourceFormat != "PARQUET" || l.WriteDisposition != "WRITE_TRUNCATE" || l.CreateDisposition != "CREATE_NEVER" ||
			l.ParquetOptions == nil || !l.ParquetOptions.EnableListInference {
			t.Errorf("load job %s: %+v", j.JobReference.JobID, l)
		}
		if _, ok := staging[dest]; !ok {
			t.Errorf("load job %s loads into %s, not a staging table", j.JobReference.JobID, dest)
		}
		if !slices.Equal(l.Schema.Fields, nullableAsSent(wantFields(tab))) {
			t.Errorf("load job %s: schema %+v, want %s's", j.JobReference.JobID, l.Schema.Fields, tab.Name)
		}
	}
	if len(swaps) != 1 || !strings.HasPrefix(swaps[0].JobReference.JobID, "credreg_swap_") {
		t.Fatalf("swap jobs %+v", swaps)
	}
	q := swaps[0].Configuration.Query.Query
	if strings.Index(q, "BEGIN TRANSACTION") != 0 || !strings.HasSuffix(strings.TrimSpace(q), "COMMIT TRANSACTION;") {
		t.Errorf("swap is not one transaction:\n%s", q)
	}
}
