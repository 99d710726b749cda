package graphsim

import (
	"fmt"
	"strings"
)

// predicate selects the users a $filter keeps.
type predicate func(*User) bool

// filterError is a $filter the simulator (like Graph) does not support. It
// names the offending part.
type filterError struct{ msg string }

func (e *filterError) Error() string { return e.msg }

// parseFilter compiles the $filter forms the report documents:
//
//	prop eq 'text'                  (string properties, case-insensitive)
//	startswith(prop,'text')         (userPrincipalName, userDisplayName)
//	prop eq true|false              (boolean properties)
//	coll/any(x:x eq 'value')        (methodsRegistered; authMethods also
//	                                 with microsoft.graph.registrationAuthMethod'value')
//
// combined with "and" and optionally parenthesized. Keywords, property names
// and string comparisons are case-insensitive.
func parseFilter(rep *report, src string) (predicate, error) {
	toks, err := lexFilter(src)
	if err != nil {
		return nil, err
	}
	p := &filterParser{src: src, toks: toks, rep: rep}
	pred, err := p.conjunction()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		if t.isWord("or") {
			return nil, p.errorf(t.pos, len(src), "the 'or' operator is not supported; send one request per alternative")
		}
		return nil, p.errorf(t.pos, len(src), "unexpected %q", t.text)
	}
	return pred, nil
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokString
	tokPunct
)

type token struct {
	kind     tokKind
	text     string // for tokString, the unescaped value
	pos, end int    // the token's bytes in the source
}

func (t token) isWord(w string) bool { return t.kind == tokWord && strings.EqualFold(t.text, w) }
func (t token) is(p string) bool     { return t.kind == tokPunct && t.text == p }

func lexFilter(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for ; ; j++ {
				if j >= len(s) {
					return nil, &filterError{fmt.Sprintf("Invalid filter clause: the string starting at position %d is not closed with a quote.", i)}
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' { // '' is an escaped quote
						b.WriteByte('\'')
						j++
						continue
					}
					break
				}
				b.WriteByte(s[j])
			}
			toks = append(toks, token{tokString, b.String(), i, j + 1})
			i = j + 1
		case isWordByte(c) && !(c >= '0' && c <= '9'):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, token{tokWord, s[i:j], i, j})
			i = j
		case strings.IndexByte("(),:/", c) >= 0:
			toks = append(toks, token{tokPunct, string(c), i, i + 1})
			i++
		default:
			return nil, &filterError{fmt.Sprintf("Invalid filter clause: unexpected %q at position %d.", c, i)}
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(s), end: len(s)}), nil
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.'
}

type filterParser struct {
	src  string
	toks []token
	i    int
	rep  *report
}

func (p *filterParser) peek() token { return p.toks[p.i] }

