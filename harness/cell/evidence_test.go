package cell

import (
	"context"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/pipeline"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
	"github.com/ambient-e2e/upgrade-harness/tests/support/testsupport"
)

// The evidence tests run the window on a fake clock, checked every 500 ms of
// it: they step the clock and know exactly when a window must end.

var evidenceSession = session.SessionRef{Project: "uh-cell", Name: "s1"}

func runnerLine(l *ledger.Ledger, at time.Time, caller ledger.Caller, method, path string, status int) {
	sig := ledger.SignalRunnerAccess
	if status == 401 {
		sig = ledger.SignalRunner401
	}
	l.Add(ledger.Observation{Time: at, Signal: sig, Caller: caller, Method: method, Path: path, Status: status,
		Namespace: evidenceSession.Project, Session: evidenceSession.Name, Source: "runner-log:test"})
}

// runWindow runs WaitForEvidence on w (with clk) and steps clk 500 ms at a
// time whenever the window waits, calling beforeStep(n) before the n-th step.
func runWindow(t *testing.T, l *ledger.Ledger, clk *clocktesting.FakeClock, w EvidenceWindow, beforeStep func(n int)) EvidenceResult {
	t.Helper()
	w.Clock = clk
	done := make(chan EvidenceResult, 1)
	go func() { done <- WaitForEvidence(context.Background(), l, nil, w) }()
	for n := 1; ; n++ {
		var res EvidenceResult
		finished := false
		testsupport.Eventually(t, "the window waiting or ended", func() bool {
			select {
			case res = <-done:
				finished = true
				return true
			default:
				return clk.HasWaiters()
			}
		})
		if finished {
			return res
		}
		if beforeStep != nil {
			beforeStep(n)
		}
		clk.Step(500 * time.Millisecond)
	}
}

func newEvidenceClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

func TestWaitForEvidenceEndsOnceAFailureIsComplete(t *testing.T) {
	l := ledger.New()
	l.MarkPhase(ledger.PhaseAfter, time.Time{}) // every entry of the fake clock lies after it
	clk := newEvidenceClock()
	want := pipeline.RunnerCall{Caller: ledger.CallerOperator, Method: "POST", Path: "/workflow", Session: evidenceSession}
	runnerLine(l, clk.Now(), ledger.CallerOperator, "POST", "/workflow", 401)
	res := runWindow(t, l, clk, EvidenceWindow{Name: "after", Since: clk.Now(), Calls: []pipeline.RunnerCall{want},
		Rules: []string{"no-runner-401"}, PassAfter: time.Hour, Max: 5 * time.Second}, nil)
	if len(res.Missing) != 0 || len(res.Failing) != 1 || res.Failing[0] != "no-runner-401" {
		t.Fatalf("result %+v: want complete with no-runner-401 failing", res)
	}
	if res.Took != 0 {
		t.Errorf("a decided failure waited %s: it must not wait for the pass window", res.Took)
	}
}

func TestWaitForEvidenceHoldsAPassForItsWindow(t *testing.T) {
	l := ledger.New()
	clk := newEvidenceClock()
	runnerLine(l, clk.Now(), ledger.CallerOperator, "POST", "/workflow", 200)
	w := EvidenceWindow{Name: "after", Since: clk.Now(), Calls: []pipeline.RunnerCall{{Caller: ledger.CallerOperator, Method: "POST", Path: "/workflow", Session: evidenceSession}},
		PassAfter: 600 * time.Millisecond, Max: 5 * time.Second}
	res := runWindow(t, l, clk, w, nil)
	// Checked at 0, 0.5 s and 1 s: the first check past the pass window ends it.
	if len(res.Missing) != 0 || res.Took != time.Second {
		t.Fatalf("result %+v: want complete after 1s, the first check past the %s pass window", res, w.PassAfter)
	}
}

func TestWaitForEvidenceNamesWhatIsMissingAtMax(t *testing.T) {
	l := ledger.New()
	clk := newEvidenceClock()
	runnerLine(l, clk.Now(), ledger.CallerBackend, "POST", "/repos/add", 200) // the backend's, not the operator's
	w := EvidenceWindow{Name: "after", Since: clk.Now(),
		Calls: []pipeline.RunnerCall{{Caller: ledger.CallerOperator, Method: "POST", Path: "/repos/add", Session: evidenceSession}},
		Max:   700 * time.Millisecond}
	res := runWindow(t, l, clk, w, nil)
	if len(res.Missing) != 1 || !strings.Contains(res.Missing[0], "operator POST /repos/add on uh-cell/s1") || res.Took != time.Second {
		t.Fatalf("result %+v, want the operator's /repos/add missing at the first check past Max (1s)", res)
	}
	if !strings.Contains(res.describe(w), "evidence still missing after 1s") {
		t.Errorf("describe = %q", res.describe(w))
	}
}

func TestWaitForEvidenceIgnoresCallsBeforeTheWindow(t *testing.T) {
	l := ledger.New()
	clk := newEvidenceClock()
	runnerLine(l, clk.Now(), ledger.CallerOperator, "POST", "/workflow", 200)
	clk.Step(5 * time.Millisecond)
	w := EvidenceWindow{Name: "after", Since: clk.Now(),
		Calls: []pipeline.RunnerCall{{Caller: ledger.CallerOperator, Method: "POST", Path: "/workflow", Session: evidenceSession}},
		Max:   300 * time.Millisecond}
	if res := runWindow(t, l, clk, w, nil); len(res.Missing) != 1 {
		t.Fatalf("a call from before the window counted: %+v", res)
	}
}

func TestWaitForEvidenceCountsACallOnlyAfterItsCause(t *testing.T) {
	l := ledger.New()
	clk := newEvidenceClock()
	since := clk.Now().Add(-time.Second)
	runnerLine(l, clk.Now(), ledger.CallerOperator, "POST", "/repos/remove", 200) // another repo's removal, before ours
	cause := clk.Now().Add(time.Millisecond)
	w := EvidenceWindow{Name: "after", Since: since,
		Calls: []pipeline.RunnerCall{{Caller: ledger.CallerOperator, Method: "POST", Path: "/repos/remove", Session: evidenceSession, After: cause}},
		Max:   5 * time.Second}
	res := runWindow(t, l, clk, w, func(n int) {
		if n == 2 { // at 0.5 s, after its cause, the operator removes our repo
			runnerLine(l, clk.Now(), ledger.CallerOperator, "POST", "/repos/remove", 200)
		}
	})
	// Checks at 0, 0.5 s (the earlier call alone), 1 s (the later one): 1 s + the second before the window's start.
	if len(res.Missing) != 0 || res.Took != 2*time.Second {
		t.Fatalf("result %+v: the earlier call must not count, the later one must (complete after 2s)", res)
	}
}
