package main

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/graphsim"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/schemas"
)

// land serves the tenants from an in-process graphsim with throttling off
// and runs credreg once over them, so rawDir holds exactly what a nightly
// run lands. It returns the snapshot date, for backfill --from.
func land(rawDir string, tenants, users int) (time.Time, error) {
	day := time.Now().UTC().Truncate(24 * time.Hour)
	var sims []graphsim.Tenant
	for i := range tenants {
		sims = append(sims, graphsim.Tenant{ID: graphsim.TenantID(i), Users: users, UsersOn: day})
	}
	sim, err := graphsim.New(graphsim.Options{Tenants: sims, EmptyPageEvery: -1, Limits: graphsim.Limits{Disabled: true}})
	if err != nil {
		return day, err
	}
	defer sim.Close()
	var sources []pipeline.TenantSource
	for _, t := range sims {
		sources = append(sources, pipeline.TenantSource{ID: t.ID, Credential: extract.CredentialOptions{
			ClientID: graphsim.DefaultClientID, ClientSecret: graphsim.DefaultClientSecret,
			AuthorityHost: sim.URL(), HTTPClient: sim.Client(), Getenv: func(string) string { return "" }}})
	}
	ctx := context.Background()
	// The warehouse of the landing run is thrown away: only the raw zone
	// is replayed.
	whDir, err := os.MkdirTemp(filepath.Dir(rawDir), "landing-wh-")
	if err != nil {
		return day, err
	}
	defer os.RemoveAll(whDir)
	wh, err := load.OpenWarehouse(ctx, whDir)
	if err != nil {
		return day, err
	}
	defer wh.Close()
	if err := os.MkdirAll(rawDir, 0o755); err != nil {
		return day, err
	}
	raw, err := load.OpenBucket(ctx, rawDir)
	if err != nil {
		return day, err
	}
	defer raw.Close()
	res := pipeline.Run(ctx, pipeline.RunOptions{
		Tenant: pipeline.Options{Key: schemas.Key{Date: day}, Endpoint: schemas.UserRegistrationDetails,
			Source: pipeline.Source{GraphURL: sim.URL(), HTTPClient: sim.Client(),
				Throttle: extract.NewThrottle(extract.Limits{PerTenant: 1 << 20, App: 1 << 20})},
			Sink: pipeline.ParquetSink{Warehouse: wh}, Raw: raw, Logger: slog.New(slog.DiscardHandler)},
		Tenants: sources,
	})
	if err := res.Err(); err != nil {
		return day, err
	}
	for _, t := range res.Tenants {
		if got := t.Manifest.Counts.Users; int(got) != users {
			return day, fmt.Errorf("tenant %s: landed %d users, want %d", t.Tenant.ID, got, users)
		}
	}
	return day, nil
}

// landOnce lands the pages and their uncompressed copies, or, when work
// already holds them (-dir of an earlier run), reuses them: the file
// "landed" records the snapshot date and the shape they were landed for.
func landOnce(work, rawDir, jsonDir string, tenants, users int) (time.Time, error) {
	marker := filepath.Join(work, "landed")
	shape := fmt.Sprintf("%d x %d", tenants, users)
	if b, err := os.ReadFile(marker); err == nil {
		day, rest, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
		if rest == shape {
			fmt.Fprintf(os.Stderr, "reusing the pages landed in %s\n", work)
			return time.Parse(time.DateOnly, day)
		}
		return time.Time{}, fmt.Errorf("%s holds pages of %s users, not %s: use another -dir", work, rest, shape)
	}
	fmt.Fprintf(os.Stderr, "landing %s users into %s ...\n", shape, rawDir)
	day, err := land(rawDir, tenants, users)
	if err != nil {
		return day, fmt.Errorf("landing pages: %w", err)
	}
	pages, jsonBytes, err := decompress(rawDir, jsonDir)
	if err != nil {
		return day, fmt.Errorf("copying pages for DuckDB: %w", err)
	}
	fmt.Fprintf(os.Stderr, "%d pages, %.0f MB of JSON\n", pages, float64(jsonBytes)/1e6)
	return day, os.WriteFile(marker, []byte(day.Format(time.DateOnly)+" "+shape+"\n"), 0o644)
}

// pageName is a landed listing page: not a lookup, an aggregate or a body
// that was not a page.
var pageName = regexp.MustCompile(`^page-\d+\.json\.gz$`)

// decompress writes an uncompressed copy of every landed page under
// jsonDir, one folder per tenant, for DuckDB's read_json.
func decompress(rawDir, jsonDir string) (pages int, bytes int64, err error) {
	err = filepath.WalkDir(rawDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !pageName.MatchString(d.Name()) {
			return err
		}
		rel, _ := filepath.Rel(rawDir, path)
		tenant := strings.TrimPrefix(strings.Split(rel, string(filepath.Separator))[0], "tenant_id=")
		dst := filepath.Join(jsonDir, tenant, strings.TrimSuffix(d.Name(), ".gz"))
		n, err := gunzip(path, dst)
		pages++
		bytes += n
		return err
	})
	return pages, bytes, err
}

func gunzip(src, dst string) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, err
	}
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", src, err)
	}
	out, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, zr)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}
