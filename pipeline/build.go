package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
)

// Build identifies the credreg build that wrote a slice. A backfill
// replays a slice written by another build, so a bug fix rebuilds history
// without anyone bumping a number: the VCS revision pins a build made from
// a clean checkout; when there is none, or the checkout had changes, the
// executable's own checksum does.
type Build struct {
	Version  string `json:"version"`
	Revision string `json:"vcs_revision,omitempty"`
	Time     string `json:"vcs_time,omitempty"`
	Modified bool   `json:"vcs_modified,omitempty"`
	Binary   string `json:"binary_sha256,omitempty"`
	Go       string `json:"go_version"`
}

// CurrentBuild is the build of this process, computed once.
func CurrentBuild() Build { return currentBuild() }

var currentBuild = sync.OnceValue(readBuild)

func readBuild() Build {
	b := Build{Version: "(unknown)", Go: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		b.Version = info.Main.Version
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Revision == "" || b.Modified {
		b.Binary = executableSum()
	}
	return b
}

// executableSum is the sha256 of the running executable, or "" when it
// cannot be read (then only the version and revision tell builds apart).
func executableSum() string {
	path, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Same reports whether b and o are the same build. A build known only by
// its version ("(devel)" without VCS data or checksum) is never the same
// as another: replaying too much is safe, trusting too much is not.
func (b Build) Same(o Build) bool {
	if b.Revision == "" && b.Binary == "" {
		return false
	}
	return b == o
}

// String names the build for people.
func (b Build) String() string {
	s := b.Version
	if s == "" {
		s = "(unknown)"
	}
	switch {
	case b.Revision != "" && !b.Modified:
		s += " (" + short(b.Revision) + ")"
	case b.Revision != "":
		s += " (" + short(b.Revision) + "+changes, binary " + short(b.Binary) + ")"
	case b.Binary != "":
		s += ", binary " + short(b.Binary)
	}
	return s
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
