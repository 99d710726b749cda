package graphsim

import (
	"bytes"
	"net/http"
	"strings"
)

// entityContext is the @odata.context of a single v1.0 record.
const entityContext = "https://graph.microsoft.com/v1.0/$metadata#reports/authenticationMethods/userRegistrationDetails/$entity"

// lookup serves GET {report}/{id}: the one record, as the tenant's data is
// at tick, with @odata.context first and then the properties in a
// listing's order, or 404 Request_ResourceNotFound for an id the report
// does not hold then (a user deleted or not yet created, an injected
// defect's id). Query options are ignored. The day is Options.Now's.
func (s *Server) lookup(r *http.Request, rep *report, t *tenantData, tick int64) (servedPage, error) {
	id := r.PathValue("id")
	d := dayNumber(s.opts.Now())
	var u *User
	if m := s.days.find(t, d, s.opts.Churn, strings.ToLower(id)); m != nil {
		u = m.at(s.clocks[t.ID].rel(d, tick))
	}
	if u == nil {
		return servedPage{}, &graphError{http.StatusNotFound, "Request_ResourceNotFound",
			"Resource '" + id + "' does not exist or one of its queried reference-property objects are not present."}
	}
	var rec bytes.Buffer
	appendJSON(&rec, rep.record(u))
	var b bytes.Buffer
	b.WriteString(`{"@odata.context":`)
	appendJSON(&b, entityContext)
	b.WriteByte(',')
	b.Write(rec.Bytes()[1:]) // the record without its opening brace
	return servedPage{body: b.Bytes()}, nil
}
