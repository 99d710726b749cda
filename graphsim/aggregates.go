package graphsim

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
)

// aggregatesPath is where Graph's two tenant-wide aggregates of the v1.0
// report live, as functions: usersRegisteredByFeature(…) and
// usersRegisteredByMethod(…) are the last segment.
const aggregatesPath = "/v1.0/reports/authenticationMethods/"

const (
	featureFunction = "usersRegisteredByFeature"
	methodFunction  = "usersRegisteredByMethod"
)

// The documented values of the functions' parameters, in the order the
// error messages list them.
func userTypeValues() []string { return []string{"all", "member", "guest"} }

func userRoleValues() []string { return []string{"all", "privilegedAdmin", "admin", "user"} }

// aggregateCall is a parsed aggregate request: which function, for which users.
type aggregateCall struct {
	function         string
	userTypes, roles string
}

// isAggregateFunction reports whether the path segment calls one of the
// two functions, however well; anything else under authenticationMethods
// is a resource graphsim does not serve.
func isAggregateFunction(seg string) bool {
	name, _, _ := strings.Cut(seg, "(")
	return name == featureFunction || name == methodFunction
}

// parseAggregateCall reads "name(includedUserTypes='…',includedUserRoles='…')"
// (unescaped: %27 has become ' already). Both parameters are required, once
// each, single-quoted, with a documented value; anything else is a 400.
func parseAggregateCall(seg string) (aggregateCall, error) {
	name, rest, ok := strings.Cut(seg, "(")
	c := aggregateCall{function: name}
	args, closed := strings.CutSuffix(rest, ")")
	if !ok || !closed {
		return c, badRequest("badRequest", "%s needs its parameters: %s(includedUserTypes='all',includedUserRoles='all').", name, name)
	}
	seen := map[string]bool{}
	for arg := range strings.SplitSeq(args, ",") {
		if strings.TrimSpace(args) == "" {
			break // no parameters: reported as missing below
		}
		k, v, _ := strings.Cut(arg, "=")
		k = strings.TrimSpace(k)
		if k != "includedUserTypes" && k != "includedUserRoles" {
			return c, badRequest("badRequest", "Unknown parameter '%s' of %s; it takes includedUserTypes and includedUserRoles.", k, name)
		}
		if seen[k] {
			return c, badRequest("badRequest", "Parameter '%s' is given more than once.", k)
		}
		seen[k] = true
		v = strings.TrimSpace(v)
		raw := v
		quoted := len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\''
		if quoted {
			v = v[1 : len(v)-1]
		}
		valid := userTypeValues()
		if k == "includedUserRoles" {
			valid = userRoleValues()
		}
		if !quoted || !slices.Contains(valid, v) {
			return c, badRequest("badRequest", "Invalid %s value %s: want one of '%s', in single quotes.",
				k, raw, strings.Join(valid, "', '"))
		}
		if k == "includedUserTypes" {
			c.userTypes = v
		} else {
			c.roles = v
		}
	}
	for _, k := range []string{"includedUserTypes", "includedUserRoles"} {
		if !seen[k] {
			return c, badRequest("badRequest", "Invalid %s value: the parameter is missing.", k)
		}
	}
	return c, nil
}

// includes reports whether u is among the users the call counts.
// privilegedAdmin is a subset of admin (see User.PrivilegedAdmin).
func (c aggregateCall) includes(u *User) bool {
	if c.userTypes != "all" && u.UserType != c.userTypes {
		return false
	}
	switch c.roles {
	case "admin":
		return u.IsAdmin
	case "privilegedAdmin":
		return u.PrivilegedAdmin()
	case "user":
		return !u.IsAdmin
	}
	return true
}

// PrivilegedAdmin is graphsim's stand-in for holding a privileged
// directory role, which the aggregates' includedUserRoles='privilegedAdmin'
// counts: the report has only isAdmin, so a deterministic third of the
// admins (by a hash of the id) are privileged. Not a property of any report.
func (u User) PrivilegedAdmin() bool { return u.IsAdmin && idHash(u.ID)%3 == 0 }

