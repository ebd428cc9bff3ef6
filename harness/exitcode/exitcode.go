// Package exitcode names the process exit codes every harness command uses, so
// CI can tell a regression from a broken input or a broken machine.
package exitcode

import "errors"

const (
	// OK: every cell matched its expectation.
	OK = 0
	// Regression: a cell's verdict differed from its expectation (regressed or unexpectedly passed).
	Regression = 1
	// BadInput: a catalog, matrix, flag or argument is invalid.
	BadInput = 2
	// Infrastructure: cluster, container engine, image build or API server failed.
	Infrastructure = 3
	// Interrupted and Terminated: the run was stopped by SIGINT or SIGTERM
	// (128 + the signal, as shells report it; harness/interrupt). What it had
	// decided is in the reports; what it made is cleaned up.
	Interrupted = 130
	Terminated  = 143
)

// Error carries an exit code with an error.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// BadInputErr wraps err as bad input.
func BadInputErr(err error) error { return &Error{Code: BadInput, Err: err} }

// InfraErr wraps err as an infrastructure failure.
func InfraErr(err error) error { return &Error{Code: Infrastructure, Err: err} }

// Of returns the exit code for err: OK for nil, the wrapped code for *Error,
// Infrastructure for anything else (an unexplained error is never a pass).
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Infrastructure
}
