package transform

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
)

// DefaultInMemory is how many users of a previous snapshot a Previous
// holds in memory when Previous.InMemory is zero: 1<<18 users, 8 MiB of
// 32-byte states. A larger snapshot is compared by a partitioned join on
// local disk instead, so a tenant's size does not set the memory a run
// needs.
const DefaultInMemory = 1 << 18

// spillPartitions is how many partitions a spilled comparison hashes the
// users into: one partition's previous users are in memory at a time, so
// 5,000,000 users cost about 5 MiB of states.
const spillPartitions = 32

// Records of the partition files: the previous snapshot's users and
// methods in one file per partition, the new snapshot's users and the
// previous users' names (read again for the gone users) in another.
const (
	recUser   = 'u'
	recMethod = 'm'
	recCur    = 'c'
	recGone   = 'g'
)

// ErrSpill wraps a failure of the local files a large comparison uses
// (History, Previous); the message names the folder, os.TempDir() ($TMPDIR),
// so a full or missing disk is found where it is.
var ErrSpill = errors.New("the previous snapshot's local spill files failed")

// prevSpill is the partitioned (Grace) join's files: each user goes to the
// partition its id hashes to, on both sides, so a partition's new users
// are compared with its previous users alone.
type prevSpill struct {
	seed maphash.Seed
	// dir is the folder of the files, os.TempDir() when they were made.
	dir       string
	prev, cur [spillPartitions]spillFile
	// curMade: the new snapshot's files are made at its first user, so a
	// folder that went away (or filled) since the previous snapshot was
	// read fails there, kept in err for Join.
	curMade bool
	users   int
	buf     []byte
	err     error
}

type spillFile struct {
	f *os.File
	w *bufio.Writer
	n int64 // bytes written, buffered or not
}

func newPrevSpill() (*prevSpill, error) {
	s := &prevSpill{seed: maphash.MakeSeed(), dir: os.TempDir()}
	for k := range spillPartitions {
		if err := s.create(&s.prev[k]); err != nil {
			s.release()
			return nil, err
		}
	}
	return s, nil
}

// create makes a spill file in s.dir.
func (s *prevSpill) create(sf *spillFile) error {
	f, err := os.CreateTemp(s.dir, "credreg-history-*")
	if err != nil {
		return s.fail(err)
	}
	sf.f, sf.w = f, bufio.NewWriterSize(f, 16<<10)
	return nil
}

// fail wraps a file error as ErrSpill, naming the folder.
func (s *prevSpill) fail(err error) error {
	return fmt.Errorf("%w (folder %s, $TMPDIR): %w", ErrSpill, s.dir, err)
}

// makeCur makes the new snapshot's files, once; a failure is kept in err.
func (s *prevSpill) makeCur() {
	if s.curMade {
		return
	}
	s.curMade = true
	for k := range spillPartitions {
		if err := s.create(&s.cur[k]); err != nil {
			if s.err == nil {
				s.err = err
			}
			return
		}
	}
}

// flushAll writes out every file's buffer: Join calls it before its first
// row, so a full disk is found before any change row is sent.
func (s *prevSpill) flushAll() error {
	s.makeCur()
	for k := range spillPartitions {
		for _, sf := range []*spillFile{&s.prev[k], &s.cur[k]} {
			if s.err != nil {
				return s.err
			}
			if err := sf.w.Flush(); err != nil {
				s.err = s.fail(err)
			}
		}
	}
	return s.err
}

// release closes and removes the files.
func (s *prevSpill) release() {
	for k := range spillPartitions {
		for _, sf := range []*spillFile{&s.prev[k], &s.cur[k]} {
			if sf.f != nil {
				sf.f.Close()
				os.Remove(sf.f.Name())
				sf.f, sf.w = nil, nil
			}
		}
	}
}

// part is the partition of a user id.
func (s *prevSpill) part(g guid, isGUID bool, id string) int {
	if isGUID {
		return int(maphash.Bytes(s.seed, g[:]) % spillPartitions)
	}
	return int(maphash.String(s.seed, id) % spillPartitions)
}

// appendID encodes an id: a GUID in its 16 bytes, any other as a string.
func appendID(b []byte, g guid, isGUID bool, id string) []byte {
	if isGUID {
		return append(append(b, 0), g[:]...)
	}
	return appendString(append(b, 1), id)
}

