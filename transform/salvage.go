package transform

import "github.com/credreg/credreg/internal/odata"

// salvageID reads the id of a record that is not valid JSON, so that its
// reject row still names the user: the string value of the first "id"
// member at the top level, if the record is readable that far, the id is
// a valid JSON string and it passes checkID. Otherwise it returns "".
func salvageID(raw []byte) string {
	c := odata.NewCursor(raw)
	c.Space()
	if !c.Next('{') {
		return ""
	}
	depth := 1
	for c.Pos() < len(raw) {
		switch raw[c.Pos()] {
		case '"':
			start := c.Pos()
			if !c.SkipString() {
				return ""
			}
			if depth != 1 || string(raw[start:c.Pos()]) != `"id"` {
				continue
			}
			c.Space()
			if !c.Next(':') {
				continue // "id" was a value, not a name
			}
			c.Space()
			start = c.Pos()
			if start >= len(raw) || raw[start] != '"' {
				return ""
			}
			if !c.SkipString() {
				return ""
			}
			// An id with a bad escape would come out undecoded, and
			// possibly not UTF-8, which a string column cannot hold.
			if !odata.Valid(raw[start:c.Pos()]) {
				return ""
			}
			id, err := checkID(raw[start:c.Pos()], &strs{raw: raw})
			if err != nil {
				return ""
			}
			return id
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
		c.Seek(c.Pos() + 1)
	}
	return ""
}
