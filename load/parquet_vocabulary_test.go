package load

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/credreg/credreg/schemas"
)

// vocabularyColumnFor is the shortcut of a table's column, for tests.
func vocabularyColumnFor(t *testing.T, table *schemas.Table, name string) vocabularyColumn {
	t.Helper()
	i := table.Arrow().FieldIndices(name)[0]
	c, ok := vocabularyColumnOf(table, i, table.Arrow().Field(i))
	if !ok {
		t.Fatalf("%s.%s has no vocabulary", table.Name, name)
	}
	return c
}

// strings of vs, "<null>" a NULL.
func stringArray(mem memory.Allocator, vs ...string) arrow.Array {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	for _, v := range vs {
		if v == "<null>" {
			b.AppendNull()
		} else {
			b.Append(v)
		}
	}
	return b.NewArray()
}

// checkDictionaryValues fails unless d holds want's values and NULLs, row
// for row.
func checkDictionaryValues(t *testing.T, step string, d *array.Dictionary, want *array.String) {
	t.Helper()
	if d.Len() != want.Len() {
		t.Fatalf("%s: %d rows, want %d", step, d.Len(), want.Len())
	}
	if d.NullN() != want.NullN() {
		t.Errorf("%s: %d NULLs, want %d", step, d.NullN(), want.NullN())
	}
	dict := d.Dictionary().(*array.String)
	for j := range d.Len() {
		if d.IsNull(j) != want.IsNull(j) {
			t.Errorf("%s row %d: NULL %v, want %v", step, j, d.IsNull(j), want.IsNull(j))
			continue
		}
		if want.IsNull(j) {
			continue
		}
		if got := dict.Value(d.GetValueIndex(j)); got != want.Value(j) {
			t.Errorf("%s row %d: %q, want %q", step, j, got, want.Value(j))
		}
	}
}

// The vocabulary's dictionary is seeded from the catalog, kept while no
// new value comes, and grown by one that does; NULLs, empty strings and
// sliced batches keep their values.
func TestVocabularyColumnEncode(t *testing.T) {
	mem := checkedAllocator(t)
	c := vocabularyColumnFor(t, schemas.UserRegistrationDetailsTable, "default_mfa_method")
	defer c.release()
	seed := len(schemas.Vocabulary(schemas.UserRegistrationDetailsTable.Name, "default_mfa_method"))
	sliced := func(a arrow.Array, i, j int64) arrow.Array {
		defer a.Release()
		return array.NewSlice(a, i, j)
	}
	steps := []struct {
		name    string
		col     arrow.Array
		entries int  // dictionary entries
		reused  bool // the previous step's dictionary
	}{
		{"known values", stringArray(mem, "push", "push", "sms", "<null>", "push"), seed, false},
		{"again", stringArray(mem, "sms", "<null>", "oath"), seed, true},
		{"only NULLs", stringArray(mem, "<null>", "<null>"), seed, true},
		{"a new value", stringArray(mem, "push", "brandNew", "brandNew", "sms"), seed + 1, false},
		{"the new value again", stringArray(mem, "brandNew"), seed + 1, true},
		{"an empty string", stringArray(mem, "", "push", ""), seed + 2, false},
		{"sliced, NULLs past the offset", sliced(stringArray(mem, "x", "y", "<null>", "sms", "<null>", "", "z"), 2, 6), seed + 2, true},
		{"sliced, a new value", sliced(stringArray(mem, "<null>", "zz", "push", "<null>"), 1, 4), seed + 3, false},
		{"no rows", stringArray(mem), seed + 3, true},
	}
	var prev arrow.ArrayData
	for _, st := range steps {
		got, err := c.encode(mem, st.col)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		d := got.(*array.Dictionary)
		if n := d.Dictionary().Len(); n != st.entries {
			t.Errorf("%s: %d dictionary entries, want %d", st.name, n, st.entries)
		}
		if reused := d.Data().Dictionary() == prev; reused != st.reused {
			t.Errorf("%s: dictionary reused %v, want %v", st.name, reused, st.reused)
		}
		prev = d.Data().Dictionary()
		checkDictionaryValues(t, st.name, d, st.col.(*array.String))
		got.Release()
		st.col.Release()
	}
}

