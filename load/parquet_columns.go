package load

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet"

	"github.com/credreg/credreg/schemas"
)

// columnEncoding is how one column is written: with a dictionary or
// plain, and with statistics or without.
type columnEncoding struct {
	dictionary bool
	stats      bool
}

// encodingOf decides a top-level column's encoding from its name and
// Arrow type. Dictionary encoding hashes every value (arrow-go also
// allocates per value to do it), which pays only where values repeat and
// the dictionary saves more bytes than zstd would on the plain values.
// Measured column by column on a 1M-user replay (bench/replay/NOTES.md):
//
//   - the slice's constants (tenant_id, run_id, source, snapshot_date)
//     compress to a few kilobytes either way, so hashing them is waste;
//   - user_id and user_principal_name are unique per user (repeated only
//     per method or change row in the other tables): the dictionary
//     overflows and falls back to plain after spending the hashing, and
//     plain came out smaller; their minimum and maximum (random GUIDs,
//     unordered names) would let no reader skip a row group, so they carry
//     no statistics either (nothing in credreg reads Parquet statistics);
//   - timestamps are all but unique per user (last_updated_at) or constant
//     (extracted_at): plain was several times faster and smaller too;
//   - everything else (auth_method, method_family, display names,
//     user_type, default_mfa_method, counts) repeats a small vocabulary,
//     and the dictionary made those columns 2.5-4 times smaller.
func encodingOf(f arrow.Field) columnEncoding {
	switch f.Name {
	case "user_id", "user_principal_name":
		return columnEncoding{dictionary: false, stats: false}
	case "tenant_id", "run_id", "source":
		return columnEncoding{dictionary: false, stats: true}
	}
	switch f.Type.ID() {
	case arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
		return columnEncoding{dictionary: false, stats: true}
	}
	return columnEncoding{dictionary: true, stats: true}
}

// columnProperties are the writer properties that give each top-level
// column of s its encoding; nested columns (lists) keep the defaults,
// dictionary and statistics on.
func columnProperties(s *arrow.Schema) []parquet.WriterProperty {
	var props []parquet.WriterProperty
	for _, f := range s.Fields() {
		if f.Type.ID() == arrow.LIST {
			continue
		}
		enc := encodingOf(f)
		props = append(props, parquet.WithDictionaryFor(f.Name, enc.dictionary), parquet.WithStatsFor(f.Name, enc.stats))
	}
	return props
}

// batchValuesOf is how many values t's column writers encode between
// checks of the page size: writeBatchValues, except where a value can be
// large (rejected_records' raw_json), which keeps arrow's default.
func batchValuesOf(t *schemas.Table) int64 {
	if t.Name == schemas.RejectedRecordsTable.Name {
		return rejectBatchValues
	}
	return writeBatchValues
}
