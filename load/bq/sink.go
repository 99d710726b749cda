package bq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/option"
)

// EmulatorHostEnv names the environment variable that points the sink at a
// BigQuery emulator (host:port or http://host:port), as other emulator
// variables of Google's tools do (STORAGE_EMULATOR_HOST).
const EmulatorHostEnv = "BIGQUERY_EMULATOR_HOST"

// DefaultDataset is the dataset of a Config that names none.
const DefaultDataset = "credreg"

// Config says where the tables live. Zero values mean defaults.
type Config struct {
	// Project is the Google Cloud project of the dataset and of the jobs;
	// "" detects it from the credentials (Application Default Credentials).
	Project string
	// Dataset is "" for DefaultDataset.
	Dataset string
	// Location is where Ensure creates the dataset (US, EU, europe-west1,
	// …) and where jobs run; "" leaves a new dataset in BigQuery's default
	// (US) and, for an existing one, takes its location.
	Location string
	// Endpoint is "" for BIGQUERY_EMULATOR_HOST when that is set, else
	// Google's. An http:// endpoint (an emulator) gets no credentials,
	// which never travel in the clear; an https:// one gets the usual.
	Endpoint string
	// ClientOptions are added last (tests: option.WithoutAuthentication,
	// option.WithHTTPClient).
	ClientOptions []option.ClientOption
	// StagingExpiration is 0 for 6h: staging tables are dropped after the
	// swap and carry this expiration as a safety net for a process killed
	// in between.
	StagingExpiration time.Duration
	// CommitAttempts is 0 for 5: a commit cancelled by a concurrent
	// transaction is retried with backoff, this many attempts in all.
	CommitAttempts int
	// CommitBackoff is 0 for 1s: the wait before the second commit
	// attempt, doubled for each later one, with jitter.
	CommitBackoff time.Duration
	// BeforeCommit, when set, runs after the staging loads and before the
	// swap transaction (tests inject failures and the concurrent-transaction
	// error here; no flag reaches it).
	BeforeCommit func(ctx context.Context, attempt int) error
	// Logger is nil for no logs.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Dataset == "" {
		c.Dataset = DefaultDataset
	}
	if c.StagingExpiration <= 0 {
		c.StagingExpiration = 6 * time.Hour
	}
	if c.CommitAttempts <= 0 {
		c.CommitAttempts = 5
	}
	if c.CommitBackoff <= 0 {
		c.CommitBackoff = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// clientOptions turns the endpoint settings into client options. getenv
// is os.Getenv outside tests.
func (c Config) clientOptions(getenv func(string) string) ([]option.ClientOption, error) {
	endpoint := c.Endpoint
	if endpoint == "" {
		if host := getenv(EmulatorHostEnv); host != "" {
			endpoint = host
			if !strings.Contains(host, "://") {
				endpoint = "http://" + host
			}
		}
	}
	var opts []option.ClientOption
	switch {
	case endpoint == "":
	case strings.HasPrefix(endpoint, "http://"):
		opts = append(opts, option.WithEndpoint(endpoint), option.WithoutAuthentication())
	case strings.HasPrefix(endpoint, "https://"):
		opts = append(opts, option.WithEndpoint(endpoint))
	default:
		return nil, fmt.Errorf("bq: endpoint %q: want http://host:port (an emulator) or an https:// URL", endpoint)
	}
	return append(opts, c.ClientOptions...), nil
}

// Sink loads slices of the Parquet warehouse into BigQuery. It is safe for
// concurrent use: loads into staging tables run in parallel, swaps one at
// a time.
type Sink struct {
	client *bigquery.Client
	cfg    Config

	// commitMu makes this process one committer: BigQuery cancels
	// concurrent transactions on the same table, so two of ours would
	// only cancel each other.
	commitMu sync.Mutex

	// locMu guards the client's Location, set once from the dataset
	// before any job runs when the Config names none.
	locMu   sync.Mutex
	located bool
}

// Open makes a client with Application Default Credentials, the client's
// own way (GOOGLE_APPLICATION_CREDENTIALS, workload identity, the metadata
// server), unless the endpoint is an emulator's. It touches no table:
// Ensure does.
func Open(ctx context.Context, c Config) (*Sink, error) {
	c = c.withDefaults()
	opts, err := c.clientOptions(os.Getenv)
	if err != nil {
		return nil, err
	}
	project := c.Project
	if project == "" {
		project = bigquery.DetectProjectID
	}
	client, err := bigquery.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, fmt.Errorf("bq: open BigQuery client: %w", err)
	}
	client.Location = c.Location
	c.Project = client.Project()
	return &Sink{client: client, cfg: c, located: c.Location != ""}, nil
}

// Close closes the client.
func (s *Sink) Close() error { return s.client.Close() }

// String names the dataset as bigquery://project/dataset.
func (s *Sink) String() string { return "bigquery://" + s.cfg.Project + "/" + s.cfg.Dataset }

// locate sets the client's location to the dataset's when the Config
// named none, so jobs and job lookups go to the dataset's region.
func (s *Sink) locate(ctx context.Context) error {
	s.locMu.Lock()
	defer s.locMu.Unlock()
	if s.located {
		return nil
	}
	md, err := s.client.Dataset(s.cfg.Dataset).Metadata(ctx)
	if err != nil {
		if isNotFound(err) {
			return fmt.Errorf("bq: dataset %s does not exist: run Ensure (credreg creates it) first: %w", s, err)
		}
		return fmt.Errorf("bq: read dataset %s: %w", s, err)
	}
	s.client.Location = md.Location
	s.located = true
	return nil
}

func (s *Sink) dataset() *bigquery.Dataset { return s.client.Dataset(s.cfg.Dataset) }

// tableRef is the table's name as SQL quotes it.
// scope names the dataset in job ids and staging tables: project.dataset.
func (s *Sink) scope() string { return s.cfg.Project + "." + s.cfg.Dataset }

func (s *Sink) tableRef(name string) string {
	return "`" + s.cfg.Project + "." + s.cfg.Dataset + "." + name + "`"
}

var errNoManifest = errors.New("bq: LoadSlice needs the slice's manifest (load_runs holds it)")
