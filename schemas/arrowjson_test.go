package schemas

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// arrowFromJSON reads an ArrowSchemaJSON back into an Arrow schema, the way
// an Arrow implementation reads the integration format. It knows only the
// spellings the format defines, written out here independently of
// arrowTypeJSON, so a wrong name or parameter on either side fails the
// round trip.
func arrowFromJSON(s ArrowSchemaJSON) (*arrow.Schema, error) {
	fields, err := fieldsFromJSON(s.Fields)
	if err != nil {
		return nil, err
	}
	md := metadataFromJSON(s.Metadata)
	return arrow.NewSchema(fields, &md), nil
}

func metadataFromJSON(kvs []ArrowKeyValue) arrow.Metadata {
	if len(kvs) == 0 {
		return arrow.Metadata{}
	}
	keys, values := make([]string, len(kvs)), make([]string, len(kvs))
	for i, kv := range kvs {
		keys[i], values[i] = kv.Key, kv.Value
	}
	return arrow.NewMetadata(keys, values)
}

func fieldsFromJSON(in []ArrowFieldJSON) ([]arrow.Field, error) {
	out := make([]arrow.Field, len(in))
	for i, f := range in {
		if f.Children == nil {
			return nil, fmt.Errorf("field %s: children is null, want an array", f.Name)
		}
		children, err := fieldsFromJSON(f.Children)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		typ, err := typeFromJSON(f.Type, children)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		out[i] = arrow.Field{Name: f.Name, Type: typ, Nullable: f.Nullable, Metadata: metadataFromJSON(f.Metadata)}
	}
	return out, nil
}

func typeFromJSON(t ArrowTypeJSON, children []arrow.Field) (arrow.DataType, error) {
	units := map[string]arrow.TimeUnit{"SECOND": arrow.Second, "MILLISECOND": arrow.Millisecond,
		"MICROSECOND": arrow.Microsecond, "NANOSECOND": arrow.Nanosecond}
	leaf := map[string]arrow.DataType{
		"null": arrow.Null, "bool": arrow.FixedWidthTypes.Boolean, "utf8": arrow.BinaryTypes.String,
		"largeutf8": arrow.BinaryTypes.LargeString, "binary": arrow.BinaryTypes.Binary,
		"largebinary": arrow.BinaryTypes.LargeBinary,
	}
	if typ, ok := leaf[t.Name]; ok && len(children) == 0 {
		return typ, nil
	}
	switch t.Name {
	case "int":
		if t.IsSigned == nil {
			return nil, fmt.Errorf("int without isSigned")
		}
		ints := map[[2]any]arrow.DataType{
			{8, true}: arrow.PrimitiveTypes.Int8, {16, true}: arrow.PrimitiveTypes.Int16,
			{32, true}: arrow.PrimitiveTypes.Int32, {64, true}: arrow.PrimitiveTypes.Int64,
			{8, false}: arrow.PrimitiveTypes.Uint8, {16, false}: arrow.PrimitiveTypes.Uint16,
			{32, false}: arrow.PrimitiveTypes.Uint32, {64, false}: arrow.PrimitiveTypes.Uint64,
		}
		if typ, ok := ints[[2]any{t.BitWidth, *t.IsSigned}]; ok {
			return typ, nil
		}
	case "floatingpoint":
		switch t.Precision {
		case "SINGLE":
			return arrow.PrimitiveTypes.Float32, nil
		case "DOUBLE":
			return arrow.PrimitiveTypes.Float64, nil
		}
	case "date":
		switch t.Unit {
		case "DAY":
			return arrow.FixedWidthTypes.Date32, nil
		case "MILLISECOND":
			return arrow.FixedWidthTypes.Date64, nil
		}
	case "timestamp":
		if u, ok := units[t.Unit]; ok {
			return &arrow.TimestampType{Unit: u, TimeZone: t.Timezone}, nil
		}
	case "list", "largelist":
		if len(children) != 1 {
			return nil, fmt.Errorf("%s with %d children, want 1", t.Name, len(children))
		}
		if t.Name == "list" {
			return arrow.ListOfField(children[0]), nil
		}
		return arrow.LargeListOfField(children[0]), nil
	case "struct":
		return arrow.StructOf(children...), nil
	}
	return nil, fmt.Errorf("type %+v (%d children) is not in the integration format", t, len(children))
}

// roundTrip encodes s as the CLI prints it, decodes the bytes and reads the
// schema back.
func roundTrip(t *testing.T, s ArrowSchemaJSON) *arrow.Schema {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back ArrowSchemaJSON
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got, err := arrowFromJSON(back)
	if err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return got
}

func TestArrowJSONRoundTripsEveryTable(t *testing.T) {
	for _, tab := range Tables {
		t.Run(tab.Name, func(t *testing.T) {
			got := roundTrip(t, tab.ArrowJSON())
			if !got.Equal(tab.Arrow()) {
				t.Errorf("round trip changed the schema:\n got %v\nwant %v", got, tab.Arrow())
			}
			if !got.Metadata().Equal(tab.Arrow().Metadata()) {
				t.Errorf("metadata %v, want %v", got.Metadata(), tab.Arrow().Metadata())
			}
			for i, col := range tab.Columns {
				if f := got.Field(i); f.Name != col.Name || f.Nullable != col.Nullable || !arrow.TypeEqual(f.Type, col.Type) {
					t.Errorf("column %d: %v, want %s %s nullable=%v", i, f, col.Name, col.Type, col.Nullable)
				}
			}
		})
	}
}