func appendString(b []byte, v string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// write appends a record to the file; the first failure is kept for Join.
func (s *prevSpill) write(sf *spillFile, rec []byte) {
	if s.err != nil {
		return
	}
	n, err := sf.w.Write(rec)
	sf.n += int64(n)
	if err != nil {
		s.err = s.fail(err)
	}
}

func (s *prevSpill) writeUser(g guid, isGUID bool, id string, fs flagSet, methods uint64) {
	b := appendID(append(s.buf[:0], recUser), g, isGUID, id)
	b = append(b, byte(fs))
	b = binary.LittleEndian.AppendUint64(b, methods)
	s.buf = b
	s.users++
	s.write(&s.prev[s.part(g, isGUID, id)], b)
}

func (s *prevSpill) writeMethod(g guid, isGUID bool, id string, i uint16) {
	b := appendID(append(s.buf[:0], recMethod), g, isGUID, id)
	s.buf = binary.AppendUvarint(b, uint64(i))
	s.write(&s.prev[s.part(g, isGUID, id)], s.buf)
}

// writeCur spills a user of the new snapshot with what its change rows need.
func (s *prevSpill) writeCur(id, upn string, fs flagSet, methods uint64, extra []uint16) {
	g, isGUID := parseGUID(id)
	b := appendID(append(s.buf[:0], recCur), g, isGUID, id)
	b = appendString(b, upn)
	b = append(b, byte(fs))
	b = binary.LittleEndian.AppendUint64(b, methods)
	b = binary.AppendUvarint(b, uint64(len(extra)))
	for _, i := range extra {
		b = binary.AppendUvarint(b, uint64(i))
	}
	s.buf = b
	s.makeCur()
	s.write(&s.cur[s.part(g, isGUID, id)], b)
}

// writeGone spills a previous user's name, read again for the gone users.
func (s *prevSpill) writeGone(id, upn string) {
	g, isGUID := parseGUID(id)
	b := appendID(append(s.buf[:0], recGone), g, isGUID, id)
	s.buf = appendString(b, upn)
	s.makeCur()
	s.write(&s.cur[s.part(g, isGUID, id)], s.buf)
}

// resetCur forgets the new snapshot's users, for a second pass.
func (s *prevSpill) resetCur() {
	for k := range spillPartitions {
		sf := &s.cur[k]
		if sf.f == nil {
			continue
		}
		sf.w.Reset(sf.f)
		sf.n = 0
		err := sf.f.Truncate(0)
		if err == nil {
			_, err = sf.f.Seek(0, io.SeekStart)
		}
		if err != nil && s.err == nil {
			s.err = s.fail(err)
		}
	}
}

// spillRecord is one decoded record.
type spillRecord struct {
	kind    byte
	g       guid
	isGUID  bool
	id, upn string
	flags   flagSet
	methods uint64
	method  uint16
	extra   []uint16
}

// read flushes a file and calls fn for each of its records, in order.
func (s *prevSpill) read(sf *spillFile, fn func(*spillRecord) error) error {
	if s.err != nil {
		return s.err
	}
	if sf.f == nil { // no user reached it
		return nil
	}
	if err := sf.w.Flush(); err != nil {
		return s.fail(err)
	}
	r := bufio.NewReaderSize(io.NewSectionReader(sf.f, 0, sf.n), 32<<10)
	var rec spillRecord
	for {
		kind, err := r.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err == nil {
			rec.kind = kind
			err = decodeRecord(r, &rec)
		}
		if err != nil {
			return s.fail(fmt.Errorf("reading %s: %w", sf.f.Name(), err))
		}
		if err := fn(&rec); err != nil {
			return err
		}
	}
}

func decodeRecord(r *bufio.Reader, rec *spillRecord) error {
	tag, err := r.ReadByte()
	if err != nil {
		return err
	}
	rec.isGUID = tag == 0
	if rec.isGUID {
		if _, err := io.ReadFull(r, rec.g[:]); err != nil {
			return err
		}
		rec.id = guidString(rec.g)
	} else if rec.id, err = readString(r); err != nil {
		return err
	}
	switch rec.kind {
	case recUser, recCur:
		if rec.kind == recCur {
			if rec.upn, err = readString(r); err != nil {
				return err
			}
		}
		var b [9]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return err
		}
		rec.flags, rec.methods = flagSet(b[0]), binary.LittleEndian.Uint64(b[1:])
		rec.extra = rec.extra[:0]
		if rec.kind == recCur {
			n, err := binary.ReadUvarint(r)
			if err != nil {
				return err
			}
			for range n {
				i, err := binary.ReadUvarint(r)
				if err != nil {
					return err
				}
				rec.extra = append(rec.extra, uint16(i))
			}
		}
	case recMethod:
		i, err := binary.ReadUvarint(r)
		if err != nil {
			return err
		}
		rec.method = uint16(i)
	case recGone:
		if rec.upn, err = readString(r); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown record %q", rec.kind)
	}
	return nil
}

func readString(r *bufio.Reader) (string, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return "", err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

// load reads partition k's previous users and methods into a prevSet.
func (s *prevSpill) load(k int) (*prevSet, error) {
	set := newPrevSet()
	err := s.read(&s.prev[k], func(r *spillRecord) error {
		switch {
		case r.kind == recUser && r.isGUID:
			set.addGUID(r.g, r.flags, r.methods)
		case r.kind == recUser:
			set.add(r.id, r.flags)
			if r.methods != 0 {
				u := set.byString[r.id]
				u.methods = r.methods
				set.byString[r.id] = u
			}
		case r.kind == recMethod:
			if pos, ok := set.find(r.id); ok {
				set.addMethod(pos, r.id, r.method)
			}
		}
		return nil
	})
	return set, err
}
