// Package exitcode is the one mapping from what a harness run returned to
// the process's exit code, so CI can tell a regression from a broken input
// or a broken machine. Only the commands under harness/cmd (and tests that
// check what a command would exit with) use it; the packages they call return
// typed errors (harness/fault) and never a code.
package exitcode

import "github.com/ambient-e2e/upgrade-harness/harness/fault"

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

// Of returns the exit code for err from its kind (fault.KindOf): OK for nil,
// Regression, BadInput, and Infrastructure for everything else (an
// unexplained error is never a pass).
func Of(err error) int {
	switch fault.KindOf(err) {
	case fault.KindNone:
		return OK
	case fault.KindRegression:
		return Regression
	case fault.KindBadInput:
		return BadInput
	}
	return Infrastructure
}
