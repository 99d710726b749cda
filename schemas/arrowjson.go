package schemas

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// ArrowSchemaJSON is an Arrow schema in the JSON form of Arrow's
// integration-test format (the "schema" member of an integration JSON file),
// which Arrow's implementations read and write.
type ArrowSchemaJSON struct {
	Fields   []ArrowFieldJSON `json:"fields"`
	Metadata []ArrowKeyValue  `json:"metadata,omitempty"`
}

// ArrowFieldJSON is one field of an ArrowSchemaJSON. Children holds the
// fields of a nested type (a list's element) and is [] for the others.
type ArrowFieldJSON struct {
	Name     string           `json:"name"`
	Nullable bool             `json:"nullable"`
	Type     ArrowTypeJSON    `json:"type"`
	Children []ArrowFieldJSON `json:"children"`
	Metadata []ArrowKeyValue  `json:"metadata,omitempty"`
}

// ArrowTypeJSON is a data type in the integration format: a name and the
// parameters that name takes, e.g. {"name":"int","bitWidth":64,"isSigned":true}
// or {"name":"timestamp","unit":"MICROSECOND","timezone":"UTC"}.
type ArrowTypeJSON struct {
	Name      string `json:"name"`
	BitWidth  int    `json:"bitWidth,omitempty"`
	IsSigned  *bool  `json:"isSigned,omitempty"`
	Precision string `json:"precision,omitempty"`
	Unit      string `json:"unit,omitempty"`
	Timezone  string `json:"timezone,omitempty"`
}

// ArrowKeyValue is one metadata entry of a schema or field.
type ArrowKeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ArrowJSON returns the table's Arrow schema (see Arrow) in Arrow's JSON
// integration form, metadata included. It is computed from the Arrow schema,
// so it cannot say anything the Parquet files do not.
func (t *Table) ArrowJSON() ArrowSchemaJSON {
	s := t.Arrow()
	out := ArrowSchemaJSON{Fields: arrowFieldsJSON(s.Fields())}
	md := s.Metadata()
	out.Metadata = arrowMetadataJSON(&md)
	return out
}

func arrowFieldsJSON(fields []arrow.Field) []ArrowFieldJSON {
	out := make([]ArrowFieldJSON, len(fields))
	for i, f := range fields {
		out[i] = ArrowFieldJSON{
			Name:     f.Name,
			Nullable: f.Nullable,
			Type:     arrowTypeJSON(f.Type),
			Children: []ArrowFieldJSON{},
			Metadata: arrowMetadataJSON(&f.Metadata),
		}
		if n, ok := f.Type.(arrow.NestedType); ok {
			out[i].Children = arrowFieldsJSON(n.Fields())
		}
	}
	return out
}

func arrowMetadataJSON(md *arrow.Metadata) []ArrowKeyValue {
	if md.Len() == 0 {
		return nil
	}
	out := make([]ArrowKeyValue, md.Len())
	for i, k := range md.Keys() {
		out[i] = ArrowKeyValue{Key: k, Value: md.Values()[i]}
	}
	return out
}

// arrowUnits are the integration format's names of Arrow's time units.
var arrowUnits = [...]string{
	arrow.Second: "SECOND", arrow.Millisecond: "MILLISECOND",
	arrow.Microsecond: "MICROSECOND", arrow.Nanosecond: "NANOSECOND",
}

// arrowTypeJSON covers the types a credreg table can sensibly hold; like
// bigQueryType, it panics on any other, and the schema tests run it over
// every column of every table.
func arrowTypeJSON(t arrow.DataType) ArrowTypeJSON {
	signed := func(s bool) *bool { return &s }
	switch t := t.(type) {
	case *arrow.NullType:
		return ArrowTypeJSON{Name: "null"}
	case *arrow.BooleanType:
		return ArrowTypeJSON{Name: "bool"}
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type:
		return ArrowTypeJSON{Name: "int", BitWidth: t.(arrow.FixedWidthDataType).BitWidth(), IsSigned: signed(true)}
	case *arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type, *arrow.Uint64Type:
		return ArrowTypeJSON{Name: "int", BitWidth: t.(arrow.FixedWidthDataType).BitWidth(), IsSigned: signed(false)}
	case *arrow.Float32Type:
		return ArrowTypeJSON{Name: "floatingpoint", Precision: "SINGLE"}
	case *arrow.Float64Type:
		return ArrowTypeJSON{Name: "floatingpoint", Precision: "DOUBLE"}
	case *arrow.StringType:
		return ArrowTypeJSON{Name: "utf8"}
	case *arrow.LargeStringType:
		return ArrowTypeJSON{Name: "largeutf8"}
	case *arrow.BinaryType:
		return ArrowTypeJSON{Name: "binary"}
	case *arrow.LargeBinaryType:
		return ArrowTypeJSON{Name: "largebinary"}
	case *arrow.Date32Type:
		return ArrowTypeJSON{Name: "date", Unit: "DAY"}
	case *arrow.Date64Type:
		return ArrowTypeJSON{Name: "date", Unit: "MILLISECOND"}
	case *arrow.TimestampType:
		return ArrowTypeJSON{Name: "timestamp", Unit: arrowUnits[t.Unit], Timezone: t.TimeZone}
	case *arrow.ListType:
		return ArrowTypeJSON{Name: "list"}
	case *arrow.LargeListType:
		return ArrowTypeJSON{Name: "largelist"}
	case *arrow.StructType:
		return ArrowTypeJSON{Name: "struct"}
	}
	panic(fmt.Sprintf("schemas: no Arrow JSON form for %s", t))
}
