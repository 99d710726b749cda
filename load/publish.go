package load

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"gocloud.dev/blob"

	"github.com/credreg/credreg/schemas"
)

// The steps of a Commit, in order, as WriterOptions.AfterStep names them.
// A process killed after any of them leaves a slice that the next Begin
// of it makes entirely old or entirely new (on a local warehouse).
const (
	// StepStaged: every file, and the manifest, is written and synced
	// where no reader looks; nothing is published.
	StepStaged = "staged"
	// StepIntentWritten: the publish intent is durable; from here on the
	// next writer rolls the publish forward.
	StepIntentWritten = "intent written"
	// StepPublishedUsers, StepPublishedMethods and StepPublishedRejects:
	// that table's file replaced the previous one; every table of
	// schemas.Tables has such a step (see PublishSteps).
	StepPublishedUsers   = "published user_registration_details"
	StepPublishedMethods = "published user_auth_methods"
	StepPublishedRejects = "published rejected_records"
	// StepPublishedManifest: the manifest replaced the previous one (not
	// reported by a Commit without a manifest).
	StepPublishedManifest = "published manifest"
	// StepIntentRemoved: the publish is complete and durable.
	StepIntentRemoved = "intent removed"
)

// PublishSteps lists the steps of a Commit in the order they happen.
func PublishSteps() []string {
	steps := []string{StepStaged, StepIntentWritten}
	for _, t := range schemas.Tables {
		steps = append(steps, publishedStep(t.Name))
	}
	return append(steps, StepPublishedManifest, StepIntentRemoved)
}

func publishedStep(table string) string { return "published " + table }

// Recovery is what Begin did with an unfinished publish of its slice.
type Recovery string

const (
	// NothingToRecover: the last Commit of the slice finished, or none
	// had got as far as its intent.
	NothingToRecover Recovery = ""
	// RolledForward: every file the intent listed was complete, and Begin
	// published those not yet published.
	RolledForward Recovery = "rolled forward"
	// RolledBack: a file the intent listed was missing or incomplete;
	// Begin removed the staged files and the intent.
	RolledBack Recovery = "rolled back"
	// Unfinishable: some files of the publish were already in place and
	// another was missing or damaged, so the slice could be neither
	// finished nor undone; Begin removed its manifest (which described
	// the old files), so no reader takes it as complete, and the writer
	// that began replaces the whole slice.
	Unfinishable Recovery = "unfinishable: manifest removed"
)

const intentName = "intent.json"

// errCrashed stops a Commit dead at SliceWriter.crashAt, for tests.
var errCrashed = errors.New("load: simulated crash")

// intent is what a local Commit is about to publish, written before the
// first rename so that the next writer of the slice can finish the job.
type intent struct {
	RunID string       `json:"run_id"`
	Slice string       `json:"slice"`
	Files []intentFile `json:"files"` // tables in schemas.Tables order, then the manifest
}