// The exact spellings of Arrow's integration format, one per type
// arrowTypeJSON knows. Every column type of every table must be listed.
var arrowJSONSpellings = []struct {
	typ  arrow.DataType
	json string
}{
	{arrow.Null, `{"name":"null"}`},
	{arrow.FixedWidthTypes.Boolean, `{"name":"bool"}`},
	{arrow.PrimitiveTypes.Int8, `{"name":"int","bitWidth":8,"isSigned":true}`},
	{arrow.PrimitiveTypes.Int16, `{"name":"int","bitWidth":16,"isSigned":true}`},
	{arrow.PrimitiveTypes.Int32, `{"name":"int","bitWidth":32,"isSigned":true}`},
	{arrow.PrimitiveTypes.Int64, `{"name":"int","bitWidth":64,"isSigned":true}`},
	{arrow.PrimitiveTypes.Uint8, `{"name":"int","bitWidth":8,"isSigned":false}`},
	{arrow.PrimitiveTypes.Uint16, `{"name":"int","bitWidth":16,"isSigned":false}`},
	{arrow.PrimitiveTypes.Uint32, `{"name":"int","bitWidth":32,"isSigned":false}`},
	{arrow.PrimitiveTypes.Uint64, `{"name":"int","bitWidth":64,"isSigned":false}`},
	{arrow.PrimitiveTypes.Float32, `{"name":"floatingpoint","precision":"SINGLE"}`},
	{arrow.PrimitiveTypes.Float64, `{"name":"floatingpoint","precision":"DOUBLE"}`},
	{arrow.BinaryTypes.String, `{"name":"utf8"}`},
	{arrow.BinaryTypes.LargeString, `{"name":"largeutf8"}`},
	{arrow.BinaryTypes.Binary, `{"name":"binary"}`},
	{arrow.BinaryTypes.LargeBinary, `{"name":"largebinary"}`},
	{arrow.FixedWidthTypes.Date32, `{"name":"date","unit":"DAY"}`},
	{arrow.FixedWidthTypes.Date64, `{"name":"date","unit":"MILLISECOND"}`},
	{&arrow.TimestampType{Unit: arrow.Second}, `{"name":"timestamp","unit":"SECOND"}`},
	{&arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "Europe/Paris"}, `{"name":"timestamp","unit":"MILLISECOND","timezone":"Europe/Paris"}`},
	{&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, `{"name":"timestamp","unit":"MICROSECOND","timezone":"UTC"}`},
	{&arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, `{"name":"timestamp","unit":"NANOSECOND","timezone":"UTC"}`},
	{arrow.ListOf(arrow.BinaryTypes.String), `{"name":"list"}`},
	{arrow.LargeListOf(arrow.PrimitiveTypes.Int64), `{"name":"largelist"}`},
	{arrow.StructOf(arrow.Field{Name: "a", Type: arrow.FixedWidthTypes.Boolean}), `{"name":"struct"}`},
}

func TestArrowJSONSpellings(t *testing.T) {
	for _, c := range arrowJSONSpellings {
		t.Run(c.typ.String(), func(t *testing.T) {
			b, err := json.Marshal(arrowTypeJSON(c.typ))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != c.json {
				t.Errorf("type JSON %s, want %s", b, c.json)
			}
			s := arrow.NewSchema([]arrow.Field{{Name: "c", Type: c.typ, Nullable: true}}, nil)
			if got := roundTrip(t, ArrowSchemaJSON{Fields: arrowFieldsJSON(s.Fields())}); !got.Equal(s) {
				t.Errorf("round trip: %v, want %v", got, s)
			}
		})
	}
	for _, tab := range Tables {
		for _, col := range tab.Columns {
			listed := false
			for _, c := range arrowJSONSpellings {
				listed = listed || arrow.TypeEqual(c.typ, col.Type)
			}
			if !listed {
				t.Errorf("%s.%s: type %s has no spelling in this test", tab.Name, col.Name, col.Type)
			}
		}
	}
}

func TestArrowJSONShape(t *testing.T) {
	b, err := json.Marshal(UserRegistrationDetailsTable.ArrowJSON())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Fields []map[string]json.RawMessage `json:"fields"`
		// The integration format's metadata is a list of key/value objects.
		Metadata []map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	first := doc.Fields[0]
	for _, k := range []string{"name", "nullable", "type", "children"} {
		if _, ok := first[k]; !ok {
			t.Errorf("field %s has no %q: %v", first["name"], k, first)
		}
	}
	if string(first["children"]) != "[]" {
		t.Errorf("children of a flat field = %s, want []", first["children"])
	}
	list := doc.Fields[19]
	want := `[{"name":"item","nullable":true,"type":{"name":"utf8"},"children":[]}]`
	if string(list["name"]) != `"system_preferred_methods"` || string(list["children"]) != want {
		t.Errorf("list field %s children %s, want %s", list["name"], list["children"], want)
	}
	wantMD := []map[string]string{{"key": "credreg.table", "value": "user_registration_details"},
		{"key": "credreg.schema_version", "value": Version}}
	if fmt.Sprint(doc.Metadata) != fmt.Sprint(wantMD) {
		t.Errorf("metadata %v, want %v", doc.Metadata, wantMD)
	}
}

func TestArrowJSONPanicsOnUnknownType(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a type without a JSON form")
		}
	}()
	arrowTypeJSON(arrow.FixedWidthTypes.Float16)
}
