package extract

import (
	"encoding/json"
	"testing"
)

// FuzzParseAggregate: a summary body is outside input. ParseAggregate
// never panics, and what it accepts agrees with encoding/json read into a
// plain map: the same total, and per name the sum of the counts listed.
func FuzzParseAggregate(f *testing.F) {
	f.Add(true, []byte(`{"totalUserCount":3,"userRegistrationFeatureCounts":[{"feature":"mfaCapable","userCount":2}]}`))
	f.Add(false, []byte(`{"totalUserCount":3,"userRegistrationMethodCounts":[{"authenticationMethod":"email","userCount":1},{"authenticationMethod":"email","userCount":1}]}`))
	f.Add(true, []byte(`{"userRegistrationFeatureCounts":[]}`))
	f.Add(false, []byte(`{"totalUserCount":"3"}`))
	f.Add(true, []byte(`[]`))
	f.Add(true, []byte(`{"totalUserCount":null}`))
	f.Add(false, []byte(`{"TotalUserCount":1}`))
	f.Fuzz(func(t *testing.T, feature bool, body []byte) {
		kind, list, name := UsersRegisteredByMethod, "userRegistrationMethodCounts", "authenticationMethod"
		if feature {
			kind, list, name = UsersRegisteredByFeature, "userRegistrationFeatureCounts", "feature"
		}
		a, err := ParseAggregate(kind, body)
		if err != nil {
			return
		}
		var doc map[string]any
		if json.Unmarshal(body, &doc) != nil {
			t.Fatalf("accepted %q, which is not a JSON object", body)
		}
		total, ok := doc["totalUserCount"].(float64)
		if !ok || int64(total) != a.TotalUserCount {
			t.Fatalf("total %d, encoding/json reads %v", a.TotalUserCount, doc["totalUserCount"])
		}
		want := map[string]int64{}
		entries, _ := doc[list].([]any)
		for _, e := range entries {
			m, _ := e.(map[string]any)
			n, _ := m["userCount"].(float64)
			s, _ := m[name].(string)
			want[s] += int64(n)
		}
		for k, v := range want {
			if a.Counts[k] != v {
				t.Fatalf("%s = %d, encoding/json sums %d", k, a.Counts[k], v)
			}
		}
		if a.Kind != kind || a.Counts == nil {
			t.Fatalf("aggregate %+v", a)
		}
	})
}
