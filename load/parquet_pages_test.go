package load

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/credreg/credreg/schemas"
)

// A page (data or dictionary) passes its 1 MiB limit by up to one batch
// of values. In
// rejected_records a raw_json value can be a MiB (transform.MaxRawJSON),
// so there the batch stays arrow's 1024 values: 3000 rejects of 4 KiB in
// one record batch make pages of at most 1 MiB + 1024 values, where the
// users' batch of 8192 would put all 12 MB in one page.
func TestRejectPagesStayBounded(t *testing.T) {
	t.Parallel()
	w := openTest(t, "mem://")
	key := schemas.Key{Date: day("2025-03-10"), Tenant: "tenant-p"}
	mem := checkedAllocator(t)
	d := makeSlice(key, "run-p", 1, 3000, 1)
	const valueBytes = 4 << 10
	for i := range d.rejects {
		d.rejects[i].RawJSON = fmt.Sprintf(`{"n":%08d,"pad":"%s"}`, i, strings.Repeat("x", valueBytes-22))
	}
	recs := d.records(mem, len(d.rejects))
	defer release(recs)
	infos := commitRecords(t, w, key, "run-p", recs, WriterOptions{Allocator: mem}, nil)

	r := parquetFile(t, w, infos[2])
	c := r.MetaData().Schema.ColumnIndexByName("raw_json")
	if c < 0 {
		t.Fatal("rejected_records has no raw_json column")
	}
	limit := 1<<20 + rejectBatchValues*(valueBytes+4)
	pages, largest := 0, 0
	for rg := range r.NumRowGroups() {
		pr, err := r.RowGroup(rg).GetColumnPageReader(c)
		if err != nil {
			t.Fatal(err)
		}
		for pr.Next() {
			// The dictionary page counts too: its limit is checked
			// once per batch as well.
			p := pr.Page()
			largest = max(largest, len(p.Data()))
			if p.Type() != file.PageTypeDictionaryPage {
				pages++
			}
		}
		if err := pr.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if largest > limit {
		t.Errorf("rejected_records.raw_json: largest of %d pages holds %d bytes, want at most %d", pages, largest, limit)
	}
	if pages < 3 {
		t.Errorf("rejected_records.raw_json: %d pages for %d MB, want the values spread over several", pages, 3000*valueBytes>>20)
	}
}
