package load

import (
	"context"

	"gocloud.dev/blob"
)

// OpenBucket opens a location exactly as OpenWarehouse does (same URL
// forms, same atomic local writes) and returns the bare bucket, for stores
// that are not a warehouse, such as the raw zone.
func OpenBucket(ctx context.Context, urlOrPath string) (*blob.Bucket, error) {
	w, err := OpenWarehouse(ctx, urlOrPath)
	if err != nil {
		return nil, err
	}
	return w.bucket, nil
}
