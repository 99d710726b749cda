package schemas

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// UserBuilder builds batches of user_registration_details from UserRows,
// as a RecordBuilder given AppendVarying and cut by ConstantColumns would:
// the same schema, values and validity (a column without NULLs may have no
// validity bitmap), at a fraction of the CPU (see rows_columns.go). It is
// not safe for concurrent use; the batches it returns are.
type UserBuilder struct {
	rowBuilder
	id, upn, displayName, userType, defaultMfa stringCol
	flags                                      [11]boolCol
	systemPreferred                            stringListCol
	lastUpdated, methodCount, extractedAt      int64Col
}

// NewUserBuilder returns a UserBuilder whose batches mem backs (nil means
// memory.DefaultAllocator) and whose SliceConstants columns consts fills.
func NewUserBuilder(mem memory.Allocator, consts *ConstantColumns) *UserBuilder {
	b := &UserBuilder{}
	cols := []column{2: &b.id, 3: &b.upn, 4: &b.displayName, 6: &b.userType, 18: &b.defaultMfa,
		19: &b.systemPreferred, 20: &b.lastUpdated, 21: &b.methodCount, 22: &b.extractedAt, 23: nil}
	for i := range b.flags {
		cols[7+i] = &b.flags[i]
	}
	b.rowBuilder = newRowBuilder(mem, consts, UserRegistrationDetailsTable, cols)
	return b
}

// Add adds the row but for its SliceConstants columns (Key, Source,
// RunID), which the batch takes from consts.
func (b *UserBuilder) Add(r *UserRow) {
	mem := b.mem
	b.id.put(mem, r.UserID)
	b.upn.put(mem, r.UserPrincipalName)
	b.displayName.putOpt(mem, r.UserDisplayName)
	b.userType.putOpt(mem, r.UserType)
	for i, v := range [...]*bool{r.IsAdmin, r.IsRegistered, r.IsEnabled, r.IsCapable, r.IsMfaRegistered,
		r.IsMfaCapable, r.IsSsprRegistered, r.IsSsprEnabled, r.IsSsprCapable, r.IsPasswordlessCapable,
		r.IsSystemPreferredAuthEnabled} {
		b.flags[i].putOpt(mem, v)
	}
	b.defaultMfa.putOpt(mem, r.DefaultMfaMethod)
	b.systemPreferred.put(mem, r.SystemPreferredMethods)
	if r.LastUpdatedAt == nil {
		b.lastUpdated.putNull(mem)
	} else {
		b.lastUpdated.put(mem, r.LastUpdatedAt.UnixMicro())
	}
	b.methodCount.put(mem, r.AuthMethodCount)
	b.extractedAt.put(mem, r.ExtractedAt.UnixMicro())
	b.rows++
}

// MethodBuilder builds batches of user_auth_methods from MethodRows, as
// UserBuilder does those of users.
type MethodBuilder struct {
	rowBuilder
	id, upn, method, family     stringCol
	forMFA, forSSPR, knownValue boolCol
}

// NewMethodBuilder returns a MethodBuilder, as NewUserBuilder does.
func NewMethodBuilder(mem memory.Allocator, consts *ConstantColumns) *MethodBuilder {
	b := &MethodBuilder{}
	b.rowBuilder = newRowBuilder(mem, consts, UserAuthMethodsTable, []column{2: &b.id, 3: &b.upn, 5: &b.method,
		6: &b.family, 7: &b.forMFA, 8: &b.forSSPR, 9: &b.knownValue, 10: nil})
	return b
}

// Add adds the row but for its SliceConstants columns.
func (b *MethodBuilder) Add(r *MethodRow) {
	mem := b.mem
	b.id.put(mem, r.UserID)
	b.upn.put(mem, r.UserPrincipalName)
	b.method.put(mem, r.AuthMethod)
	b.family.put(mem, string(r.MethodFamily))
	b.forMFA.put(mem, r.UsableForMFA)
	b.forSSPR.put(mem, r.UsableForSSPR)
	b.knownValue.put(mem, r.IsKnownValue)
	b.rows++
}

// column is one column writer of rows_columns.go.
type column interface {
	finish(mem memory.Allocator, dt arrow.DataType) arrow.Array
	release()
}

// rowBuilder is what UserBuilder and MethodBuilder share: the columns of
// their table, by index (nil for the constant ones), and the rows added.
type rowBuilder struct {
	mem    memory.Allocator
	consts *ConstantColumns
	table  *Table
	cols   []column
	rows   int
}

func newRowBuilder(mem memory.Allocator, consts *ConstantColumns, table *Table, cols []column) rowBuilder {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return rowBuilder{mem: mem, consts: consts, table: table, cols: cols}
}

// Len is the rows added since the last batch.
func (b *rowBuilder) Len() int { return b.rows }

// NewRecordBatch returns the rows added since the last batch, with the
// constant columns filled in, and starts the next batch.
func (b *rowBuilder) NewRecordBatch() arrow.RecordBatch {
	schema := b.table.Arrow()
	arrays := make([]arrow.Array, schema.NumFields())
	for i, c := range b.cols {
		if c != nil {
			arrays[i] = c.finish(b.mem, schema.Field(i).Type)
		}
	}
	rows := b.rows
	b.rows = 0
	return b.consts.recordBatch(schema, arrays, rows)
}

// Release frees the rows not yet returned in a batch. The builder stays
// usable.
func (b *rowBuilder) Release() {
	for _, c := range b.cols {
		if c != nil {
			c.release()
		}
	}
	b.rows = 0
}

// checkColumns panics unless cols holds an array of rows rows for every
// column of schema but the constant ones, a programming error.
func checkColumns(schema *arrow.Schema, cols []arrow.Array, rows int) {
	for i, c := range cols {
		name := schema.Field(i).Name
		switch {
		case IsConstantColumn(name) && c != nil:
			panic(fmt.Errorf("schemas: constant column %s given", name))
		case !IsConstantColumn(name) && (c == nil || c.Len() != rows):
			panic(fmt.Errorf("schemas: column %s missing or not of %d rows", name, rows))
		}
	}
}
