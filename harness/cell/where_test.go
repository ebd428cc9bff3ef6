package cell

import (
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/env/engine"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/interrupt"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
)

// TestWhereAtNamesThePhaseRunningThen: a signal that arrived during a step is
// put in that step even when the cell only sees the cancel after the step
// ended; between steps it is the traffic window then running, else nothing.
func TestWhereAtNamesThePhaseRunningThen(t *testing.T) {
	r := &runner{p: progress.New(io.Discard)}
	var inStep time.Time
	_ = r.p.Step(StepUpgrade, "upgrade v0.2.0 → v0.2.1 (all-at-once)", func() error { inStep = time.Now(); return nil })
	between := time.Now()
	r.windows = append(r.windows, span{Name: "after the upgrade", Start: time.Now()})
	inWindow := time.Now()
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{inStep, "upgrade v0.2.0 → v0.2.1 (all-at-once)"},
		{inWindow, "the traffic window after the upgrade"},
	} {
		if got := r.whereAt(tc.at); got != tc.want {
			t.Errorf("whereAt: got %q, want %q", got, tc.want)
		}
	}
	// between may equal the step's end or the window's start on a coarse clock.
	if got := r.whereAt(between); got != "between phases" && got != "upgrade v0.2.0 → v0.2.1 (all-at-once)" && got != "the traffic window after the upgrade" {
		t.Errorf("whereAt between the step and the window: %q", got)
	}
	if got := r.whereAt(inStep.Add(-time.Hour)); got != "between phases" {
		t.Errorf("whereAt before anything: %q", got)
	}
}

// The cell is placed at the moment the stop happened, not at the cancel that
// came later: a signal's arrival, an engine's first failed ping.
func TestStopCausesKnowWhenTheyHappened(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC)
	for _, cause := range []error{
		fault.InfraErr(&engine.UnreachableError{Engine: "unix:///x.sock", Since: t0}),
		&interrupt.Error{Signal: syscall.SIGTERM, At: t0},
	} {
		var st stoppedAt
		if !errors.As(cause, &st) || !st.StoppedAt().Equal(t0) {
			t.Errorf("%v: stop time not found", cause)
		}
	}
}
