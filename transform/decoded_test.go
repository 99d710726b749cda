package transform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/credreg/credreg/internal/odata"
)

// renderDecoded renders decoded records with their values, not pointers.
func renderDecoded(t *testing.T, ds []Decoded) string {
	var sb strings.Builder
	for _, d := range ds {
		rec, err := json.Marshal(d.Rec)
		if err != nil {
			t.Error(err)
		}
		fmt.Fprintf(&sb, "%d %s %s %v\n", d.Index, d.Raw, rec, d.Err)
	}
	return sb.String()
}

// decodedPage is a page of users with every kind of string a Record
// keeps (ids, names, enums, methods, an escaped name, an unknown field),
// a record that breaks the contract and one that is not JSON.
func decodedPage(t *testing.T) []byte {
	t.Helper()
	var recs []string
	for i := range 6 {
		recs = append(recs, fmt.Sprintf(`{"id":"u%d","userPrincipalName":"u%d@contoso.example","userDisplayName":"User \u00e9 %d",`+
			`"userType":"member","defaultMfaMethod":"microsoftAuthenticatorPush","lastUpdatedDateTime":"2026-11-19T10:00:0%dZ",`+
			`"methodsRegistered":["email","fido2","pigeon%d"],"systemPreferredAuthenticationMethods":["push"],"oddField%d":1}`, i, i, i, i, i, i))
	}
	recs = append(recs, `{"id":"u1","userPrincipalName":"again@contoso.example"}`, `{"id":"x","userPrincipalName":3}`, `{"id":"y",tru}`)
	return []byte(`{"value":[` + strings.Join(recs, ",") + `]}`)
}

// renderAll renders every batch and the Stats.
func renderAll(t *testing.T, tr *Transformer, batches []Batch) string {
	t.Helper()
	var sb strings.Builder
	for _, b := range append(batches, tr.Finish()...) {
		fmt.Fprintf(&sb, "%s:\n", b.Table.Name)
		if err := array.RecordToJSON(b.Record, &sb); err != nil {
			t.Fatal(err)
		}
		b.Record.Release()
	}
	fmt.Fprintf(&sb, "%+v\n", tr.Stats())
	return sb.String()
}

// A page decoded ahead holds no string that points into the page: once
// decoded, the page's bytes may change under every record but the
// rejected ones (whose raw_json is copied when the page is added, here
// from an untouched copy) without changing a row or a count. A replay
// reads the next page into the buffer while the decoded one waits.
func TestDecodedRecordsOutliveThePageBytes(t *testing.T) {
	body := decodedPage(t)
	want := func() string {
		tr := New(Options{Key: testKey, RunID: "r", BatchRows: 4})
		defer tr.Release()
		return renderAll(t, tr, tr.AddShardPage(1, "", testReceived, split(t, string(body[len(`{"value":[`):len(body)-2]))))
	}()

	tr := New(Options{Key: testKey, RunID: "r", BatchRows: 4})
	defer tr.Release()
	page := bytes.Clone(body)
	records := split(t, string(page[len(`{"value":[`):len(page)-2]))
	decoded := tr.Decoder().DecodePage(nil, records)
	for _, r := range records {
		copy(r.Raw, bytes.Repeat([]byte{'#'}, len(r.Raw)))
	}
	// The rejects' and the repeat's raw bytes, as the page still holds
	// them when it is added.
	for i := range decoded {
		if decoded[i].Err != nil || decoded[i].Rec.UserPrincipalName == "again@contoso.example" {
			decoded[i].Raw = rawAt(t, body, decoded[i].Index)
		}
	}
	got := renderAll(t, tr, tr.AddDecodedShardPage(1, "", testReceived, decoded))
	if !strings.Contains(want, "pigeon5") || !strings.Contains(want, "duplicate_id") || !strings.Contains(want, "oddField3") {
		t.Fatalf("the page does not exercise what it should:\n%s", want)
	}
	if got != want {
		t.Errorf("rows decoded from a page overwritten since differ:\n%s\nwant:\n%s", got, want)
	}
}

// rawAt is the raw bytes of record i of a page body.
func rawAt(t *testing.T, body []byte, i int) []byte {
	t.Helper()
	recs := split(t, string(body[len(`{"value":[`):len(body)-2]))
	return recs[i].Raw
}

