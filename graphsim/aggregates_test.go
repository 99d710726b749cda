package graphsim

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	featurePath = "/v1.0/reports/authenticationMethods/usersRegisteredByFeature"
	methodPath  = "/v1.0/reports/authenticationMethods/usersRegisteredByMethod"
)

// summary is either aggregate as the test reads it.
type summary struct {
	Context        string `json:"@odata.context"`
	TotalUserCount int64
	Features       []struct {
		Feature   string
		UserCount int64
	} `json:"userRegistrationFeatureCounts"`
	Methods []struct {
		AuthenticationMethod string
		UserCount            int64
	} `json:"userRegistrationMethodCounts"`
	UserRoles, UserTypes string
}

// counts are an aggregate's numbers: total users, then by feature or method name.
type counts struct {
	total  int64
	byName map[string]int64
}

func (s summary) counts() counts {
	c := counts{total: s.TotalUserCount, byName: map[string]int64{}}
	for _, f := range s.Features {
		c.byName[f.Feature] = f.UserCount
	}
	for _, m := range s.Methods {
		c.byName[m.AuthenticationMethod] = m.UserCount
	}
	return c
}

// wantCounts computes what an aggregate should say about users, from
// their methods by graphsim's own table (vocabulary), not the report's
// flags and not the schemas catalog. ssprEnabled is policy, not methods,
// so it is the user's flag.
func wantCounts(users []User, function, types, roles string) counts {
	c := counts{byName: map[string]int64{}}
	if function == methodFunction {
		for i := range vocabulary {
			c.byName[vocabulary[i].value] = 0
		}
	} else {
		for _, f := range []string{"ssprRegistered", "ssprEnabled", "ssprCapable", "passwordlessCapable", "mfaCapable"} {
			c.byName[f] = 0
		}
	}
	for _, u := range users {
		if types != "all" && u.UserType != types {
			continue
		}
		if (roles == "admin" && !u.IsAdmin) || (roles == "user" && u.IsAdmin) ||
			(roles == "privilegedAdmin" && !(u.IsAdmin && u.PrivilegedAdmin())) {
			continue
		}
		c.total++
		var mfa, sspr, pl bool
		for _, m := range u.MethodsRegistered {
			e := vocabulary[vocabIndex(m)]
			mfa, sspr, pl = mfa || e.mfa, sspr || e.sspr, pl || e.passwordless
			if function == methodFunction {
				c.byName[m]++
			}
		}
		if function == featureFunction {
			for name, on := range map[string]bool{"ssprRegistered": sspr, "ssprEnabled": u.IsSsprEnabled,
				"ssprCapable": sspr && u.IsSsprEnabled, "passwordlessCapable": pl, "mfaCapable": mfa} {
				if on {
					c.byName[name]++
				}
			}
		}
	}
	return c
}

func aggregateURL(s *Server, function, types, roles string) string {
	return fmt.Sprintf("%s/v1.0/reports/authenticationMethods/%s(includedUserTypes='%s',includedUserRoles='%s')",
		s.URL(), function, types, roles)
}

// getSummary fetches an aggregate and checks its shape.
func getSummary(t *testing.T, s *Server, tok, url string) summary {
	t.Helper()
	r := get(t, s, tok, url)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", url, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	var sum summary
	if err := json.Unmarshal(r.body, &sum); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return sum
}

