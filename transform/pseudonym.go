package transform

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/credreg/credreg/internal/odata"
)

// Pseudonymization replaces the names of the tables an analyst reads —
// user_principal_name and user_display_name — with a keyed HMAC-SHA256 of
// them, the same value every day for the same name and key, so snapshots
// of different days still join on it. It is keyed, not a plain hash,
// because names are guessable: anyone could hash "first.last@contoso.com"
// and look it up. Whoever holds the key can do the same, so the key is a
// secret; the raw zone keeps the real names regardless (it is the system
// of record), and user_id, the directory's object id, stays as it is.

// MinPseudonymKeyBytes is the shortest key NewPseudonymizer accepts: the
// 256 bits of HMAC-SHA256's own output, so the key is never the weak part.
const MinPseudonymKeyBytes = 32

// PseudonymPrefix starts every pseudonym, so a reader can tell one from a
// name.
const PseudonymPrefix = "hmac:"

// ErrShortPseudonymKey: the key is shorter than MinPseudonymKeyBytes.
var ErrShortPseudonymKey = fmt.Errorf("a pseudonymization key needs at least %d bytes", MinPseudonymKeyBytes)

// fingerprintLabel is what a key's fingerprint is the HMAC of: a constant
// no name can equal (the names are HMAC'd under their own labels).
const fingerprintLabel = "credreg key fingerprint"

// The labels put each kind of name in its own domain: a display name
// that reads like a UPN gets another pseudonym than that UPN.
const (
	upnLabel         = "user_principal_name\x00"
	displayNameLabel = "user_display_name\x00"
)

// Pseudonymizer turns names into pseudonyms under one key. It is safe for
// concurrent use.
type Pseudonymizer struct {
	key []byte
	// macs holds keyed HMACs to reuse: keying one costs two block hashes.
	macs sync.Pool
}

// NewPseudonymizer returns a Pseudonymizer for key, which it copies. A
// key shorter than MinPseudonymKeyBytes is refused with
// ErrShortPseudonymKey; the error never holds the key.
func NewPseudonymizer(key []byte) (*Pseudonymizer, error) {
	if len(key) < MinPseudonymKeyBytes {
		return nil, fmt.Errorf("%w (got %d)", ErrShortPseudonymKey, len(key))
	}
	p := &Pseudonymizer{key: append([]byte(nil), key...)}
	p.macs.New = func() any { return hmac.New(sha256.New, p.key) }
	return p, nil
}

// sum is the first 16 bytes of HMAC(key, label+s), in hex.
func (p *Pseudonymizer) sum(label, s string) string {
	mac := p.macs.Get().(hash.Hash)
	mac.Reset()
	mac.Write([]byte(label))
	mac.Write([]byte(s))
	var buf [sha256.Size]byte
	out := hex.EncodeToString(mac.Sum(buf[:0])[:16])
	p.macs.Put(mac)
	return out
}

// UPN is the pseudonym of a user principal name: "hmac:" and 32 hex
// digits. UPNs are case-insensitive, so the name is lower-cased first.
func (p *Pseudonymizer) UPN(upn string) string {
	return PseudonymPrefix + p.sum(upnLabel, strings.ToLower(upn))
}

// DisplayName is the pseudonym of a display name, as sent (case kept:
// two people may differ in nothing else).
func (p *Pseudonymizer) DisplayName(name string) string {
	return PseudonymPrefix + p.sum(displayNameLabel, name)
}

// Fingerprint names the key without revealing it: 16 hex digits of the
// HMAC of a constant. Manifests record it, so a run with another key on
// the same warehouse can be told apart.
func (p *Pseudonymizer) Fingerprint() string {
	return p.sum(fingerprintLabel, "")[:16]
}

// record replaces the names of a decoded record by their pseudonyms.
func (p *Pseudonymizer) record(rec *Record) {
	rec.UserPrincipalName = p.UPN(rec.UserPrincipalName)
	if rec.UserDisplayName != nil {
		name := p.DisplayName(*rec.UserDisplayName)
		rec.UserDisplayName = &name
	}
}

// errNotRewritable: a record the rewrite cannot read, so it cannot say
// which of its strings are names.
var errNotRewritable = errors.New("not rewritable")

