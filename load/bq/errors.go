package bq

import (
	"errors"
	"net/http"
	"strings"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
)

// ErrConcurrentTransaction reports a swap transaction that BigQuery
// cancelled because another transaction modified one of its tables at the
// same time (another credreg process loading another tenant of the same
// tables). The transaction is rolled back whole, so LoadSlice tries it
// again; it wraps this error when it runs out of attempts.
var ErrConcurrentTransaction = errors.New("transaction cancelled by a concurrent transaction")

func apiCode(err error) int {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code
	}
	return 0
}

func isNotFound(err error) bool { return err != nil && apiCode(err) == http.StatusNotFound }

func isAlreadyExists(err error) bool { return err != nil && apiCode(err) == http.StatusConflict }

// concurrentTransaction says whether err is BigQuery cancelling a
// transaction for a concurrent one. BigQuery gives that no reason code of
// its own (the job fails with reason invalidQuery or similar), only its
// messages, "Transaction is aborted due to concurrent update against table
// …" and, for DML, "Could not serialize access to table … due to
// concurrent update"; so this one place reads the message.
func concurrentTransaction(err error) bool {
	if errors.Is(err, ErrConcurrentTransaction) {
		return true
	}
	msgs := []string{}
	var berr *bigquery.Error
	if errors.As(err, &berr) {
		msgs = append(msgs, berr.Message)
	}
	var merr bigquery.MultiError
	if errors.As(err, &merr) {
		for _, e := range merr {
			msgs = append(msgs, e.Error())
		}
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		msgs = append(msgs, gerr.Message)
	}
	for _, m := range msgs {
		m = strings.ToLower(m)
		if strings.Contains(m, "due to concurrent update") || strings.Contains(m, "could not serialize access") {
			return true
		}
	}
	return false
}