// TestAggregatesCountUsers: both aggregates, for every documented
// includedUserTypes × includedUserRoles, say what the test counts from
// Users with graphsim's own table, in Graph's shape: context first, the
// parameters echoed, every feature and every method listed (0 included),
// methods sorted by name.
func TestAggregatesCountUsers(t *testing.T) {
	s := newServer(t, Options{})
	tok := accessToken(t, s, DefaultTenantID)
	users := s.Users(DefaultTenantID, testDay)
	var privileged, admins int
	for _, u := range users {
		if u.IsAdmin {
			admins++
		}
		if u.PrivilegedAdmin() {
			privileged++
		}
	}
	if privileged == 0 || privileged == admins {
		t.Fatalf("%d privileged admins of %d: want a proper, non-empty subset", privileged, admins)
	}
	for _, fn := range []string{featureFunction, methodFunction} {
		for _, types := range userTypeValues() {
			for _, roles := range userRoleValues() {
				t.Run(fn+"/"+types+"/"+roles, func(t *testing.T) {
					sum := getSummary(t, s, tok, aggregateURL(s, fn, types, roles))
					want := wantCounts(users, fn, types, roles)
					if got := sum.counts(); !reflect.DeepEqual(got, want) {
						t.Errorf("counts %+v\nwant %+v", got, want)
					}
					if want.total == 0 && types == "all" {
						t.Errorf("no users counted")
					}
					if sum.UserRoles != roles || sum.UserTypes != types {
						t.Errorf("userRoles %q userTypes %q, want %q %q", sum.UserRoles, sum.UserTypes, roles, types)
					}
					ctx := "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.userRegistrationFeatureSummary"
					if fn == methodFunction {
						ctx = "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.userRegistrationMethodSummary"
						for i := 1; i < len(sum.Methods); i++ {
							if sum.Methods[i-1].AuthenticationMethod >= sum.Methods[i].AuthenticationMethod {
								t.Errorf("methods not sorted by name: %+v", sum.Methods)
							}
						}
					}
					if sum.Context != ctx {
						t.Errorf("@odata.context %q, want %q", sum.Context, ctx)
					}
				})
			}
		}
	}
	// Graph's property order, context first.
	r := get(t, s, tok, aggregateURL(s, featureFunction, "all", "all"))
	if want := `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.userRegistrationFeatureSummary","totalUserCount":`; !strings.HasPrefix(string(r.body), want) {
		t.Errorf("body %s\nwant it to start %s", r.body, want)
	}
	if !strings.HasSuffix(string(r.body), `],"userRoles":"all","userTypes":"all"}`) {
		t.Errorf("body %s: want the counts, then userRoles and userTypes", r.body)
	}
	if st := s.Stats(); st.Aggregates != int64(2*len(userTypeValues())*len(userRoleValues())+1) || st.Pages != 0 {
		t.Errorf("stats %+v: want every aggregate request counted, no page", st)
	}
}

// TestAggregateParameters: the parameters are required, single-quoted
// (also as %27), documented values only, in either order; other names
// under authenticationMethods and the beta report have no aggregates.
func TestAggregateParameters(t *testing.T) {
	s := newServer(t, Options{})
	tok := accessToken(t, s, DefaultTenantID)
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{featurePath + "(includedUserTypes='all',includedUserRoles='all')", 200, ""},
		{methodPath + "(includedUserRoles='admin',includedUserTypes='guest')", 200, ""},
		{featurePath + "(includedUserTypes=%27member%27,includedUserRoles=%27privilegedAdmin%27)", 200, ""},
		{featurePath, 400, "badRequest"},
		{featurePath + "()", 400, "badRequest"},
		{featurePath + "(includedUserTypes='all')", 400, "badRequest"},
		{methodPath + "(includedUserRoles='all')", 400, "badRequest"},
		{featurePath + "(includedUserTypes='all',includedUserRoles='owner')", 400, "badRequest"},
		{featurePath + "(includedUserTypes='everyone',includedUserRoles='all')", 400, "badRequest"},
		{featurePath + "(includedUserTypes=all,includedUserRoles='all')", 400, "badRequest"},
		{featurePath + "(includedUserTypes='All',includedUserRoles='all')", 400, "badRequest"},
		{featurePath + "(includedUserTypes='all',includedUserRoles='all',includedUserRoles='all')", 400, "badRequest"},
		{featurePath + "(includedUserTypes='all',includedUserRoles='all',top='1')", 400, "badRequest"},
		{featurePath + "(includedUserTypes='all',includedUserRoles='all'", 400, "badRequest"},
		{"/v1.0/reports/authenticationMethods/usersRegisteredByRole(includedUserTypes='all',includedUserRoles='all')", 404, "Request_ResourceNotFound"},
		{"/beta/reports/authenticationMethods/usersRegisteredByFeature(includedUserTypes='all',includedUserRoles='all')", 404, "Request_ResourceNotFound"},
	} {
		t.Run(c.path, func(t *testing.T) {
			r := get(t, s, tok, s.URL()+c.path)
			if c.status == 200 {
				if r.status != 200 {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				return
			}
			msg := wantError(t, r, c.status, c.code)
			if c.status == 400 && !strings.Contains(msg, "include") && !strings.Contains(msg, "parameter") {
				t.Errorf("message %q names no parameter", msg)
			}
		})
	}
}

