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
	mem    memory.Allocator
	consts *ConstantColumns
	rows   int

	id, upn, displayName, userType, defaultMfa stringCol
	flags                                      [11]boolCol
	systemPreferred                            stringListCol
	lastUpdated, methodCount, extractedAt      int64Col
}

// NewUserBuilder returns a UserBuilder whose batches mem backs (nil means
// memory.DefaultAllocator) and whose SliceConstants columns consts fills.
func NewUserBuilder(mem memory.Allocator, consts *ConstantColumns) *UserBuilder {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return &UserBuilder{mem: mem, consts: consts}
}

// Len is the rows added since the last batch.
func (b *UserBuilder) Len() int { return b.rows }

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

// NewRecordBatch returns the rows added since the last batch, with the
// constant columns filled in, and starts the next batch.
func (b *UserBuilder) NewRecordBatch() arrow.RecordBatch {
	schema := UserRegistrationDetailsTable.Arrow()
	typ := func(i int) arrow.DataType { return schema.Field(i).Type }
	mem := b.mem
	cols := make([]arrow.Array, schema.NumFields())
	cols[2] = b.id.finish(mem, typ(2))
	cols[3] = b.upn.finish(mem, typ(3))
	cols[4] = b.displayName.finish(mem, typ(4))
	cols[6] = b.userType.finish(mem, typ(6))
	for i := range b.flags {
		cols[7+i] = b.flags[i].finish(mem, typ(7+i))
	}
	cols[18] = b.defaultMfa.finish(mem, typ(18))
	cols[19] = b.systemPreferred.finish(mem, typ(19))
	cols[20] = b.lastUpdated.finish(mem, typ(20))
	cols[21] = b.methodCount.finish(mem, typ(21))
	cols[22] = b.extractedAt.finish(mem, typ(22))
	rows := b.rows
	b.rows = 0
	return b.consts.recordBatch(schema, cols, rows)
}

// Release frees the rows not yet returned in a batch. The UserBuilder
// stays usable.
func (b *UserBuilder) Release() {
	for _, c := range []interface{ release() }{&b.id, &b.upn, &b.displayName, &b.userType, &b.defaultMfa,
		&b.systemPreferred, &b.lastUpdated, &b.methodCount, &b.extractedAt} {
		c.release()
	}
	for i := range b.flags {
		b.flags[i].release()
	}
	b.rows = 0
}

// MethodBuilder builds batches of user_auth_methods from MethodRows, as
// UserBuilder does those of users.
type MethodBuilder struct {
	mem    memory.Allocator
	consts *ConstantColumns
	rows   int

	id, upn, method, family     stringCol
	forMFA, forSSPR, knownValue boolCol
}

// NewMethodBuilder returns a MethodBuilder, as NewUserBuilder does.
func NewMethodBuilder(mem memory.Allocator, consts *ConstantColumns) *MethodBuilder {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return &MethodBuilder{mem: mem, consts: consts}
}

// Len is the rows added since the last batch.
func (b *MethodBuilder) Len() int { return b.rows }

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

// NewRecordBatch returns the rows added since the last batch, with the
// constant columns filled in, and starts the next batch.
func (b *MethodBuilder) NewRecordBatch() arrow.RecordBatch {
	schema := UserAuthMethodsTable.Arrow()
	typ := func(i int) arrow.DataType { return schema.Field(i).Type }
	mem := b.mem
	cols := make([]arrow.Array, schema.NumFields())
	cols[2] = b.id.finish(mem, typ(2))
	cols[3] = b.upn.finish(mem, typ(3))
	cols[5] = b.method.finish(mem, typ(5))
	cols[6] = b.family.finish(mem, typ(6))
	cols[7] = b.forMFA.finish(mem, typ(7))
	cols[8] = b.forSSPR.finish(mem, typ(8))
	cols[9] = b.knownValue.finish(mem, typ(9))
	rows := b.rows
	b.rows = 0
	return b.consts.recordBatch(schema, cols, rows)
}

// Release frees the rows not yet returned in a batch. The MethodBuilder
// stays usable.
func (b *MethodBuilder) Release() {
	for _, c := range []interface{ release() }{&b.id, &b.upn, &b.method, &b.family, &b.forMFA, &b.forSSPR,
		&b.knownValue} {
		c.release()
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
