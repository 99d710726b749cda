package bqtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/credreg/credreg/load/bq"
	"github.com/credreg/credreg/schemas"
)

// TestRealBigQuery runs the sink against real BigQuery, for users who want
// to check their own project and permissions. It is skipped unless
//
//	CREDREG_BQ_PROJECT   the project (billing: a few DML statements on tiny partitions)
//	CREDREG_BQ_DATASET   a scratch dataset, created if missing
//	CREDREG_BQ_LOCATION  optional: where to create it (default US)
//
// are set, with Application Default Credentials (gcloud auth
// application-default login, or GOOGLE_APPLICATION_CREDENTIALS) allowed
// roles/bigquery.jobUser on the project and roles/bigquery.dataEditor on
// the dataset (on the project when the dataset is to be created):
//
//	CREDREG_BQ_PROJECT=my-project CREDREG_BQ_DATASET=credreg_scratch go test -run TestRealBigQuery -v ./...
//
// It loads one slice of a test tenant (credreg-integration-test) twice,
// checks the counts, and leaves the tables and that tenant's rows in the
// dataset, for a look; drop the dataset when done.
func TestRealBigQuery(t *testing.T) {
	projectID, datasetID := os.Getenv("CREDREG_BQ_PROJECT"), os.Getenv("CREDREG_BQ_DATASET")
	if projectID == "" || datasetID == "" {
		t.Skip("set CREDREG_BQ_PROJECT and CREDREG_BQ_DATASET to run against real BigQuery")
	}
	ctx := context.Background()
	s, err := bq.Open(ctx, bq.Config{Project: projectID, Dataset: datasetID, Location: os.Getenv("CREDREG_BQ_LOCATION")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key := schemas.Key{Date: time.Now().UTC().Truncate(24 * time.Hour), Tenant: "credreg-integration-test"}
	stamp := time.Now().UTC().Format("20060102T150405")
	for i, users := range []int{7, 4} {
		sl := publish(t, dir, key, fmt.Sprintf("it-%s-%d", stamp, i), users, i)
		loaded := loadSlice(t, s, sl)
		t.Logf("loaded %+v", loaded)
		got, err := s.SliceCounts(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, table := range sliceTables {
			if got[table] != sl.Counts[table] {
				t.Errorf("%s: %d rows in BigQuery, %d in Parquet", table, got[table], sl.Counts[table])
			}
		}
	}
}
