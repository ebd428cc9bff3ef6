package cell

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
)

var evidenceSession = session.SessionRef{Project: "uh-cell", Name: "s1"}

func runnerLine(l *ledger.Ledger, caller ledger.Caller, method, path string, status int) {
	sig := ledger.SignalRunnerAccess
	if status == 401 {
		sig = ledger.SignalRunner401
	}
	l.Add(ledger.Observation{Time: time.Now(), Signal: sig, Caller: caller, Method: method, Path: path, Status: status,
		Namespace: evidenceSession.Project, Session: evidenceSession.Name, Source: "runner-log:test"})
}

func TestWaitForEvidenceEndsOnceAFailureIsComplete(t *testing.T) {
	l := ledger.New()
	l.SetPhase(ledger.PhaseAfter)
	since := time.Now().Add(-time.Millisecond)
	want := RunnerCall{Caller: ledger.CallerOperator, Method: "POST", Path: "/workflow", Session: evidenceSession}
	runnerLine(l, ledger.CallerOperator, "POST", "/workflow", 401)
	res := WaitForEvidence(context.Background(), l, nil, EvidenceWindow{Name: "after", Since: since, Calls: []RunnerCall{want},
		Rules: []string{"no-runner-401"}, PassAfter: time.Hour, Max: 5 * time.Second})
	if len(res.Missing) != 0 || len(res.Failing) != 1 || res.Failing[0] != "no-runner-401" {
		t.Fatalf("result %+v: want complete with no-runner-401 failing", res)
	}
	if res.Took > 2*time.Second {
		t.Errorf("a decided failure waited %s: it must not wait for the pass window", res.Took)
	}
}

func TestWaitForEvidenceHoldsAPassForItsWindow(t *testing.T) {
	l := ledger.New()
	since := time.Now()
	runnerLine(l, ledger.CallerOperator, "POST", "/workflow", 200)
	w := EvidenceWindow{Name: "after", Since: since, Calls: []RunnerCall{{Caller: ledger.CallerOperator, Method: "POST", Path: "/workflow", Session: evidenceSession}},
		PassAfter: 600 * time.Millisecond, Max: 5 * time.Second}
	res := WaitForEvidence(context.Background(), l, nil, w)
	if len(res.Missing) != 0 || res.Took < w.PassAfter {
		t.Fatalf("result %+v: want complete, and not before the %s pass window", res, w.PassAfter)
	}
}

func TestWaitForEvidenceNamesWhatIsMissingAtMax(t *testing.T) {
	l := ledger.New()
	runnerLine(l, ledger.CallerBackend, "POST", "/repos/add", 200) // the backend's, not the operator's
	w := EvidenceWindow{Name: "after", Since: time.Now().Add(-time.Millisecond),
		Calls: []RunnerCall{{Caller: ledger.CallerOperator, Method: "POST", Path: "/repos/add", Session: evidenceSession}},
		Max:   700 * time.Millisecond}
	res := WaitForEvidence(context.Background(), l, nil, w)
	if len(res.Missing) != 1 || !strings.Contains(res.Missing[0], "operator POST /repos/add on uh-cell/s1") {
		t.Fatalf("missing = %q, want the operator's /repos/add named", res.Missing)
	}
	if !strings.Contains(res.describe(w), "evidence still missing") {
		t.Errorf("describe = %q", res.describe(w))
	}
}

func TestWaitForEvidenceIgnoresCallsBeforeTheWindow(t *testing.T) {
	l := ledger.New()
	runnerLine(l, ledger.CallerOperator, "POST", "/workflow", 200)
	time.Sleep(5 * time.Millisecond)
	w := EvidenceWindow{Name: "after", Since: time.Now(),
		Calls: []RunnerCall{{Caller: ledger.CallerOperator, Method: "POST", Path: "/workflow", Session: evidenceSession}},
		Max:   300 * time.Millisecond}
	if res := WaitForEvidence(context.Background(), l, nil, w); len(res.Missing) != 1 {
		t.Fatalf("a call from before the window counted: %+v", res)
	}
}

func TestWaitForEvidenceCountsACallOnlyAfterItsCause(t *testing.T) {
	l := ledger.New()
	since := time.Now().Add(-time.Second)
	runnerLine(l, ledger.CallerOperator, "POST", "/repos/remove", 200) // another repo's removal, before ours
	cause := time.Now().Add(time.Millisecond)
	w := EvidenceWindow{Name: "after", Since: since,
		Calls: []RunnerCall{{Caller: ledger.CallerOperator, Method: "POST", Path: "/repos/remove", Session: evidenceSession, After: cause}},
		Max:   2 * time.Second}
	go func() {
		time.Sleep(300 * time.Millisecond)
		runnerLine(l, ledger.CallerOperator, "POST", "/repos/remove", 200)
	}()
	res := WaitForEvidence(context.Background(), l, nil, w)
	if len(res.Missing) != 0 || res.Took < time.Second+250*time.Millisecond {
		t.Fatalf("result %+v: the earlier call must not count, the later one must", res)
	}
}
