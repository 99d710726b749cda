package load

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Sub returns the warehouse rooted at <w>/<prefix>/: the same layout,
// staging and atomic publish, every key under prefix. The pipeline writes
// there what must be kept for inspection but not published, such as the
// slice and manifest of a run that breached the data contract
// (_failed/run_id=<run>), without touching w's snapshot.
//
// prefix is slash-separated, relative (no leading "/"), with no empty, "."
// or ".." segment; its first segment starts with "_", so that Hive-style
// readers of w skip it, and is neither _staging nor _manifests, which are
// w's own. Characters that a local folder name or fileblob would alter are
// refused on every kind of warehouse, so a prefix names the same place on
// all of them.
//
// The Sub shares w's bucket and opens nothing: its Close is a no-op, and
// it is unusable once w is closed. On a local warehouse its Parquet files
// are staged in <w>/<prefix>/_staging; its Begin sweeps that folder and
// its own partitions only, and w's Begin never looks below <w>/_staging
// and w's partitions, so neither sweeps the other's staged files.
func (w *Warehouse) Sub(prefix string) (*Warehouse, error) {
	if err := validateSubPrefix(prefix); err != nil {
		return nil, err
	}
	sub := &Warehouse{
		bucket:   w.bucket,
		location: subLocation(w, prefix),
		prefix:   w.prefix + prefix + "/",
		shared:   true,
		gsRoot:   w.gsRoot,
	}
	if w.root != "" {
		sub.root = filepath.Join(w.root, filepath.FromSlash(prefix))
		sub.top = w.root
		if w.top != "" {
			sub.top = w.top
		}
	}
	return sub, nil
}

// Prune removes the folders a local Sub has left empty: its staging folder
// and the folders of its prefix, up to the warehouse it was made from. A
// run that kept nothing there then leaves nothing behind. It never removes
// a file or a folder that holds one, and does nothing for other warehouses.
func (w *Warehouse) Prune() {
	if !w.shared || w.root == "" || w.top == "" {
		return
	}
	os.Remove(filepath.Join(w.root, stagingDir))
	for dir := w.root; dir != w.top && strings.HasPrefix(dir, w.top+string(filepath.Separator)); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			return
		}
	}
}

func validateSubPrefix(prefix string) error {
	if prefix == "" {
		return errors.New("load: the sub-warehouse prefix is empty")
	}
	if strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("load: sub-warehouse prefix %q starts with %q; give it relative to the warehouse", prefix, "/")
	}
	segments := strings.Split(prefix, "/")
	for _, s := range segments {
		switch s {
		case "":
			return fmt.Errorf("load: sub-warehouse prefix %q has an empty segment", prefix)
		case ".", "..":
			return fmt.Errorf("load: sub-warehouse prefix %q has a %q segment, which could escape its folder", prefix, s)
		}
	}
	switch first := segments[0]; {
	case !strings.HasPrefix(first, "_"):
		return fmt.Errorf("load: sub-warehouse prefix %q does not start with %q, so readers of the warehouse would take its files for published ones", prefix, "_")
	case first == stagingDir || first == manifestDir:
		return fmt.Errorf("load: sub-warehouse prefix %q is inside %s, which the warehouse itself uses", prefix, first)
	}
	if strings.Contains(prefix, "__0x") {
		return fmt.Errorf("load: sub-warehouse prefix %q contains %q, which a local warehouse would store under another folder name", prefix, "__0x")
	}
	for _, r := range prefix {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`\:*?"<>|`, r) {
			return fmt.Errorf("load: sub-warehouse prefix %q contains %q, which is not portable to every kind of warehouse", prefix, r)
		}
	}
	return nil
}

// subLocation is what String shows for w's Sub: a folder below w's, or
// w's URL with the prefix added the way OpenWarehouse would read it back.
// It is built from w's location, which holds no secret.
func subLocation(w *Warehouse, prefix string) string {
	if w.root != "" && w.location == w.root { // a plain folder
		return filepath.Join(w.location, filepath.FromSlash(prefix))
	}
	u, err := url.Parse(w.location)
	if err != nil { // cannot happen: location is a URL load wrote
		return w.location + "/" + prefix
	}
	if p := u.Query().Get("prefix"); p != "" {
		// gocloud prepends the parameter to keys as is, so the Sub's keys
		// start with it too.
		u.RawQuery = url.Values{"prefix": {p + prefix + "/"}}.Encode()
	} else {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/" + prefix
		u.RawPath = ""
	}
	return redactedURL(u)
}