// rejectJSON is a rejected record's raw_json in a pseudonymized table:
// the record with the value of every userPrincipalName and userDisplayName
// member (at any depth, a string or not), and any other string equal to
// one of those names, replaced by its pseudonym. Everything else stays, as
// compact JSON. A record that is not valid JSON cannot be read reliably
// (a broken quote turns names into keys), nor can a bare string or an
// array be told apart from a name: those are withheld, ok false.
func (p *Pseudonymizer) rejectJSON(raw []byte) (out []byte, ok bool) {
	if !odata.Valid(raw) {
		return nil, false
	}
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case '{':
	case '"', '[':
		return nil, false
	default:
		return raw, true // null, a number or a boolean: no name
	}
	names := map[string]string{}
	if p.collectNames(raw, names) != nil {
		return nil, false
	}
	var b strings.Builder
	if p.rewrite(&b, raw, names, "") != nil {
		return nil, false
	}
	return []byte(b.String()), true
}

// nameField says which name a member holds: "upn", "name" or "".
func nameField(nameTok []byte) string {
	switch unquote(nameTok) {
	case "userPrincipalName":
		return "upn"
	case "userDisplayName":
		return "name"
	}
	return ""
}

// pseudonym is the pseudonym of value, a JSON value of a name member:
// the string it holds, or the value's JSON text when it is no string.
func (p *Pseudonymizer) pseudonym(kind string, value []byte) string {
	s := string(value)
	if len(value) > 0 && value[0] == '"' {
		s = unquote(value)
	}
	if kind == "upn" {
		return p.UPN(s)
	}
	return p.DisplayName(s)
}

// collectNames maps every string a name member holds (UPNs lower-cased)
// to its pseudonym.
func (p *Pseudonymizer) collectNames(v []byte, names map[string]string) error {
	if len(v) == 0 || (v[0] != '{' && v[0] != '[') {
		return nil
	}
	it := odata.NewContainer(v)
	for {
		var name, value []byte
		var ok bool
		if v[0] == '{' {
			name, value, ok = it.Member()
		} else {
			value, ok = it.Element()
		}
		if !ok {
			break
		}
		kind := ""
		if name != nil {
			kind = nameField(name)
		}
		if kind != "" && len(value) > 0 && value[0] == '"' {
			s := unquote(value)
			if kind == "upn" {
				s = strings.ToLower(s)
			}
			names[s] = p.pseudonym(kind, value)
			continue
		}
		if err := p.collectNames(value, names); err != nil {
			return err
		}
	}
	if it.Bad() {
		return errNotRewritable
	}
	return nil
}

// rewrite writes v with the names replaced; kind is the name member v is
// the value of, or "".
func (p *Pseudonymizer) rewrite(b *strings.Builder, v []byte, names map[string]string, kind string) error {
	switch {
	case kind != "" && string(v) != "null":
		b.WriteString(`"` + p.pseudonym(kind, v) + `"`)
		return nil
	case len(v) > 0 && v[0] == '"':
		s := unquote(v)
		if ps, ok := names[s]; ok {
			b.WriteString(`"` + ps + `"`)
		} else if ps, ok := names[strings.ToLower(s)]; ok && strings.Contains(s, "@") {
			b.WriteString(`"` + ps + `"`)
		} else {
			b.Write(v)
		}
		return nil
	case len(v) == 0 || (v[0] != '{' && v[0] != '['):
		b.Write(v)
		return nil
	}
	obj := v[0] == '{'
	b.WriteByte(v[0])
	it := odata.NewContainer(v)
	for i := 0; ; i++ {
		var name, value []byte
		var ok bool
		if obj {
			name, value, ok = it.Member()
		} else {
			value, ok = it.Element()
		}
		if !ok {
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		inner := ""
		if obj {
			b.Write(name)
			b.WriteByte(':')
			inner = nameField(name)
		}
		if err := p.rewrite(b, value, names, inner); err != nil {
			return err
		}
	}
	if it.Bad() {
		return errNotRewritable
	}
	if obj {
		b.WriteByte('}')
	} else {
		b.WriteByte(']')
	}
	return nil
}

// withheldNote tells, in reason_detail, why raw_json is empty.
const withheldNote = "; raw_json: withheld, since names are pseudonymized and this record is not a JSON object " +
	"whose names can be found (the raw zone has it)"

// rejectRaw is a reject's raw_json and its note for reason_detail in a
// pseudonymized table (see rejectJSON and rawJSON).
func (p *Pseudonymizer) rejectRaw(raw []byte) (s, note string) {
	out, ok := p.rejectJSON(raw)
	if !ok {
		return "", withheldNote
	}
	return rawJSON(out)
}
