package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/pflag"

	"github.com/credreg/credreg/pipeline"
	"github.com/credreg/credreg/transform"
)

// pseudonymKeyEnv holds the pseudonymization key when no file is named.
const pseudonymKeyEnv = "CREDREG_PSEUDONYMIZATION_KEY"

// privacyOptions are the pseudonymization flags of run, backfill and
// import: the three commands that write slices.
type privacyOptions struct {
	Pseudonymize bool
	KeyFile      string
	NewKey       bool
}

func (o *privacyOptions) AddFlags(f *pflag.FlagSet) {
	f.BoolVar(&o.Pseudonymize, "pseudonymize", false, "replace user_principal_name and user_display_name in every table by a keyed HMAC "+
		"(hmac:<32 hex>), the same every day, so days still join; the raw zone keeps the real names. Key: $"+pseudonymKeyEnv+
		" or --pseudonymization-key-file, at least 32 bytes")
	f.StringVar(&o.KeyFile, "pseudonymization-key-file", "", "file holding the pseudonymization key (a trailing newline is ignored); "+
		"default $"+pseudonymKeyEnv)
	f.BoolVar(&o.NewKey, "new-pseudonymization-key", false, "write slices whose names differ from the tenant's newest slice: "+
		"another key, --pseudonymize over real names, or real names over pseudonyms (the same person then has two values "+
		"in the history, and joins across that day silently miss)")
}

// pseudonymizer loads the key: nil, nil when --pseudonymize is off. Every
// problem is a usage error, and none shows the key.
func (o privacyOptions) pseudonymizer(getenv func(string) string) (*transform.Pseudonymizer, error) {
	if !o.Pseudonymize {
		if o.KeyFile != "" {
			return nil, usagef("--pseudonymization-key-file goes with --pseudonymize")
		}
		return nil, nil
	}
	var key []byte
	from := "$" + pseudonymKeyEnv
	if o.KeyFile != "" {
		from = "--pseudonymization-key-file " + o.KeyFile
		b, err := os.ReadFile(o.KeyFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, usagef("%s: no such file", from)
		case err != nil:
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is in from already
			}
			return nil, usagef("%s: %v", from, err)
		}
		key = bytes.TrimRight(b, "\r\n")
	} else {
		key = []byte(getenv(pseudonymKeyEnv))
		if len(key) == 0 {
			return nil, usagef("--pseudonymize needs a key: set %s or pass --pseudonymization-key-file "+
				"(e.g. a file made with: openssl rand -hex 32)", pseudonymKeyEnv)
		}
	}
	p, err := transform.NewPseudonymizer(key)
	if err != nil {
		return nil, usagef("%s: %v; make one with: openssl rand -hex 32", from, err)
	}
	return p, nil
}

// checkHistory refuses, before anything is written, names that would not
// join the tenants' published history, unless --new-pseudonymization-key.
func (o privacyOptions) checkHistory(ctx context.Context, wh pipeline.PublishedManifests, tenants []string,
	p *transform.Pseudonymizer) error {
	if o.NewKey {
		return nil
	}
	err := pipeline.CheckPseudonymization(ctx, wh, tenants, p)
	var pe *pipeline.PseudonymizationError
	if errors.As(err, &pe) {
		return usagef("%v. Pass --new-pseudonymization-key if that is intended (say, a key that leaked was replaced)", err)
	}
	if err != nil {
		return fmt.Errorf("checking the warehouse's pseudonymization: %w", err)
	}
	return nil
}

// tenantIDs are the ids of a run's tenants.
func tenantIDs(ts []pipeline.TenantSource) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}
