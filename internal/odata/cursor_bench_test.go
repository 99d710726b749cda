package odata

import "testing"

// benchRecords is the records of a 999-record page shaped like Graph's.
func benchRecords(b *testing.B) (body []byte, recs []Record) {
	body = page999(999)
	p, err := Split(body)
	if err != nil {
		b.Fatal(err)
	}
	return body, p.Records
}

// BenchmarkValid checks every record of a page on its own, as a consumer
// of single records does.
func BenchmarkValid(b *testing.B) {
	body, recs := benchRecords(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		for _, r := range recs {
			if !Valid(r.Raw) {
				b.Fatal("invalid")
			}
		}
	}
}

// BenchmarkMember walks every member of every record, as transform's
// decoder does, and every element of the arrays among them.
func BenchmarkMember(b *testing.B) {
	body, recs := benchRecords(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range recs {
			it := NewContainer(r.Raw)
			for {
				_, v, ok := it.Member()
				if !ok {
					break
				}
				if v[0] == '[' {
					el := NewContainer(v)
					for {
						if _, ok := el.Element(); !ok {
							break
						}
					}
				}
			}
			if it.Bad() {
				b.Fatal("bad")
			}
		}
	}
}

// BenchmarkCursorSkipValue skips every record of a page.
func BenchmarkCursorSkipValue(b *testing.B) {
	body, recs := benchRecords(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		for _, r := range recs {
			c := NewCursor(r.Raw)
			if !c.SkipValue() {
				b.Fatal("skip")
			}
		}
	}
}
