package transform

import (
	"errors"
	"fmt"
)

// Reason codes, stored in rejected_records.reason_code. They are stable:
// dashboards and alerts match on them. doc.go says what each means.
const (
	ReasonInvalidJSON  = "invalid_json"
	ReasonNullRecord   = "null_record"
	ReasonNotObject    = "not_an_object"
	ReasonMissingID    = "missing_id"
	ReasonMalformedID  = "malformed_id"
	ReasonMissingUPN   = "missing_user_principal_name"
	ReasonWrongType    = "wrong_type"
	ReasonBadTimestamp = "bad_timestamp"
	ReasonDuplicateID  = "duplicate_id"
)

// One sentinel per reason code, for errors.Is.
var (
	ErrInvalidJSON  = errors.New("record is not valid JSON")
	ErrNullRecord   = errors.New("record is null")
	ErrNotObject    = errors.New("record is not a JSON object")
	ErrMissingID    = errors.New("record has no id")
	ErrMalformedID  = errors.New("record id is malformed")
	ErrMissingUPN   = errors.New("record has no userPrincipalName")
	ErrWrongType    = errors.New("record field has the wrong JSON type")
	ErrBadTimestamp = errors.New("record timestamp does not parse")
	ErrDuplicateID  = errors.New("record id already seen in this snapshot")
)

var sentinels = map[string]error{
	ReasonInvalidJSON:  ErrInvalidJSON,
	ReasonNullRecord:   ErrNullRecord,
	ReasonNotObject:    ErrNotObject,
	ReasonMissingID:    ErrMissingID,
	ReasonMalformedID:  ErrMalformedID,
	ReasonMissingUPN:   ErrMissingUPN,
	ReasonWrongType:    ErrWrongType,
	ReasonBadTimestamp: ErrBadTimestamp,
	ReasonDuplicateID:  ErrDuplicateID,
}

// RecordError says why a record breaks the data contract.
type RecordError struct {
	// Code is one of the Reason constants.
	Code string
	// Field is the JSON property at fault, "" when the record as a whole is.
	Field string
	// Detail is for a person: "field authMethods: want array of strings, got object".
	Detail string
	// UserID is the record's id when one could be read, else "".
	UserID string
	// Err is the sentinel of Code.
	Err error
}

func (e *RecordError) Error() string {
	if e.UserID == "" {
		return fmt.Sprintf("%s: %s", e.Code, e.Detail)
	}
	return fmt.Sprintf("%s: %s (user %s)", e.Code, e.Detail, e.UserID)
}

func (e *RecordError) Unwrap() error { return e.Err }

func recordError(code, field, userID, format string, args ...any) *RecordError {
	return &RecordError{Code: code, Field: field, Detail: fmt.Sprintf(format, args...), UserID: userID, Err: sentinels[code]}
}

// wrongType reports a known field whose value has another JSON type.
func wrongType(field, userID, want string, value []byte) *RecordError {
	return recordError(ReasonWrongType, field, userID, "field %s: want %s, got %s", field, want, jsonType(value))
}
