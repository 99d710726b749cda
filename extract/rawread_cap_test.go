package extract

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A compressed object over the reader's cap is still read whole and
// exactly, streamed, and the reader does not keep a buffer past the cap;
// an object under it is read through the held buffer.
func TestRawPageReaderCompressedCap(t *testing.T) {
	ctx := context.Background()
	bucket := openTestBucket(t)
	small := []byte(`{"value":[{"id":"c"}]}`)
	var sb strings.Builder
	sb.WriteString(`{"value":[`)
	for i := range 20000 {
		sb.WriteString(`{"id":"` + strings.Repeat(string(rune('a'+i%26)), i%13) + `"},`)
	}
	sb.WriteString(`{"id":"b"}]}`)
	big := []byte(sb.String())
	idx := landPages(t, bucket, small, big)
	const limit = 1 << 10
	tests := []struct {
		name string
		key  string
		want []byte
	}{
		{name: "under the cap", key: idx.Pages[0].Key, want: small},
		{name: "over the cap", key: idx.Pages[1].Key, want: big},
		{name: "under again", key: idx.Pages[0].Key, want: small},
	}
	r := RawPageReader{maxZ: limit}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.ReadInto(ctx, bucket, tc.key, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("read %d bytes, want %d", len(got), len(tc.want))
			}
			if cap(r.z) > limit {
				t.Errorf("the reader holds a compressed buffer of %d bytes, over its cap of %d", cap(r.z), limit)
			}
		})
	}
	if len(r.z) == 0 {
		t.Error("a body under the cap was not read through the held buffer")
	}
}
