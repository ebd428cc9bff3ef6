package main

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/interrupt"
)

// TestReportsStateTheInterruptsCode: an interrupted matrix's headline once
// said "exit 3" (its cut-short cells' infrastructure errors) or "exit 1"
// while the process exited 130 or 143; the reports now state the code the
// process exits with.
func TestReportsStateTheInterruptsCode(t *testing.T) {
	cut := fault.InfraErr(errors.New("cell v0.2.0-v0.2.2: context canceled"))
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(&interrupt.Error{Signal: sig})
		got, want := reportedExit(ctx)(cut), 128+int(sig)
		if got != want {
			t.Errorf("after %v the reports state exit %d; want %d, the process's", sig, got, want)
		}
		if process := exitCode(ctx, "matrix", cut); process != got {
			t.Errorf("after %v the process exits %d but the reports state %d", sig, process, got)
		}
	}
	if got := reportedExit(context.Background())(fault.RegressionErr(errors.New("v0.2.0-v0.2.2 regressed"))); got != exitcode.Regression {
		t.Errorf("a run that was not interrupted states exit %d for a regression; want %d", got, exitcode.Regression)
	}
}