// A list of strings becomes the same list of dictionary values, sliced or
// not, NULL lists, empty lists and new values kept.
func TestVocabularyListEncode(t *testing.T) {
	mem := checkedAllocator(t)
	c := vocabularyColumnFor(t, schemas.UserRegistrationDetailsTable, "system_preferred_methods")
	defer c.release()
	lists := func(vs ...[]string) arrow.Array {
		b := array.NewListBuilder(mem, arrow.BinaryTypes.String)
		defer b.Release()
		vb := b.ValueBuilder().(*array.StringBuilder)
		for _, l := range vs {
			if l == nil {
				b.AppendNull()
				continue
			}
			b.Append(true)
			vb.AppendValues(l, nil)
		}
		return b.NewArray()
	}
	whole := lists([]string{"x"}, []string{"push", "sms"}, nil, []string{}, []string{"brandNew", "push"}, []string{""}, nil)
	defer whole.Release()
	for _, col := range []arrow.Array{
		lists([]string{"push"}, nil, []string{}, []string{"sms", "push"}),
		array.NewSlice(whole, 1, 6),
	} {
		got, err := c.encode(mem, col)
		if err != nil {
			t.Fatal(err)
		}
		gl, wl := got.(*array.List), col.(*array.List)
		if !arrow.TypeEqual(gl.DataType(), c.list) {
			t.Errorf("type %s, want %s", gl.DataType(), c.list)
		}
		d := gl.ListValues().(*array.Dictionary)
		dict := d.Dictionary().(*array.String)
		ws := wl.ListValues().(*array.String)
		if gl.Len() != wl.Len() {
			t.Fatalf("%d rows, want %d", gl.Len(), wl.Len())
		}
		for i := range wl.Len() {
			if gl.IsNull(i) != wl.IsNull(i) {
				t.Errorf("row %d: NULL %v, want %v", i, gl.IsNull(i), wl.IsNull(i))
				continue
			}
			gs, ge := gl.ValueOffsets(i)
			ws0, we := wl.ValueOffsets(i)
			if ge-gs != we-ws0 {
				t.Errorf("row %d: %d values, want %d", i, ge-gs, we-ws0)
				continue
			}
			for j := range ge - gs {
				if g, w := dict.Value(d.GetValueIndex(int(gs+j))), ws.Value(int(ws0+j)); g != w {
					t.Errorf("row %d value %d: %q, want %q", i, j, g, w)
				}
			}
		}
		got.Release()
		col.Release()
	}
}

// A slice of lists shares its table's whole child array (erase writes
// such slices of a table read back): only the values its rows hold reach
// the dictionary, in the vocabulary and past its cap, so a value of a row
// outside the slice, an erased user's, is not written to the file.
func TestVocabularyListSliceKeepsOtherRowsOut(t *testing.T) {
	mem := checkedAllocator(t)
	b := array.NewListBuilder(mem, arrow.BinaryTypes.String)
	defer b.Release()
	vb := b.ValueBuilder().(*array.StringBuilder)
	for _, l := range [][]string{{"push"}, {"zzErasedBefore"}, {"sms", "push"}, nil, {"brandNew"}, {"zzErasedAfter", "push"}} {
		if l == nil {
			b.AppendNull()
			continue
		}
		b.Append(true)
		vb.AppendValues(l, nil)
	}
	whole := b.NewArray()
	defer whole.Release()
	for _, capped := range []bool{false, true} {
		c := vocabularyColumnFor(t, schemas.UserRegistrationDetailsTable, "system_preferred_methods")
		c.capped = capped
		for _, rows := range [][2]int64{{2, 5}, {0, 1}, {3, 4}, {6, 6}} {
			col := array.NewSlice(whole, rows[0], rows[1])
			got, err := c.encode(mem, col)
			if err != nil {
				t.Fatal(err)
			}
			dict := got.(*array.List).ListValues().(*array.Dictionary).Dictionary().(*array.String)
			for i := range dict.Len() {
				if v := dict.Value(i); v == "zzErasedBefore" || v == "zzErasedAfter" {
					t.Errorf("capped %v, rows %v: the dictionary holds %q, a value of a row outside the slice", capped, rows, v)
				}
			}
			got.Release()
			col.Release()
		}
		for _, v := range c.values {
			if v == "zzErasedBefore" || v == "zzErasedAfter" {
				t.Errorf("capped %v: the vocabulary learned %q, a value of a row outside the slices", capped, v)
			}
		}
		c.release()
	}
}

// Past maxVocabulary each batch gets a dictionary of its own values,
// which are still right.
func TestVocabularyColumnCapped(t *testing.T) {
	mem := checkedAllocator(t)
	c := vocabularyColumnFor(t, schemas.UserAuthMethodsTable, "auth_method")
	defer c.release()
	var many []string
	for i := range maxVocabulary + 10 {
		many = append(many, fmt.Sprintf("value-%04d", i))
	}
	for i, col := range []arrow.Array{
		stringArray(mem, many...),
		stringArray(mem, "fido2", "<null>", "value-0001", "fido2"),
	} {
		got, err := c.encode(mem, col)
		if err != nil {
			t.Fatal(err)
		}
		if !c.capped {
			t.Errorf("batch %d: not capped past %d values", i, maxVocabulary)
		}
		d := got.(*array.Dictionary)
		checkDictionaryValues(t, fmt.Sprintf("batch %d", i), d, col.(*array.String))
		if i == 1 && d.Dictionary().Len() != 2 {
			t.Errorf("batch %d: %d dictionary entries, want the batch's own 2", i, d.Dictionary().Len())
		}
		if len(c.values) > maxVocabulary {
			t.Errorf("the vocabulary grew to %d values, past its cap %d", len(c.values), maxVocabulary)
		}
		got.Release()
		col.Release()
	}
}

