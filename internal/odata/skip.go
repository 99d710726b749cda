package odata

import "bytes"

// StringEnd returns the index just past the JSON string whose opening
// quote is at b[i]. ok is false when b ends before the string closes.
func StringEnd(b []byte, i int) (end int, ok bool) {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b), false
		}
		j += k
		backslashes := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			backslashes++
		}
		j++
		if backslashes%2 == 0 {
			return j, true
		}
	}
}

// ValueEnd returns the index just past the JSON value that starts at b[i]:
// a string; a container, up to the bracket that brings the depth back to
// zero (whatever its kind, so junk inside stays inside); or a scalar, up to
// the next delimiter or the end of b (possibly empty). ok is false when b
// ends inside a string or a container. It does not validate: callers that
// need valid JSON check the span.
func ValueEnd(b []byte, i int) (end int, ok bool) {
	switch b[i] {
	case '"':
		return StringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i, ok = StringEnd(b, i); !ok {
					return len(b), false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return len(b), false
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i, true
		}
		i++
	}
	return i, true
}