// TestAggregatesThrottledLikePages: aggregate requests share the tenant's
// 5-per-window limit with pages, tick the churn clock, and meet the
// license check and faults.
func TestAggregatesThrottledLikePages(t *testing.T) {
	s := newServer(t, Options{Limits: Limits{PerTenant: 5, PerTenantWindow: time.Minute}})
	tok := accessToken(t, s, DefaultTenantID)
	feature := aggregateURL(s, featureFunction, "all", "all")
	for i, url := range []string{s.URL() + v1Path, feature, s.URL() + v1Path, aggregateURL(s, methodFunction, "all", "all"), feature} {
		if r := get(t, s, tok, url); r.status != http.StatusOK {
			t.Fatalf("request %d: status %d: %s", i+1, r.status, r.body)
		}
	}
	wantError(t, get(t, s, tok, feature), http.StatusTooManyRequests, "TooManyRequests")
	wantError(t, get(t, s, tok, s.URL()+v1Path), http.StatusTooManyRequests, "TooManyRequests")
	if st, tick := s.Stats(), s.Tick(DefaultTenantID); st.Aggregates != 4 || st.Throttled != 2 || tick != 7 {
		t.Errorf("stats %+v, tick %d: want 4 aggregates, 2 throttled, tick 7", st, tick)
	}

	s2 := newServer(t, Options{Tenants: []Tenant{{ID: DefaultTenantID, Users: 50, NonPremium: true}}})
	tok2 := accessToken(t, s2, DefaultTenantID)
	wantError(t, get(t, s2, tok2, aggregateURL(s2, methodFunction, "all", "all")), http.StatusForbidden,
		"Authentication_RequestFromNonPremiumTenantOrB2CTenant")
	s.SetFaults(Faults{Unauthorized: 1})
	wantError(t, get(t, s, tok, feature), http.StatusUnauthorized, "InvalidAuthenticationToken")
	wantError(t, get(t, s, "", feature), http.StatusUnauthorized, "InvalidAuthenticationToken")
}

// TestAggregateLag: with churn on, an aggregate counts the users as Truth
// has them at its own tick less AggregateLag (never before the day's
// first request); lag 0 is the current state. Lagging must make a
// difference at some tick, or the test would prove nothing.
func TestAggregateLag(t *testing.T) {
	for _, lag := range []int{0, 3, 100} {
		t.Run(fmt.Sprint("lag ", lag), func(t *testing.T) {
			s := newServer(t, Options{
				Tenants:      []Tenant{{ID: DefaultTenantID, Users: 600}},
				Churn:        Churn{Rate: 0.2, Created: 0.05, Deleted: 0.05, Requests: 10},
				AggregateLag: lag,
			})
			tok := accessToken(t, s, DefaultTenantID)
			differs := false
			for i := range 16 {
				fn := []string{featureFunction, methodFunction}[i%2]
				sum := getSummary(t, s, tok, aggregateURL(s, fn, "all", "all"))
				tick := s.Tick(DefaultTenantID)
				state := func(k int64) []User {
					var us []User
					for _, tu := range s.Truth(DefaultTenantID, testDay, k, k) {
						us = append(us, tu.States[0])
					}
					return us
				}
				want := wantCounts(state(max(tick-int64(lag), 1)), fn, "all", "all")
				if got := sum.counts(); !reflect.DeepEqual(got, want) {
					t.Fatalf("tick %d: counts %+v\nwant %+v", tick, got, want)
				}
				if now := wantCounts(state(tick), fn, "all", "all"); now.total != want.total || !maps.Equal(now.byName, want.byName) {
					differs = true
				}
			}
			if differs != (lag > 0) {
				t.Errorf("lagged counts differ from the current ones: %v; want %v", differs, lag > 0)
			}
		})
	}
}