// dataPageEncodings lists the encodings of a column chunk's data pages.
func dataPageEncodings(t *testing.T, r *file.Reader, rg, c int) map[parquet.Encoding]bool {
	t.Helper()
	pr, err := r.RowGroup(rg).GetColumnPageReader(c)
	if err != nil {
		t.Fatal(err)
	}
	out := map[parquet.Encoding]bool{}
	for pr.Next() {
		if p := pr.Page(); p.Type() != file.PageTypeDictionaryPage {
			out[parquet.Encoding(p.Encoding())] = true
		}
	}
	if err := pr.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The vocabulary columns read back as written, whatever the batches hold:
// a value outside the vocabulary in the first batch, in a later batch of a
// row group (that chunk falls back to plain), in a later row group,
// NULLs, empty strings, sliced batches, more values than the cap. They
// carry no statistics.
func TestVocabularyColumns(t *testing.T) {
	t.Parallel()
	key := schemas.Key{Date: day("2025-03-12"), Tenant: "tenant-v"}
	const rowGroup, batch = 300, 70
	users := func(n int, edit func(i int, u *schemas.UserRow)) []schemas.UserRow {
		rows := makeSlice(key, "run-v", n, 0, 1).users
		for i := range rows {
			u := &rows[i]
			u.UserType, u.DefaultMfaMethod = nil, nil
			switch i % 3 {
			case 0:
				u.UserType, u.DefaultMfaMethod = ptr("member"), ptr("push")
			case 1:
				u.UserType, u.DefaultMfaMethod = ptr("guest"), ptr("sms")
			}
			if edit != nil {
				edit(i, u)
			}
		}
		return rows
	}
	newAt := func(row int) func(int, *schemas.UserRow) {
		return func(i int, u *schemas.UserRow) {
			if i == row {
				u.UserType, u.DefaultMfaMethod = ptr("partner"), ptr("brandNewMethod")
				u.SystemPreferredMethods = []string{"push", "brandNewMethod"}
			}
		}
	}
	cases := []struct {
		name string
		rows []schemas.UserRow
		// plain: per row group, whether the vocabulary columns' chunks
		// fell back to plain (a new value mid-chunk); nil: not checked
		plain  []bool
		sliced bool
	}{
		{"known values", users(700, nil), []bool{false, false, false}, false},
		{"new value in the first batch", users(700, newAt(3)), []bool{false, false, false}, false},
		{"new value in a later batch", users(700, newAt(150)), []bool{true, false, false}, false},
		{"new value in a later row group", users(700, newAt(450)), []bool{false, true, false}, false},
		{"empty strings", users(700, func(i int, u *schemas.UserRow) {
			if i%50 == 7 {
				u.UserType, u.DefaultMfaMethod = ptr(""), ptr("")
				u.SystemPreferredMethods = []string{"", "sms", ""}
			}
		}), []bool{false, false, false}, false},
		{"sliced", users(700, newAt(150)), []bool{true, false, false}, true},
		{"past the cap", users(1500, func(i int, u *schemas.UserRow) {
			u.DefaultMfaMethod = ptr(fmt.Sprintf("m-%d", i))
		}), nil, false},
	}
	table := schemas.UserRegistrationDetailsTable
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := openTest(t, "mem://")
			mem := checkedAllocator(t)
			recs := batches(mem, table, tc.rows, batch)
			if tc.sliced {
				dropFirstRows(recs)
			}
			defer release([][]arrow.RecordBatch{recs})
			infos := commitTable(t, w, key, "run-v", 0, recs, WriterOptions{Allocator: mem, RowGroupRows: rowGroup})

			r := parquetFile(t, w, infos[0])
			md := r.MetaData()
			for _, name := range []string{"user_type", "default_mfa_method", "system_preferred_methods.list.element"} {
				c := md.Schema.ColumnIndexByName(name)
				for rg := range md.NumRowGroups() {
					cc, err := md.RowGroup(rg).ColumnChunk(c)
					if err != nil {
						t.Fatal(err)
					}
					if ok, err := cc.StatsSet(); err != nil || ok {
						t.Errorf("row group %d %s: statistics %v (err %v), want none", rg, name, ok, err)
					}
					if tc.plain == nil {
						continue
					}
					// A fallback before the chunk's first page was cut
					// (these chunks are one page) rewrites it all plain,
					// its dictionary dropped.
					if got := cc.HasDictionaryPage(); got == tc.plain[rg] {
						t.Errorf("row group %d %s: dictionary page %v, want %v", rg, name, got, !tc.plain[rg])
					}
					enc := dataPageEncodings(t, r, rg, c)
					if got := enc[parquet.Encodings.Plain]; got != tc.plain[rg] {
						t.Errorf("row group %d %s: plain data pages %v (encodings %v), want %v", rg, name, got, enc, tc.plain[rg])
					}
				}
			}

			read, err := w.ReadSlice(context.Background(), table, key)
			if err != nil {
				t.Fatal(err)
			}
			defer read.Release()
			want := array.NewTableFromRecords(table.Arrow(), recs)
			defer want.Release()
			compareTables(t, table.Name, read, want)
		})
	}
}
