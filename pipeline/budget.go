package pipeline

import (
	"errors"
	"fmt"
)

// ErrorBudget is how much of a snapshot may be rejected before it is not
// published: a report with many malformed records more likely means Graph
// changed its format than that many users are broken, and publishing it
// would replace a good snapshot with a thin one.
type ErrorBudget struct {
	// MaxRejectRatio is the largest share of records_in that may be
	// rejected, in [0, 1]; 1 turns the ratio check off.
	MaxRejectRatio float64 `json:"max_reject_ratio"`
	// MaxRejects is the largest number of rejected records; negative means
	// no limit by count.
	MaxRejects int64 `json:"max_rejects"`
}

// DefaultBudget tolerates 1 % rejected records and any count under that.
// It is a function so that no caller can change another's default.
func DefaultBudget() ErrorBudget { return ErrorBudget{MaxRejectRatio: 0.01, MaxRejects: -1} }

// ErrBudgetExceeded: more records were rejected than the error budget allows.
var ErrBudgetExceeded = errors.New("data contract breached: too many rejected records")

// BudgetError says by how much a slice exceeded its error budget.
type BudgetError struct {
	RecordsIn, Rejected int64
	Budget              ErrorBudget
}

func (e *BudgetError) Error() string {
	ratio := 0.0
	if e.RecordsIn > 0 {
		ratio = float64(e.Rejected) / float64(e.RecordsIn)
	}
	limit := fmt.Sprintf("the limit of %g%% of the records", 100*e.Budget.MaxRejectRatio)
	if e.Budget.MaxRejects >= 0 && e.Rejected > e.Budget.MaxRejects {
		limit = fmt.Sprintf("the limit of %d records", e.Budget.MaxRejects)
	}
	return fmt.Sprintf("%v: %d of %d records rejected (%.2f%%), over %s; nothing was published",
		ErrBudgetExceeded, e.Rejected, e.RecordsIn, 100*ratio, limit)
}

func (e *BudgetError) Unwrap() error { return ErrBudgetExceeded }

// Validate reports a budget no run could meet or that means nothing.
func (b ErrorBudget) Validate() error {
	if b.MaxRejectRatio < 0 || b.MaxRejectRatio > 1 || b.MaxRejectRatio != b.MaxRejectRatio {
		return fmt.Errorf("the reject ratio %g is not a share between 0 and 1 (0.01 is 1%%)", b.MaxRejectRatio)
	}
	return nil
}

// check returns a *BudgetError when rejected records exceed the budget.
func (b ErrorBudget) check(recordsIn, rejected int64) error {
	over := b.MaxRejects >= 0 && rejected > b.MaxRejects
	if recordsIn > 0 && b.MaxRejectRatio < 1 && float64(rejected) > b.MaxRejectRatio*float64(recordsIn) {
		over = true
	}
	if !over {
		return nil
	}
	return &BudgetError{RecordsIn: recordsIn, Rejected: rejected, Budget: b}
}
