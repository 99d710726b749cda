package odata

// ElementSplitter is Split's tolerant rule for the elements of a value
// array, a byte at a time: strings are skipped (a backslash escapes the
// byte after it), brackets of either kind counted, a '}' with nothing open
// ignored (it stays in the element, which then fails its own check), and
// a ',' or ']' with nothing open ends the element. Split's scanner splits
// with it, and so does a reader that streams a file too large to hold
// (extract's import of saved exports), so that both cut the same records.
type ElementSplitter struct {
	depth    int
	inString bool
	escaped  bool
}

// SplitEvent is what a byte did to the element being split.
type SplitEvent int

const (
	SplitNone  SplitEvent = iota
	SplitComma            // ',' outside strings and brackets: the element ends
	SplitClose            // ']' outside strings and brackets: the array ends
)

// Step takes the next byte.
func (s *ElementSplitter) Step(c byte) SplitEvent {
	if s.inString {
		switch {
		case s.escaped:
			s.escaped = false
		case c == '\\':
			s.escaped = true
		case c == '"':
			s.inString = false
		}
		return SplitNone
	}
	switch c {
	case '"':
		s.inString = true
	case '{', '[':
		s.depth++
	case '}':
		if s.depth > 0 {
			s.depth--
		}
	case ']':
		if s.depth == 0 {
			return SplitClose
		}
		s.depth--
	case ',':
		if s.depth == 0 {
			return SplitComma
		}
	}
	return SplitNone
}

// Depth is the number of brackets open.
func (s *ElementSplitter) Depth() int { return s.depth }

// InString reports that the bytes so far end inside a string.
func (s *ElementSplitter) InString() bool { return s.inString }
