package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/credreg/credreg/extract"
	"github.com/credreg/credreg/load"
	"github.com/credreg/credreg/schemas"
)

// manifestRefs are what an erasure reads of a slice's manifest: the raw
// run it was built from and the slice its changes compare with.
type manifestRefs struct {
	rawPrefix, rawDigest            string
	previousDate, previousRawDigest string
}

// previousSlice names (as sliceName) the slice the changes compare with;
// "" when none.
func (r manifestRefs) previousSlice(key schemas.Key) string {
	if r.previousDate == "" {
		return ""
	}
	return r.previousDate + " " + strings.ToLower(key.Tenant)
}

// readManifestRefs reads them; zero when the slice has no manifest.
func readManifestRefs(ctx context.Context, wh *load.Warehouse, key schemas.Key) (manifestRefs, error) {
	data, err := wh.ReadManifest(ctx, key)
	if errors.Is(err, load.ErrNotFound) {
		return manifestRefs{}, nil
	}
	if err != nil {
		return manifestRefs{}, err
	}
	var m struct {
		Raw     RawRef  `json:"raw"`
		Changes Changes `json:"changes"`
	}
	if json.Unmarshal(data, &m) != nil {
		return manifestRefs{}, nil
	}
	return manifestRefs{rawPrefix: m.Raw.Prefix, rawDigest: m.Raw.Digest,
		previousDate: m.Changes.PreviousSnapshotDate, previousRawDigest: m.Changes.PreviousRawDigest}, nil
}

// manifestEdits are what an erasure changes in a manifest besides its
// files and counts: raw.digest when its raw run (a key of changed, in
// lowercase) was rewritten, and changes.previous_raw_digest when the
// previous slice's was (previousRawDigest, "" to keep it).
type manifestEdits struct {
	changed           map[string]extract.RawIndex
	previousRawDigest string
}

// erasedManifest rewrites a slice's manifest after an erasure, keeping
// every field it does not know of: files are the new ones, counts drop by
// the rows removed, raw.digest is the rewritten raw run's, and an
// erasures entry names the erasure log.
func erasedManifest(old []byte, files []load.FileInfo, removed map[string]int64, edits manifestEdits, id string) ([]byte, error) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(old))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("the manifest cannot be read: %w", err)
	}
	set := func(k string, v any) error {
		b, err := json.Marshal(v)
		if err == nil {
			m[k] = b
		}
		return err
	}
	obj := func(k string) map[string]any {
		var v map[string]any
		d := json.NewDecoder(bytes.NewReader(m[k]))
		d.UseNumber()
		if d.Decode(&v) != nil {
			return nil
		}
		return v
	}
	if err := set("files", files); err != nil {
		return nil, err
	}
	if c := obj("counts"); c != nil {
		for field, table := range map[string]string{"users": schemas.UserRegistrationDetailsTable.Name,
			"methods": schemas.UserAuthMethodsTable.Name, "rejected": schemas.RejectedRecordsTable.Name} {
			if n, ok := c[field].(json.Number); ok {
				if v, err := n.Int64(); err == nil {
					c[field] = v - removed[table]
				}
			}
		}
		if err := set("counts", c); err != nil {
			return nil, err
		}
	}
	if ch := obj("changes"); ch != nil {
		if n, ok := ch["rows"].(json.Number); ok {
			if v, err := n.Int64(); err == nil {
				ch["rows"] = v - removed[schemas.RegistrationChangesTable.Name]
			}
		}
		if edits.previousRawDigest != "" {
			ch["previous_raw_digest"] = edits.previousRawDigest
		}
		if err := set("changes", ch); err != nil {
			return nil, err
		}
	}
	if raw := obj("raw"); raw != nil {
		prefix, _ := raw["prefix"].(string)
		if idx, ok := edits.changed[strings.ToLower(prefix)]; ok {
			raw["digest"] = rawDigest(idx)
			if err := set("raw", raw); err != nil {
				return nil, err
			}
		}
	}
	var erasures []map[string]string
	_ = json.Unmarshal(m["erasures"], &erasures)
	erasures = append(erasures, map[string]string{"erasure_id": id, "log": load.ErasureLogKey(id)})
	if err := set("erasures", erasures); err != nil {
		return nil, err
	}
	return json.MarshalIndent(m, "", "  ")
}
