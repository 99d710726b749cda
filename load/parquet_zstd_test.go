package load

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// Parquet's zstd codec is the small-window one, still able to read
// pages (arrow's page reader needs the streaming and error-reporting
// methods), and what it writes decodes with a 1 MiB window, at every
// level, pages larger than the window included.
func TestParquetZstdSmallWindow(t *testing.T) {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	codec, ok := c.(*smallWindowZstd)
	if !ok {
		t.Fatalf("the zstd codec is %T", c)
	}
	if _, ok := c.(compress.StreamingCodec); !ok {
		t.Fatal("the zstd codec cannot stream: arrow cannot read pages with it")
	}
	small, err := zstd.NewReader(nil, zstd.WithDecoderMaxWindow(zstdWindow), zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"passKeyDeviceBound", "microsoftAuthenticatorPush", "user", "@contoso.example", "2026-11-20", "true", "false"}
	for _, size := range []int{0, 100, 200 << 10, 3 << 20} {
		var src bytes.Buffer
		for src.Len() < size {
			fmt.Fprintf(&src, "%s%d", words[rng.IntN(len(words))], rng.IntN(1000))
		}
		for _, level := range []int{compress.DefaultCompressionLevel, 1, 9} {
			t.Run(fmt.Sprintf("%d bytes level %d", size, level), func(t *testing.T) {
				enc := codec.EncodeLevel(nil, src.Bytes(), level)
				got, err := codec.DecodeWithError(nil, enc)
				if err != nil || !bytes.Equal(got, src.Bytes()) {
					t.Fatalf("arrow's decoder: %d bytes back, %v", len(got), err)
				}
				got, err = small.DecodeAll(enc, nil)
				if err != nil || !bytes.Equal(got, src.Bytes()) {
					t.Fatalf("with a %d-byte window: %d bytes back, %v", zstdWindow, len(got), err)
				}
			})
		}
	}
}
