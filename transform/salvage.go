package transform

import "github.com/credreg/credreg/internal/odata"

// salvageID reads the id of a record that is not valid JSON, so that its
// reject row still names the user: the string value of the first "id"
// member at the top level, if the record is readable that far, the id is
// a valid JSON string and it passes checkID. Otherwise it returns "".
func salvageID(raw []byte) string {
	c := cursor{b: raw}
	c.space()
	if !c.next('{') {
		return ""
	}
	depth := 1
	for c.i < len(raw) {
		switch raw[c.i] {
		case '"':
			start := c.i
			if !c.skipString() {
				return ""
			}
			if depth != 1 || string(raw[start:c.i]) != `"id"` {
				continue
			}
			c.space()
			if !c.next(':') {
				continue // "id" was a value, not a name
			}
			c.space()
			start = c.i
			if !c.next('"') {
				return ""
			}
			c.i--
			if !c.skipString() {
				return ""
			}
			// An id with a bad escape would come out undecoded, and
			// possibly not UTF-8, which a string column cannot hold.
			if !odata.Valid(raw[start:c.i]) {
				return ""
			}
			id, err := checkID(raw[start:c.i], &strs{raw: raw})
			if err != nil {
				return ""
			}
			return id
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
		c.i++
	}
	return ""
}