// One Decoder decodes pages on several goroutines at once (under -race:
// it shares nothing that changes), each page as on the Transformer's own.
func TestDecoderIsSafeAcrossGoroutines(t *testing.T) {
	body := decodedPage(t)
	inner := string(body[len(`{"value":[`) : len(body)-2])
	tr := New(Options{Key: testKey, RunID: "r"})
	defer tr.Release()
	dec := tr.Decoder()
	want := renderDecoded(t, dec.DecodePage(nil, split(t, inner)))
	var wg sync.WaitGroup
	got := make([]string, 4)
	for g := range got {
		wg.Go(func() {
			var dst []Decoded
			for range 50 {
				dst = dec.DecodePage(dst, split(t, inner))
			}
			got[g] = renderDecoded(t, dst)
		})
	}
	wg.Wait()
	for g, s := range got {
		if s != want {
			t.Errorf("goroutine %d decoded\n%s\nwant\n%s", g, s, want)
		}
	}
}

// Stats count the loaded users by true flag column and by method value
// (unknown values also apart), not the rejected or repeated copies: what
// Graph's aggregates are compared with.
func TestStatsCountFlagsAndMethodsOfLoadedUsers(t *testing.T) {
	tr := New(Options{Key: testKey, RunID: "r"})
	defer tr.Release()
	batches := tr.AddShardPage(1, "", testReceived, split(t,
		`{"id":"a","userPrincipalName":"a@x","isAdmin":true,"isMfaRegistered":true,"isMfaCapable":false,"methodsRegistered":["email","pigeon"]}`,
		`{"id":"b","userPrincipalName":"b@x","isAdmin":true,"isMfaCapable":true,"isSsprRegistered":true,"isSsprEnabled":true,"isSsprCapable":true,"isPasswordlessCapable":true,"methodsRegistered":["email","fido2"]}`,
		`{"id":"c","userPrincipalName":"c@x","isMfaCapable":true,"isAdmin":null,"methodsRegistered":["pigeon","email","pigeon"]}`,
		`{"id":"a","userPrincipalName":"again@x","isAdmin":true,"methodsRegistered":["email"]}`,
		`{"id":"d","userPrincipalName":7,"isAdmin":true,"methodsRegistered":["email"]}`))
	for _, b := range append(batches, tr.Finish()...) {
		b.Record.Release()
	}
	s := tr.Stats()
	for _, tc := range []struct {
		name      string
		got, want map[string]int64
	}{
		{"TrueFlags", s.TrueFlags, map[string]int64{"is_admin": 2, "is_mfa_registered": 1, "is_mfa_capable": 2, "is_sspr_registered": 1,
			"is_sspr_enabled": 1, "is_sspr_capable": 1, "is_passwordless_capable": 1}},
		{"MethodUsers", s.MethodUsers, map[string]int64{"email": 3, "pigeon": 2, "fido2": 1}},
		{"UnknownMethods", s.UnknownMethods, map[string]int64{"pigeon": 2}},
	} {
		if fmt.Sprint(tc.got) != fmt.Sprint(tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if s.Methods != 6 {
		t.Errorf("Methods = %d, want 6", s.Methods)
	}
}

// TestDecodedMadeByHandDecidesAsDecodePage checks that a Decoded built
// without DecodePage (no key computed ahead) decides exactly as one
// DecodePage made: the same rows, Stats, Superseded and Winners, on GUID
// ids read in two shards whose lastUpdatedDateTime picks the winner.
func TestDecodedMadeByHandDecidesAsDecodePage(t *testing.T) {
	const g1, g2 = "6f1c2a4e-1234-4abc-8def-000000000001", "0a9b8c7d-1234-4abc-8def-000000000002"
	pages := []struct {
		shard string
		recs  []string
	}{
		{"a", []string{v1User(g1, "one@x", "2026-11-27T01:00:00Z"), v1User(g2, "two@x", "2026-11-27T02:00:00Z"), v1User("u3", "three@x", "")}},
		{"b", []string{v1User(g1, "one@x", "2026-11-27T03:00:00Z"), v1User(g2, "two@x", "2026-11-27T01:00:00Z"), v1User("u3", "three@x", "2026-11-27T01:00:00Z")}},
	}
	run := func(byHand bool) string {
		tr := New(Options{Key: testKey, RunID: "r"})
		defer tr.Release()
		var batches []Batch
		for i, p := range pages {
			decoded := tr.Decoder().DecodePage(nil, split(t, p.recs...))
			if byHand {
				for j, d := range decoded {
					decoded[j] = Decoded{Index: d.Index, Raw: d.Raw, Rec: d.Rec, Err: d.Err}
				}
			}
			batches = append(batches, tr.AddDecodedShardPage(int64(i+1), p.shard, testReceived, decoded)...)
		}
		return fmt.Sprintf("%s superseded %d winners %v", renderAll(t, tr, batches), tr.Superseded(), tr.Winners())
	}
	want := run(false)
	if !strings.Contains(want, "superseded 2 ") {
		t.Fatalf("the pages do not exercise what they should (two later copies win):\n%s", want)
	}
	if got := run(true); got != want {
		t.Errorf("decided by hand:\n%s\nwant:\n%s", got, want)
	}
}

// A Decoded made by hand and reused for the next record (its exported
// fields overwritten, as the doc allows) must be decided as that record:
// nothing of the first one's key may stay in it.
func TestDecodedReusedByHandIsDecidedAfresh(t *testing.T) {
	const g1, g2 = "6f1c2a4e-1234-4abc-8def-000000000001", "0a9b8c7d-1234-4abc-8def-000000000002"
	tr := New(Options{Key: testKey, RunID: "r"})
	defer tr.Release()
	page := make([]Decoded, 1)
	for i, id := range []string{g1, g2} {
		d := tr.Decoder().DecodePage(nil, split(t, v1User(id, id+"@x", "2026-11-27T01:00:00Z")))[0]
		page[0].Index, page[0].Raw, page[0].Rec, page[0].Err = d.Index, d.Raw, d.Rec, d.Err
		for _, b := range tr.AddDecodedShardPage(int64(i+1), "", testReceived, page) {
			b.Record.Release()
		}
	}
	for _, b := range tr.Finish() {
		b.Record.Release()
	}
	if s := tr.Stats(); s.Users != 2 || s.Rejected != 0 {
		t.Errorf("users %d, rejected %d; want 2 users and no reject", s.Users, s.Rejected)
	}
}

// DecodePage guesses each member's name from the one before it (follow),
// learned from the records before: records whose members come in another
// order, with names that share a guessed name's first bytes, with
// unknown members between, or repeated, must decode exactly as each does
// alone.
func TestDecodePageGuessedOrder(t *testing.T) {
	members := []string{
		`"id":"u%d"`, `"userPrincipalName":"u%d@contoso.example"`, `"userDisplayName":"User %d"`,
		`"userType":"member"`, `"isAdmin":true`, `"isMfaRegistered":false`, `"isMfaCapable":true`,
		`"userPreferredMethodForSecondaryAuthentication":"push"`, `"lastUpdatedDateTime":"2026-11-19T10:00:0%dZ"`,
		`"methodsRegistered":["email","fido2"]`, `"systemPreferredAuthenticationMethods":["push"]`,
		// Names that start as known ones do, and a known one's name with
		// a longer tail.
		`"isMfaRegisteredX":1`, `"userTypes":"x"`, `"id2":"z"`, `"userPrincipalNameAndMore":"y"`,
	}
	var recs []string
	for i := range 40 {
		// A different order for each record: rotated, every other one
		// reversed, some members left out or sent twice.
		var ms []string
		for k := range members {
			m := members[(k+i)%len(members)]
			if (k+i)%7 == 3 && i%3 == 0 {
				continue
			}
			if strings.Contains(m, "%d") {
				m = fmt.Sprintf(m, i%10)
			}
			ms = append(ms, m)
		}
		if i%2 == 1 {
			for a, z := 0, len(ms)-1; a < z; a, z = a+1, z-1 {
				ms[a], ms[z] = ms[z], ms[a]
			}
		}
		if i%5 == 4 {
			ms = append(ms, ms[i%len(ms)])
		}
		recs = append(recs, "{"+strings.Join(ms, ",")+"}")
	}
	// The same records again in one order: the guesses are right from
	// the second on.
	for range 3 {
		recs = append(recs, recs[0])
	}
	// Where the guess is userPrincipalName (after the id), a name as long
	// that differs in its last bytes only (alone, or before the real one),
	// or in its first eight only.
	recs = append(recs, `{"id":"w1","userPrincipalNamX":"q"}`, `{"id":"w1","userPrincipalNamX":"q","userPrincipalName":"w1@x"}`,
		`{"id":"w2","xserPrincipalName":"q","userPrincipalName":"w2@x"}`, `{"id":"w3","userPrincipalName":"w3@x"}`)
	page := []byte(`{"value":[` + strings.Join(recs, ",") + `]}`)
	p, err := odata.Split(page)
	if err != nil {
		t.Fatal(err)
	}
	got := New(Options{Key: testKey}).Decoder().DecodePage(nil, p.Records)
	var want []Decoded
	for _, r := range p.Records {
		rec, err := DecodeRecord(v1, r.Raw)
		want = append(want, Decoded{Index: r.Index, Raw: r.Raw, Rec: rec, Err: err})
	}
	if g, w := renderDecoded(t, got), renderDecoded(t, want); g != w {
		t.Errorf("DecodePage and DecodeRecord differ:\n%s", lineDiff(g, w))
	}
}

// lineDiff lists the lines of got that differ from want's.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var sb strings.Builder
	for i := range max(len(g), len(w)) {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			fmt.Fprintf(&sb, "got  %s\nwant %s\n", a, b)
		}
	}
	return sb.String()
}
