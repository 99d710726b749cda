package load

import (
	"sync"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// zstdWindow is the history window of the zstd encoders that compress
// Parquet pages. Arrow compresses one page at a time (EncodeAll), and a
// page is about 1 MiB (the data page and dictionary page limits, which a
// page passes by at most one batch of values: a few hundred KiB, more only
// for rejected_records' long raw_json), so a longer window finds
// next to nothing more: the 8 MiB default window only made each pooled
// encoder hold a 16 MiB history buffer (32 MB of a 1M-user replay's heap
// at the end, up to four encoders with sync.Pool's per-P and victim
// caches) for no smaller output.
const zstdWindow = 1 << 20

// arrowZstd is what arrow's zstd codec offers: reading pages takes the
// streaming and error-reporting methods, which the wrapper keeps.
type arrowZstd interface {
	compress.Codec
	compress.StreamingCodec
	DecodeWithError(dst, src []byte) ([]byte, error)
}

// smallWindowZstd is arrow's zstd codec with encoders of zstdWindow; the
// frames it writes are plain zstd, which every reader decodes.
type smallWindowZstd struct {
	arrowZstd
	mu    sync.Mutex
	pools map[zstd.EncoderLevel]*sync.Pool
}

// Arrow looks codecs up in a registry of its own, which is meant to be
// filled from init (compress.RegisterCodec's doc): the one place a
// Parquet writer's encoders can be chosen.
func init() {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		return
	}
	if az, ok := c.(arrowZstd); ok {
		compress.RegisterCodec(compress.Codecs.Zstd, &smallWindowZstd{arrowZstd: az, pools: map[zstd.EncoderLevel]*sync.Pool{}})
	}
}

func (c *smallWindowZstd) Encode(dst, src []byte) []byte {
	return c.EncodeLevel(dst, src, compress.DefaultCompressionLevel)
}

// EncodeLevel takes levels as arrow's codec does: zstd's numbers, and
// DefaultCompressionLevel for zstd's default speed.
func (c *smallWindowZstd) EncodeLevel(dst, src []byte, level int) []byte {
	l := zstd.SpeedDefault
	if level != compress.DefaultCompressionLevel {
		l = zstd.EncoderLevelFromZstd(level)
	}
	p := c.pool(l)
	enc := p.Get().(*zstd.Encoder)
	defer p.Put(enc)
	return enc.EncodeAll(src, dst[:0])
}

func (c *smallWindowZstd) pool(l zstd.EncoderLevel) *sync.Pool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pools[l]
	if p == nil {
		p = &sync.Pool{New: func() any {
			// The options arrow's own pool uses, and the window.
			enc, err := zstd.NewWriter(nil, zstd.WithZeroFrames(true), zstd.WithEncoderLevel(l), zstd.WithEncoderConcurrency(1),
				zstd.WithAllLitEntropyCompression(true), zstd.WithWindowSize(zstdWindow))
			if err != nil {
				panic("load: zstd encoder options: " + err.Error()) // constant options: cannot fail
			}
			return enc
		}}
		c.pools[l] = p
	}
	return p
}