func (p *filterParser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

// errorf reports the clause src[from:to] as unsupported.
func (p *filterParser) errorf(from, to int, format string, args ...any) error {
	to = min(max(to, from), len(p.src))
	return &filterError{fmt.Sprintf("Unsupported or invalid query filter clause '%s' for resource '%s': %s.",
		strings.TrimSpace(p.src[from:to]), p.rep.resource, fmt.Sprintf(format, args...))}
}

func (p *filterParser) expect(start int, want string) error {
	if t := p.next(); !t.is(want) {
		return p.errorf(start, t.end, "expected %q", want)
	}
	return nil
}

func (p *filterParser) conjunction() (predicate, error) {
	var preds []predicate
	for {
		pred, err := p.clause()
		if err != nil {
			return nil, err
		}
		preds = append(preds, pred)
		if !p.peek().isWord("and") {
			break
		}
		p.next()
	}
	if len(preds) == 1 {
		return preds[0], nil
	}
	return func(u *User) bool {
		for _, pr := range preds {
			if !pr(u) {
				return false
			}
		}
		return true
	}, nil
}

func (p *filterParser) clause() (predicate, error) {
	t := p.next()
	switch {
	case t.is("("):
		pred, err := p.conjunction()
		if err != nil {
			return nil, err
		}
		return pred, p.expect(t.pos, ")")
	case t.kind != tokWord:
		return nil, p.errorf(t.pos, len(p.src), "expected a property or startswith(...)")
	case t.isWord("not"):
		return nil, p.errorf(t.pos, len(p.src), "the 'not' operator is not supported")
	case p.peek().is("("):
		if !t.isWord("startswith") {
			return nil, p.errorf(t.pos, len(p.src), "function '%s' is not supported (only startswith)", t.text)
		}
		return p.startsWith(t.pos)
	}
	f, ok := p.rep.fields[strings.ToLower(t.text)]
	if !ok {
		return nil, p.errorf(t.pos, len(p.src), "property '%s' does not exist or does not support $filter", t.text)
	}
	if p.peek().is("/") {
		return p.any(t.pos, f)
	}
	op := p.next()
	if !op.isWord("eq") {
		return nil, p.errorf(t.pos, op.end, "operator '%s' is not supported on '%s' (only eq)", op.text, f.name)
	}
	v := p.next()
	end := v.end
	switch {
	case f.flag != nil && (v.isWord("true") || v.isWord("false")):
		want, flag := v.isWord("true"), f.flag
		return func(u *User) bool { return flag(u) == want }, nil
	case f.flag != nil:
		return nil, p.errorf(t.pos, end, "'%s' is a boolean and compares only with true or false", f.name)
	case f.str != nil && v.kind == tokString:
		want, str := v.text, f.str
		return func(u *User) bool { return strings.EqualFold(str(u), want) }, nil
	case f.str != nil:
		return nil, p.errorf(t.pos, end, "'%s' is a string and compares only with a quoted string", f.name)
	}
	return nil, p.errorf(t.pos, end, "'%s' is a collection; filter it with %s/any(x:x eq 'value')", f.name, f.name)
}

func (p *filterParser) startsWith(start int) (predicate, error) {
	if err := p.expect(start, "("); err != nil {
		return nil, err
	}
	prop := p.next()
	f, ok := p.rep.fields[strings.ToLower(prop.text)]
	if prop.kind != tokWord || !ok || !f.startsWith {
		return nil, p.errorf(start, prop.end, "startswith is supported on userPrincipalName and userDisplayName only")
	}
	if err := p.expect(start, ","); err != nil {
		return nil, err
	}
	v := p.next()
	if v.kind != tokString {
		return nil, p.errorf(start, v.end, "startswith needs a quoted string")
	}
	if err := p.expect(start, ")"); err != nil {
		return nil, err
	}
	prefix, str := strings.ToLower(v.text), f.str
	return func(u *User) bool { return strings.HasPrefix(strings.ToLower(str(u)), prefix) }, nil
}

// any parses "/any(x:x eq value)" after a collection property.
func (p *filterParser) any(start int, f fieldSpec) (predicate, error) {
	p.next() // "/"
	fail := func() (predicate, error) {
		return nil, p.errorf(start, p.peek().pos, "expected %s/any(x:x eq 'value')", f.name)
	}
	if f.coll == nil || !p.next().isWord("any") || !p.next().is("(") {
		return fail()
	}
	v1, colon, v2, eq := p.next(), p.next(), p.next(), p.next()
	if v1.kind != tokWord || !colon.is(":") || !v2.isWord(v1.text) || !eq.isWord("eq") {
		return fail()
	}
	// An enum collection also accepts the typed literal Type'value'.
	if t := p.peek(); t.kind == tokWord && f.enumType != "" && strings.EqualFold(t.text, f.enumType) {
		p.next()
	}
	val := p.next()
	if val.kind != tokString || !p.next().is(")") {
		return fail()
	}
	want, coll := val.text, f.coll
	return func(u *User) bool {
		for _, m := range coll(u) {
			if strings.EqualFold(m, want) {
				return true
			}
		}
		return false
	}, nil
}
