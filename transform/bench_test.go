package transform

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/credreg/credreg/internal/odata"
)

// v1Page builds a userRegistrationDetails page of n records shaped like
// Graph's, with a few unknown method values.
func v1Page(n int) []byte {
	methods := []string{`"email","mobilePhone","microsoftAuthenticatorPush"`, `"fido2","passKeyDeviceBound"`,
		`"softwareOneTimePasscode","windowsHelloForBusiness","someFutureMethod"`, ``}
	var b bytes.Buffer
	b.WriteString(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#reports/authenticationMethods/userRegistrationDetails","value":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%08x-fde0-4fc4-9e0c-a20eb73e54c6","userPrincipalName":"user%d@contoso.onmicrosoft.com",`+
			`"userDisplayName":"User %d","userType":"member","isAdmin":%t,"isSsprRegistered":true,"isSsprEnabled":true,`+
			`"isSsprCapable":true,"isMfaRegistered":true,"isMfaCapable":true,"isPasswordlessCapable":false,`+
			`"isSystemPreferredAuthenticationMethodEnabled":true,"lastUpdatedDateTime":"2024-05-06T07:08:09.1234567Z",`+
			`"methodsRegistered":[%s],"systemPreferredAuthenticationMethods":["push"],`+
			`"userPreferredMethodForSecondaryAuthentication":"push"}`, i, i, i, i%50 == 0, methods[i%len(methods)])
	}
	b.WriteString(`],"@odata.nextLink":"https://graph.microsoft.com/v1.0/reports/authenticationMethods/userRegistrationDetails?$skiptoken=x"}`)
	return b.Bytes()
}

func BenchmarkDecodeRecord(b *testing.B) {
	p, err := odata.Split(v1Page(1))
	if err != nil {
		b.Fatal(err)
	}
	raw := p.Records[0].Raw
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRecord(v1, raw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkTransformPage measures a page from its bytes to Arrow batches:
// splitting, decoding, exploding and appending.
func BenchmarkTransformPage(b *testing.B) {
	const n = 999
	body := v1Page(n)
	tr := New(Options{Key: testKey, RunID: "bench"})
	defer tr.Release()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	seq := int64(0)
	for b.Loop() {
		seq++
		p, err := odata.Split(body)
		if err != nil {
			b.Fatal(err)
		}
		// Fresh ids per page, or every page after the first would be duplicates.
		tr.seen = newSeenMem()
		for _, batch := range tr.AddPage(seq, time.Time{}, p.Records) {
			batch.Record.Release()
		}
	}
	for _, batch := range tr.Finish() {
		batch.Record.Release()
	}
	if st := tr.Stats(); st.Rejected != 0 {
		b.Fatalf("%d rejects: %v", st.Rejected, st.RejectsByReason)
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDecodePage measures decoding alone: a 999-record page split
// into records and each decoded into a Record, nothing appended. With
// BenchmarkTransformPage (split, decode, explode into rows, append to
// Arrow), the difference is what exploding and appending cost.
func BenchmarkDecodePage(b *testing.B) {
	const n = 999
	body := v1Page(n)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := odata.Split(body)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range p.Records {
			if _, err := DecodeRecord(v1, r.Raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDecodeValid measures what the transformer pays per record of a
// page odata.Split validated: decodeValid alone, no second validation.
func BenchmarkDecodeValid(b *testing.B) {
	const n = 999
	p, err := odata.Split(v1Page(n))
	if err != nil {
		b.Fatal(err)
	}
	size := 0
	for _, r := range p.Records {
		size += len(r.Raw)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		var nx follow // as DecodePage keeps one per page
		for _, r := range p.Records {
			if _, err := decodeValid(v1Report, r.Raw, &nx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDecodeWalks sets the one-walk decoder against the two-walk one
// (decodeSpans, which explains the records it leaves) on the same page,
// in one process: on a machine shared with other work, their ratio is
// steadier than two runs of BenchmarkDecodeValid.
func BenchmarkDecodeWalks(b *testing.B) {
	p, err := odata.Split(v1Page(999))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		decode func(raw []byte) bool
	}{
		{"one", func(raw []byte) bool { _, ok := v1Report.decodeOne(raw, nil, false); return ok }},
		{"spans", func(raw []byte) bool { _, err := v1Report.decodeSpans(raw); return err == nil }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range p.Records {
					if !c.decode(r.Raw) {
						b.Fatalf("%s left %s", c.name, r.Raw)
					}
				}
			}
		})
	}
}

// BenchmarkReadPage sets the reader's ways with a page against each other,
// in one process: odata.Split (which checks every record) then
// DecodePage; odata.SplitUnchecked then DecodePage, which checks each
// record as it decodes it; and ReadPage, which also cuts the records it
// decodes, so that the splitter walks none of Graph's: one walk of the
// records instead of two.
func BenchmarkReadPage(b *testing.B) {
	body := v1Page(999)
	d := Decoder{rep: v1Report}
	for _, c := range []struct {
		name  string
		split func([]byte) (odata.Page, error)
	}{{"split", odata.Split}, {"unchecked", odata.SplitUnchecked}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var dst []Decoded
			for b.Loop() {
				p, err := c.split(body)
				if err != nil {
					b.Fatal(err)
				}
				dst = d.DecodePage(dst, p.Records)
				for i := range dst {
					if dst[i].Err != nil {
						b.Fatal(dst[i].Err)
					}
				}
			}
			b.ReportMetric(float64(999*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
	b.Run("read", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		var dst []Decoded
		for b.Loop() {
			var err error
			if dst, err = d.ReadPage(dst, body); err != nil || len(dst) != 999 {
				b.Fatal(err, len(dst))
			}
			for i := range dst {
				if dst[i].Err != nil {
					b.Fatal(dst[i].Err)
				}
			}
		}
		b.ReportMetric(float64(999*b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
