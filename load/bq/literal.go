package bq

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/credreg/credreg/schemas"
)

// The swap transaction carries its values as SQL literals, not query
// parameters: the emulator the tests run against hands every parameter to
// every statement of a script, and refuses statements that use none. The
// literals are built here only, from typed values, so nothing a value holds
// can end its literal.

// stringLiteral quotes s as a GoogleSQL string literal. Printable ASCII
// other than ' and \ stands for itself; everything else is a \u or \U
// escape, so the literal is plain ASCII whatever s holds.
func stringLiteral(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\'' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

func dateLiteral(key schemas.Key) string { return "DATE '" + key.DateString() + "'" }

func timestampLiteral(t *time.Time) string {
	if t == nil {
		return "NULL"
	}
	return "TIMESTAMP '" + t.UTC().Format("2006-01-02 15:04:05.000000") + "+00'"
}

func nullableString(s *string) string {
	if s == nil {
		return "NULL"
	}
	return stringLiteral(*s)
}

func intLiteral(n int64) string { return strconv.FormatInt(n, 10) }
