package transform

import (
	"time"

	"github.com/credreg/credreg/internal/odata"
)

// Decoded is one record of a page as DecodePage leaves it: decoded and
// checked against the data contract, but not yet decided (a repeat, a
// copy read in another shard) nor turned into rows. Decoding is the
// pure half of AddShardPage; split off, it can run on another goroutine,
// a page or more ahead of the one that decides and appends.
type Decoded struct {
	// Index is the record's 0-based position in the page's value array.
	Index int
	// Raw is the record's bytes, a sub-slice of the page: a reject's
	// raw_json is copied from it, and a record that decoded fine may
	// still be rejected as a repeat when the page is added. So the page's
	// bytes must stay unchanged until AddDecodedShardPage returns.
	Raw []byte
	// Rec is the decoded record when Err is nil. Its strings are copies:
	// none points into the page.
	Rec Record
	// Err, when set, rejects the record: always a *RecordError.
	Err error
	// key is what decide needs of Rec besides its id string, computed by
	// DecodePage while the record is still in the reader's cache (a
	// decoded value made any other way has keyed false, and decide
	// computes it). So Rec.ID and Rec.LastUpdatedAt of a value DecodePage
	// made must not change before AddDecodedShardPage.
	key   decideKey
	keyed bool
}

// Decoder decodes the records of one report's pages. It holds nothing
// that changes, so one Decoder may decode pages on any number of
// goroutines at once.
type Decoder struct {
	rep *report
}

// Decoder returns the decoder of the Transformer's endpoint, to decode
// pages off the Transformer's goroutine.
func (t *Transformer) Decoder() Decoder { return Decoder{rep: t.rep} }

// DecodePage decodes a page's records (odata.Split's: one with Err set is
// rejected as invalid_json, one without is valid JSON and is not checked
// again; or odata.SplitUnchecked's, each checked as it is decoded, with
// the same outcome as Split's would have), appending one Decoded per record to dst[:0], in order, and
// returns the slice; passing the last page's slice back reuses it.
func (d Decoder) DecodePage(dst []Decoded, records []odata.Record) []Decoded {
	dst = dst[:0]
	var nx follow // the members' order, learned from the page's first record
	for _, r := range records {
		x := Decoded{Index: r.Index, Raw: r.Raw}
		switch {
		case r.Err != nil:
			x.Err = invalidJSON(r.Raw, pageSyntaxDetail(r.Err))
		case r.Unchecked:
			x.Rec, x.Err = decodeUnchecked(d.rep, r.Raw, &nx)
		default:
			x.Rec, x.Err = decodeValid(d.rep, r.Raw, &nx)
		}
		if r.Err == nil && x.Err == nil {
			x.key, x.keyed = decideKeyOf(&x.Rec), true
		}
		dst = append(dst, x)
	}
	return dst
}

// ReadPage splits a page body into its records and decodes them, in one
// walk of the records Graph sends: the result of odata.Split and then
// DecodePage, error included (Split's, with dst[:0]), appended to dst[:0].
// Each record starts as decodeOne's (strict: checked as it is walked);
// one that it does not read (odd, broken, not an object) is cut by
// Split's rule and decoded as DecodePage decodes a record of
// odata.SplitUnchecked. Raw of each record is a sub-slice of body. After
// the first record the one walk does not read, the rest of the page is
// cut and decoded that way too (two walks a record, the same outcome): a
// page of Graph's records rarely holds one.
func (d Decoder) ReadPage(dst []Decoded, body []byte) ([]Decoded, error) {
	dst = dst[:0]
	var nx follow
	read := func(b []byte, i, index int) int {
		if b[i] != '{' || index != len(dst) {
			return -1
		}
		rec, end, ok := d.rep.decodeAt(b, i, &nx, true)
		if !ok {
			return -1
		}
		dst = append(dst, Decoded{Index: index, Raw: b[i:end:end], Rec: rec})
		return end
	}
	p, err := odata.SplitRead(body, read)
	if err != nil {
		clear(dst)
		return dst[:0], err
	}
	// The records read are dst's first ones, in order: read tried the
	// elements in order and stops at the first it does not read (index
	// == len(dst)); past it, the splitter cuts and this decodes. A record
	// read whose element the splitter then cut (junk after it) is
	// decoded again.
	read0 := 0
	for read0 < len(p.Records) && read0 < len(dst) && !p.Records[read0].Unchecked {
		read0++
	}
	dst = dst[:read0]
	for i := range dst {
		dst[i].key, dst[i].keyed = decideKeyOf(&dst[i].Rec), true
	}
	for _, r := range p.Records[read0:] {
		x := Decoded{Index: r.Index, Raw: r.Raw}
		if r.Unchecked {
			x.Rec, x.Err = decodeUnchecked(d.rep, r.Raw, &nx)
		} else {
			// Read, but after one that was not: decoded by read too,
			// and not kept (read only keeps a run from the first).
			x.Rec, x.Err = decodeValid(d.rep, r.Raw, &nx)
		}
		if x.Err == nil {
			x.key, x.keyed = decideKeyOf(&x.Rec), true
		}
		dst = append(dst, x)
	}
	return dst, nil
}

// decodeUnchecked decodes a record odata.SplitUnchecked cut, as
// decodeValid decodes the same record of odata.Split's: Graph's records
// in one walk that also checks them (decodeOne, strict); others are
// checked on their own, rejected as Split would have (odata.CheckRecord
// gives the Err it would have set) or decoded as valid JSON.
func decodeUnchecked(rep *report, raw []byte, nx *follow) (Record, error) {
	if len(raw) > 0 && raw[0] == '{' {
		if rec, ok := rep.decodeOne(raw, nx, true); ok {
			return rec, nil
		}
	}
	if err := odata.CheckRecord(raw); err != nil {
		return Record{}, invalidJSON(raw, pageSyntaxDetail(err))
	}
	return decodeValid(rep, raw, nx)
}

// AddDecodedShardPage is AddShardPage for a page DecodePage decoded (with
// this Transformer's Decoder): it decides repeats, rejects and appends in
// the page's order, with the same rows and Stats as AddShardPage. The
// page's bytes must not change until it returns (see Decoded.Raw); the
// Decoded values are not kept and may be reused after.
func (t *Transformer) AddDecodedShardPage(seq int64, shard string, receivedAt time.Time, page []Decoded) []Batch {
	t.stats.Pages++
	t.finished = false
	var out []Batch
	extractedAt := receivedAt.UTC()
	si := t.shardIndex(shard)
	for i := range page {
		r := &page[i]
		t.stats.RecordsIn++
		err := r.Err
		if err == nil {
			// Not written back: a caller may reuse the value for
			// another record, and must not find this one's key in it.
			dk := r.key
			if !r.keyed {
				dk = decideKeyOf(&r.Rec)
			}
			load, derr := t.decideKeyed(&r.Rec, dk, RecordRef{Seq: seq, Index: r.Index}, si)
			if derr != nil {
				err = derr
			} else if !load {
				continue
			}
		}
		if err != nil {
			out = t.reject(out, seq, r.Index, r.Raw, err)
			continue
		}
		out = t.addUser(out, &r.Rec, extractedAt)
	}
	return out
}