type intentFile struct {
	Staged string `json:"staged"` // relative to the warehouse folder, slash-separated
	Target string `json:"target"` // object key relative to the warehouse folder
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

func (s *SliceWriter) step(name string) error {
	if s.afterStep != nil {
		s.afterStep(name)
	}
	if name == s.crashAt {
		return errCrashed
	}
	return nil
}

// publishLocal stages the manifest, writes the intent, renames the tables
// then the manifest, syncs their folders and removes the intent. A failed
// rename leaves the intent, so that the next writer finishes the publish.
func (s *SliceWriter) publishLocal(infos []FileInfo, manifestJSON []byte) error {
	root := s.w.root
	in := intent{RunID: s.runID, Slice: s.key.DateString() + "/" + s.key.Tenant}
	for i, f := range s.files {
		in.Files = append(in.Files, intentFile{
			Staged: relSlash(root, f.obj.(*stagedFile).path), Target: f.key,
			Bytes: infos[i].Bytes, SHA256: infos[i].SHA256,
		})
	}
	if manifestJSON != nil {
		p := filepath.Join(s.staging, fileNamePart(s.runID)+"-manifest-"+randomHex()+".json.tmp")
		if err := writeSynced(s.staging, p, manifestJSON); err != nil {
			s.abortLocked()
			return fmt.Errorf("load: stage manifest %s: %w", manifestKey(s.key), err)
		}
		sum := sha256.Sum256(manifestJSON)
		in.Files = append(in.Files, intentFile{
			Staged: relSlash(root, p), Target: manifestKey(s.key),
			Bytes: int64(len(manifestJSON)), SHA256: hex.EncodeToString(sum[:]),
		})
	}
	if err := s.step(StepStaged); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(in, "", "  ")
	ip := filepath.Join(s.staging, intentName)
	err := writeSynced(s.staging, ip+".tmp", data)
	if err == nil {
		if err = os.Rename(ip+".tmp", ip); err != nil {
			_ = os.Remove(ip + ".tmp")
		}
	}
	if err != nil {
		s.discardManifest(in)
		s.abortLocked()
		return fmt.Errorf("load: write the publish intent of %s: %w", in.Slice, err)
	}
	// Were this sync to fail, the intent might not survive a power cut,
	// but a rename that did would have its intent lost with it: stop
	// here, as a crash would, and let the next writer decide.
	if err := syncDir(s.staging); err != nil {
		return s.publishStopped(fmt.Errorf("load: sync the publish intent of %s: %w", in.Slice, err))
	}
	if err := s.step(StepIntentWritten); err != nil {
		return err
	}
	for _, f := range s.files {
		if err := f.publish(); err != nil {
			return s.publishStopped(err)
		}
		if s.afterPublish != nil {
			s.afterPublish(f.table.Name)
		}
		if err := s.step(publishedStep(f.table.Name)); err != nil {
			return err
		}
	}
	if manifestJSON != nil {
		m := in.Files[len(in.Files)-1]
		if err := renameInto(filepath.Join(root, filepath.FromSlash(m.Staged)), filepath.Join(root, filepath.FromSlash(m.Target))); err != nil {
			return s.publishStopped(fmt.Errorf("load: publish %s: %w", m.Target, err))
		}
		if err := s.step(StepPublishedManifest); err != nil {
			return err
		}
	}
	if err := finishIntent(root, s.staging, in); err != nil {
		return s.publishStopped(err)
	}
	if err := s.step(StepIntentRemoved); err != nil {
		return err
	}
	_ = os.Remove(s.staging) // only if empty
	return nil
}

// publishStopped ends a Commit whose publish failed after the intent: the
// intent and the staged files stay for the next writer to roll forward.
func (s *SliceWriter) publishStopped(err error) error {
	s.crash()
	return fmt.Errorf("%w (the publish of slice %s/%s stopped halfway; the next writer of the slice finishes it)", err, s.key.DateString(), s.key.Tenant)
}

func (s *SliceWriter) discardManifest(in intent) {
	if len(in.Files) > len(s.files) {
		_ = os.Remove(filepath.Join(s.w.root, filepath.FromSlash(in.Files[len(in.Files)-1].Staged)))
	}
}

// finishIntent makes the renames durable, then removes the intent.
func finishIntent(root, staging string, in intent) error {
	seen := map[string]bool{}
	for _, f := range in.Files {
		dir := filepath.Dir(filepath.Join(root, filepath.FromSlash(f.Target)))
		if !seen[dir] {
			seen[dir] = true
			if err := syncDir(dir); err != nil {
				return fmt.Errorf("load: sync %s: %w", relSlash(root, dir), err)
			}
		}
	}
	if err := os.Remove(filepath.Join(staging, intentName)); err != nil {
		return fmt.Errorf("load: remove the publish intent of %s: %w", in.Slice, err)
	}
	return syncDir(staging)
}

// publishBucket closes the tables' blob writers, each of which publishes
// its object, then writes the manifest.
func (s *SliceWriter) publishBucket(infos []FileInfo, manifestJSON []byte) error {
	if err := s.step(StepStaged); err != nil {
		return err
	}
	// Each object is out the moment it closes. Before the first, the lease
	// must be good for a while yet (it is renewed in the background); once
	// one is out, only a certain loss stops the rest: stopping on a late
	// renewal would leave the slice mixed under its old manifest.
	if err := s.lease.check(); err != nil {
		s.abortLocked()
		return err
	}
	for i, f := range s.files {
		if err := s.lease.checkTaken(); err != nil {
			s.abortLocked()
			return replacedSoFar(err, infos[:i])
		}
		if err := f.publish(); err != nil {
			s.abortLocked()
			return replacedSoFar(err, infos[:i])
		}
		if s.afterPublish != nil {
			s.afterPublish(f.table.Name)
		}
		if err := s.step(publishedStep(f.table.Name)); err != nil {
			return err
		}
	}
	if manifestJSON != nil {
		if err := s.lease.checkTaken(); err != nil {
			s.abortLocked()
			return replacedSoFar(err, infos)
		}
		k := s.w.prefix + manifestKey(s.key)
		// WriteAll sets ContentMD5, so a short write aborts instead of publishing.
		err := s.w.bucket.WriteAll(context.Background(), k, manifestJSON, &blob.WriterOptions{ContentType: "application/json"})
		if err != nil {
			s.abortLocked()
			return replacedSoFar(blobError("write manifest", k, err), infos)
		}
		if err := s.step(StepPublishedManifest); err != nil {
			return err
		}
	}
	return nil
}

func replacedSoFar(err error, done []FileInfo) error {
	if len(done) == 0 {
		return err
	}
	var paths []string
	for _, fi := range done {
		paths = append(paths, fi.Path)
	}
	return fmt.Errorf("%w (already replaced: %s; the slice is now incomplete, rerun it)", err, strings.Join(paths, ", "))
}

// recoverSlice finishes or undoes the publish that the intent in staging
// describes, if there is one. The caller holds the slice's lease, so the
// writer of the intent is gone.
func recoverSlice(root, staging string, key schemas.Key, logger *slog.Logger) (Recovery, error) {
	logf := func(r Recovery, runID string) {
		if logger != nil {
			logger.Warn("load: found an unfinished publish of the slice", "slice", key.DateString()+"/"+key.Tenant, "run_id", runID, "recovery", string(r))
		}
	}
	data, err := os.ReadFile(filepath.Join(staging, intentName))
	if errors.Is(err, os.ErrNotExist) {
		return NothingToRecover, nil
	}
	if err != nil {
		return NothingToRecover, fmt.Errorf("load: read the publish intent in %s: %w", relSlash(root, staging), err)
	}
	var in intent
	forward := json.Unmarshal(data, &in) == nil && len(in.Files) > 0
	pending := make([]bool, len(in.Files))
	published := false
	for i, f := range in.Files {
		switch {
		case fileMatches(filepath.Join(root, filepath.FromSlash(f.Staged)), f):
			pending[i] = true
		case fileMatches(filepath.Join(root, filepath.FromSlash(f.Target)), f):
			published = true // before the writer died
		default:
			forward = false
		}
	}
	if !forward {
		for _, f := range in.Files {
			_ = os.Remove(filepath.Join(root, filepath.FromSlash(f.Staged)))
		}
		outcome := RolledBack
		if published {
			// New files beside old ones: the old manifest must not
			// vouch for them.
			outcome = Unfinishable
			if err := os.Remove(filepath.Join(root, filepath.FromSlash(manifestKey(key)))); err != nil && !errors.Is(err, os.ErrNotExist) {
				return NothingToRecover, fmt.Errorf("load: remove the manifest of a half-published slice: %w", err)
			}
		}
		if err := os.Remove(filepath.Join(staging, intentName)); err != nil {
			return NothingToRecover, fmt.Errorf("load: roll back the publish of run %q: %w", in.RunID, err)
		}
		logf(outcome, in.RunID)
		return outcome, nil
	}
	for i, f := range in.Files {
		if !pending[i] {
			continue
		}
		if err := renameInto(filepath.Join(root, filepath.FromSlash(f.Staged)), filepath.Join(root, filepath.FromSlash(f.Target))); err != nil {
			return NothingToRecover, fmt.Errorf("load: roll forward the publish of run %q: %w", in.RunID, err)
		}
	}
	if err := finishIntent(root, staging, in); err != nil {
		return NothingToRecover, fmt.Errorf("load: roll forward the publish of run %q: %w", in.RunID, err)
	}
	logf(RolledForward, in.RunID)
	return RolledForward, nil
}

// fileMatches reports whether p holds exactly the bytes the intent lists.
func fileMatches(p string, f intentFile) bool {
	info, err := os.Stat(p)
	if err != nil || !info.Mode().IsRegular() || info.Size() != f.Bytes {
		return false
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return false
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]) == f.SHA256
}

// writeSynced creates p in dir with data, synced and closed.
func writeSynced(dir, p string, data []byte) error {
	f, err := createInFolder(dir, p)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(p)
	}
	return err
}

// syncDir makes the renames into dir durable. Filesystems and systems
// that cannot sync a folder say so with EINVAL or ENOTSUP; then there is
// nothing more to do.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}

// clearFolder removes the files of dir, which the caller's lease makes
// leftovers of writers that are gone.
func clearFolder(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func relSlash(root, p string) string {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return filepath.ToSlash(p)
	}
	return filepath.ToSlash(rel)
}
