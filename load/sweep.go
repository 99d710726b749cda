package load

import (
	"context"
	"path"
	"strings"
	"time"

	"gocloud.dev/blob"

	"github.com/credreg/credreg/schemas"
)

// staleTemp is how old a temporary file must be before Begin removes it.
// A local write in progress keeps its temporary file next to the target
// (part-00000.parquet.<hex>.tmp); a process killed mid-write leaves it
// behind. It never matches *.parquet, so readers ignore it, but it would
// pile up across crashes. An hour is far longer than any write of one file.
const staleTemp = time.Hour

// sweepStale removes the temporary files a killed run left in the slice's
// folders. It is best effort: a file it cannot list or delete stays, harmless.
func sweepStale(ctx context.Context, b *blob.Bucket, key schemas.Key, now time.Time) {
	for _, t := range schemas.Tables {
		dir := path.Dir(partKey(t.Name, key)) + "/"
		it := b.List(&blob.ListOptions{Prefix: dir, Delimiter: "/"})
		for {
			obj, err := it.Next(ctx)
			if err != nil {
				break
			}
			if !obj.IsDir && strings.HasSuffix(obj.Key, ".tmp") && now.Sub(obj.ModTime) > staleTemp {
				_ = b.Delete(ctx, obj.Key)
			}
		}
	}
}
