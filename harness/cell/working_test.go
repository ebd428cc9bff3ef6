package cell

import (
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// acceptedNeverFinished is a pre-upgrade session whose runner accepts a run
// after the upgrade (200, RUN_STARTED) and never finishes it, as upstream's
// runner in mock mode does.
func acceptedNeverFinished(at time.Time) []ledger.Observation {
	s := func(o ledger.Observation) ledger.Observation {
		o.Phase, o.Namespace, o.Session, o.Role = ledger.PhaseAfter, evidenceSession.Project, evidenceSession.Name, ledger.RolePreUpgrade
		return o
	}
	return []ledger.Observation{
		s(ledger.Observation{Time: at, Signal: ledger.SignalRunnerAccess, Caller: ledger.CallerBackend, Method: "POST", Path: "/", Status: 200}),
		s(ledger.Observation{Time: at.Add(time.Millisecond), Signal: ledger.SignalRunEvent, Detail: "RUN_STARTED"}),
	}
}

const keepWorking = "pre-upgrade-sessions-keep-working"

func TestTheCellJudgesAtItsWorkingLevel(t *testing.T) {
	obs := acceptedNeverFinished(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	for _, tt := range []struct {
		level, want verdict.WorkingLevel
		verdict     verdict.Verdict
	}{{"", verdict.WorkingRunFinished, verdict.Inconclusive}, {verdict.WorkingRunFinished, verdict.WorkingRunFinished, verdict.Inconclusive}, {verdict.WorkingRunStarted, verdict.WorkingRunStarted, verdict.Pass}} {
		res := Result{Cell: upgrade.Cell{From: "v0.2.2", To: "v0.2.7", Expect: verdict.Expectation{Verdict: verdict.Pass, Working: tt.level}}}
		evaluate(&res, obs, nil)
		var rule verdict.RuleResult
		for _, r := range res.Rules {
			if r.Rule == keepWorking {
				rule = r
			}
		}
		if res.Working != tt.want || rule.Verdict != tt.verdict || !strings.Contains(rule.Reason, "at working level "+string(tt.want)) {
			t.Errorf("level %q: Result.Working %q, %s = %s (%s); want %s at %s", tt.level, res.Working, keepWorking, rule.Verdict, rule.Reason, tt.verdict, tt.want)
		}
	}
}

func TestTheEvidenceWindowWaitsForItsLevelsEvidence(t *testing.T) {
	for _, tt := range []struct {
		level    verdict.WorkingLevel
		complete bool
	}{{verdict.WorkingRunStarted, true}, {verdict.WorkingRunFinished, false}} {
		l := ledger.New()
		l.MarkPhase(ledger.PhaseAfter, time.Time{})
		clk := newEvidenceClock()
		for _, o := range acceptedNeverFinished(clk.Now()) {
			l.Add(o)
		}
		w := EvidenceWindow{Name: "after", Since: clk.Now(), Rules: []string{keepWorking}, Working: tt.level, PassAfter: 500 * time.Millisecond, Max: 2 * time.Second}
		res := runWindow(t, l, clk, w, nil)
		switch {
		case tt.complete && (len(res.Missing) > 0 || res.Took >= w.Max):
			t.Errorf("%s: %+v, want complete once the pass window is over", tt.level, res)
		case !tt.complete && (len(res.Missing) != 1 || !strings.Contains(res.Missing[0], "at working level run-finished: session uh-cell/s1: not observed: RUN_FINISHED after the upgrade")):
			t.Errorf("%s: %+v, want RUN_FINISHED missing at Max, naming the level", tt.level, res)
		}
	}
}