// The JSON of the two summaries, properties in Graph's order.
type (
	featureSummary struct {
		Context        string         `json:"@odata.context"`
		TotalUserCount int64          `json:"totalUserCount"`
		Counts         []featureCount `json:"userRegistrationFeatureCounts"`
		UserRoles      string         `json:"userRoles"`
		UserTypes      string         `json:"userTypes"`
	}
	featureCount struct {
		Feature   string `json:"feature"`
		UserCount int64  `json:"userCount"`
	}
	methodSummary struct {
		Context        string        `json:"@odata.context"`
		TotalUserCount int64         `json:"totalUserCount"`
		Counts         []methodCount `json:"userRegistrationMethodCounts"`
		UserRoles      string        `json:"userRoles"`
		UserTypes      string        `json:"userTypes"`
	}
	methodCount struct {
		AuthenticationMethod string `json:"authenticationMethod"`
		UserCount            int64  `json:"userCount"`
	}
)

// features are the counted features in the order Graph documents them,
// each with the report flag it counts.
func features() []struct {
	name string
	flag func(*User) bool
} {
	return []struct {
		name string
		flag func(*User) bool
	}{
		{"ssprRegistered", func(u *User) bool { return u.IsSsprRegistered }},
		{"ssprEnabled", func(u *User) bool { return u.IsSsprEnabled }},
		{"ssprCapable", func(u *User) bool { return u.IsSsprCapable }},
		{"passwordlessCapable", func(u *User) bool { return u.IsPasswordlessCapable }},
		{"mfaCapable", func(u *User) bool { return u.IsMfaCapable }},
	}
}

// aggregateMethods are the method values the method summary lists: every
// value graphsim's vocabulary can put in methodsRegistered, sorted by
// name, those no user has included with 0, so the list has one shape.
func aggregateMethods() []string {
	out := make([]string, len(vocabulary))
	for i := range vocabulary {
		out[i] = vocabulary[i].value
	}
	slices.Sort(out)
	return out
}

// aggregate serves one of the two summaries, counted over the users the
// report holds AggregateLag ticks before tick (never before the day's
// start), on Options.Now's day. Injected defects are not users and are
// not counted.
func (s *Server) aggregate(r *http.Request, t *tenantData, tick int64) (servedPage, error) {
	call, err := parseAggregateCall(r.PathValue("function"))
	if err != nil {
		return servedPage{}, err
	}
	if s.opts.AggregatesDelegatedOnly {
		return servedPage{}, &graphError{http.StatusForbidden, "Authorization_RequestDenied",
			"Insufficient privileges to complete the operation."}
	}
	d := dayNumber(s.opts.Now())
	k := max(s.clocks[t.ID].rel(d, tick)-int64(s.opts.AggregateLag), 0)
	var users []*User
	for i, uni := 0, s.days.universe(t, d, s.opts.Churn); i < len(uni); i++ {
		if u := uni[i].at(k); u != nil && call.includes(u) {
			users = append(users, u)
		}
	}
	var b bytes.Buffer
	if call.function == featureFunction {
		sum := featureSummary{
			Context:        "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.userRegistrationFeatureSummary",
			TotalUserCount: int64(len(users)), Counts: []featureCount{}, UserRoles: call.roles, UserTypes: call.userTypes,
		}
		for _, f := range features() {
			c := featureCount{Feature: f.name}
			for _, u := range users {
				if f.flag(u) {
					c.UserCount++
				}
			}
			sum.Counts = append(sum.Counts, c)
		}
		appendJSON(&b, sum)
		return servedPage{body: b.Bytes()}, nil
	}
	sum := methodSummary{
		Context:        "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.userRegistrationMethodSummary",
		TotalUserCount: int64(len(users)), Counts: []methodCount{}, UserRoles: call.roles, UserTypes: call.userTypes,
	}
	for _, m := range aggregateMethods() {
		c := methodCount{AuthenticationMethod: m}
		for _, u := range users {
			if slices.Contains(u.MethodsRegistered, m) {
				c.UserCount++
			}
		}
		sum.Counts = append(sum.Counts, c)
	}
	appendJSON(&b, sum)
	return servedPage{body: b.Bytes()}, nil
}
