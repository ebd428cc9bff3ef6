package verdict

import (
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// on attributes an observation to caller and runner releases.
func on(o ledger.Observation, callerRelease, runnerRelease string) ledger.Observation {
	o.CallerRelease, o.RunnerRelease = callerRelease, runnerRelease
	return o
}

// brokenFrom is a v0.2.6→v0.2.7-like ledger: the from release's operator 401s
// its /workflow calls in the baseline, and the old operator keeps doing so
// during the rollout on old runners.
func brokenFrom() *ledgerBuilder {
	b := healthyCell().restart("phase=Running")
	b.add(on(runner401(ledger.PhaseBefore, ledger.CallerOperator, "POST", "/workflow", "p", "a", ledger.RolePreUpgrade), "v0.2.6", "v0.2.6"))
	return b
}

func classOf(obs []ledger.Observation, signal ledger.Signal, phase ledger.Phase) ledger.Class {
	for _, o := range obs {
		if o.Signal == signal && o.Phase == phase {
			return o.Class
		}
	}
	return "none"
}

func TestFromRelease401sDuringTheRolloutAreTheFromReleasesOwn(t *testing.T) {
	b := brokenFrom()
	b.add(on(runner401(ledger.PhaseDuring, ledger.CallerOperator, "POST", "/workflow", "p", "a", ledger.RolePreUpgrade), "v0.2.6", "v0.2.6"))
	ann := Annotate(b.obs, "v0.2.6")
	if c := classOf(ann, ledger.SignalRunner401, ledger.PhaseDuring); c != ledger.ClassFromRelease {
		t.Fatalf("class = %s, want from-release", c)
	}
	res := map[string]RuleResult{}
	all := Evaluate(EvaluateInput{Observations: b.obs, From: "v0.2.6"})
	for _, r := range all {
		res[r.Rule] = r
	}
	if r := res["no-runner-401"]; r.Verdict != Pass {
		t.Errorf("no-runner-401 = %s (%s), want pass: the 401s are the from release's own", r.Verdict, r.Reason)
	}
	if r := res["from-release-clean"]; r.Verdict != Fail || !r.Informational {
		t.Errorf("from-release-clean = %s informational=%v, want an informational fail (v0.2.6 was already broken)", r.Verdict, r.Informational)
	}
	if r := res["pre-upgrade-sessions-keep-working"]; r.Verdict != Pass {
		t.Errorf("pre-upgrade-sessions-keep-working = %s (%s)", r.Verdict, r.Reason)
	}
	if v := Combine(all); v != Pass {
		t.Errorf("cell verdict = %s, want pass: an informational rule does not decide", v)
	}
	counts := Count401s(ann)
	if len(counts) != 1 || counts[0].Class != ledger.ClassFromRelease || counts[0].Count != 2 || counts[0].CallerRelease != "v0.2.6" {
		t.Errorf("Count401s = %+v, want 2 from-release operator /workflow 401s", counts)
	}
	if ok, why := Match(Outcome{Verdict: Combine(all), Rules: all, Unauthorized: counts},
		Expectation{Verdict: Pass, Unauthorized: []Attribution{{Caller: ledger.CallerOperator}}}); ok {
		t.Errorf("an expectation of upgrade-caused operator 401s must not be met by from-release ones (%s)", why)
	}
}

func TestUpgrade401sAreNeverExcused(t *testing.T) {
	for name, o := range map[string]ledger.Observation{
		"caller runs to":          on(runner401(ledger.PhaseDuring, ledger.CallerOperator, "POST", "/workflow", "p", "a", ledger.RolePreUpgrade), "v0.2.7", "v0.2.6"),
		"runner runs to":          on(runner401(ledger.PhaseAfter, ledger.CallerOperator, "POST", "/workflow", "p", "b", ledger.RolePostUpgrade), "v0.2.6", "v0.2.7"),
		"caller not attributed":   on(runner401(ledger.PhaseDuring, ledger.CallerOperator, "POST", "/workflow", "p", "a", ledger.RolePreUpgrade), "", "v0.2.6"),
		"family fine in baseline": on(runner401(ledger.PhaseDuring, ledger.CallerBackend, "POST", "/", "p", "a", ledger.RolePreUpgrade), "v0.2.6", "v0.2.6"),
	} {
		t.Run(name, func(t *testing.T) {
			b := brokenFrom()
			b.add(o)
			ann := Annotate(b.obs, "v0.2.6")
			if c := classOf(ann, ledger.SignalRunner401, o.Phase); c != ledger.ClassUpgrade {
				t.Fatalf("class = %s, want upgrade", c)
			}
			for _, r := range Evaluate(EvaluateInput{Observations: b.obs, From: "v0.2.6"}) {
				if r.Rule == "no-runner-401" && r.Verdict != Fail {
					t.Errorf("no-runner-401 = %s (%s), want fail", r.Verdict, r.Reason)
				}
			}
		})
	}
}

func TestBackendEventsWithoutAPodTakeTheBackendReleaseOfTheirTime(t *testing.T) {
	b := brokenFrom()
	b.add(on(access(ledger.PhaseDuring, ledger.CallerBackend, "POST", "/", 200, "p", "a", ledger.RolePreUpgrade), "v0.2.7", "v0.2.6"))
	e := sig(ledger.SignalRunError401, ledger.PhaseDuring, "p", "a", ledger.RolePreUpgrade, "RUN_ERROR Runner error: HTTP 401")
	e.Caller = ledger.CallerBackend
	b.add(e)
	for _, o := range Annotate(b.obs, "v0.2.6") {
		if o.Signal == ledger.SignalRunError401 && (o.CallerRelease != "v0.2.7" || o.RunnerRelease != "v0.2.6" || o.Class != ledger.ClassUpgrade) {
			t.Errorf("RUN_ERROR attributed %s → %s class %s, want v0.2.7 → v0.2.6 upgrade", o.CallerRelease, o.RunnerRelease, o.Class)
		}
	}
}

func TestRunnerErrorsNoRunnerLoggedMakeTheCellInconclusive(t *testing.T) {
	report := ledger.Observation{Signal: ledger.SignalSessionState, Phase: ledger.PhaseAfter, Caller: ledger.CallerOperator, Method: "POST", Path: "/workflow",
		Status: 404, Namespace: "p", Session: "b", Detail: "[Reconcile] Runner returned non-200 for workflow change: 404"}
	b := healthyCell().restart("phase=Running")
	b.add(report)
	res := map[string]RuleResult{}
	for _, r := range Evaluate(EvaluateInput{Observations: b.obs}) {
		res[r.Rule] = r
	}
	if r := res["runner-errors-explained"]; r.Verdict != Inconclusive || len(r.Evidence) != 1 || r.Evidence[0].Signal != ledger.SignalUnansweredByRunner {
		t.Fatalf("runner-errors-explained = %s %+v, want inconclusive with the unanswered call", r.Verdict, r.Evidence)
	}
	b.add(access(ledger.PhaseAfter, ledger.CallerOperator, "POST", "/workflow", 404, "p", "b", ledger.RolePostUpgrade))
	for _, r := range Evaluate(EvaluateInput{Observations: b.obs}) {
		if r.Rule == "runner-errors-explained" && r.Verdict != Pass {
			t.Errorf("with the runner's own 404 line: %s (%s), want pass", r.Verdict, r.Reason)
		}
	}
}

func TestRollbackRulesOnlyInRollbackCells(t *testing.T) {
	b := healthyCell().restart("phase=Running")
	for _, r := range Evaluate(EvaluateInput{Observations: b.obs}) {
		if r.Rule == "no-runner-401-after-rollback" || r.Rule == "rolled-back-sessions-keep-working" {
			t.Fatalf("rule %s evaluated in a cell without a rollback", r.Rule)
		}
	}
	post := ledger.RolePostUpgrade
	b.cover(ledger.PhaseRolledBack, "b", post)
	b.add(sig(ledger.SignalRunEvent, ledger.PhaseRolledBack, "p", "b", post, "RUN_FINISHED"))
	res := map[string]RuleResult{}
	for _, r := range Evaluate(EvaluateInput{Observations: b.obs}) {
		res[r.Rule] = r
	}
	if res["no-runner-401-after-rollback"].Verdict != Pass || res["rolled-back-sessions-keep-working"].Verdict != Pass {
		t.Fatalf("rollback rules = %+v / %+v, want pass", res["no-runner-401-after-rollback"], res["rolled-back-sessions-keep-working"])
	}
	b.add(on(runner401(ledger.PhaseRolledBack, ledger.CallerBackend, "POST", "/", "p", "b", post), "v0.2.0", "v0.2.2"))
	for _, r := range Evaluate(EvaluateInput{Observations: b.obs, From: "v0.2.0"}) {
		if (r.Rule == "no-runner-401-after-rollback" || r.Rule == "rolled-back-sessions-keep-working") && r.Verdict != Fail {
			t.Errorf("%s = %s after a v0.2.0 backend → v0.2.2 runner 401, want fail", r.Rule, r.Verdict)
		}
	}
}

func TestPlatformLinesWithoutASessionTakeTheRunnersSide(t *testing.T) {
	b := brokenFrom()
	op := "ambient-code/agentic-operator-old"
	line := on(runner401(ledger.PhaseDuring, ledger.CallerOperator, "POST", "/workflow", "p", "a", ledger.RolePreUpgrade), "v0.2.6", "v0.2.6")
	line.CallerPod = op
	b.add(line)
	report := ledger.Observation{Signal: ledger.SignalOperatorWorkflow401, Phase: ledger.PhaseDuring, Caller: ledger.CallerOperator, CallerPod: op,
		CallerRelease: "v0.2.6", Method: "POST", Path: "/workflow", Status: 401, Detail: "[Reconcile] Runner returned non-200 for workflow change: 401"}
	b.add(report)
	feedback := ledger.Observation{Signal: ledger.SignalBackendProxy401, Phase: ledger.PhaseDuring, Caller: ledger.CallerBackend, CallerRelease: "v0.2.6",
		Method: "POST", Path: "/feedback", Status: 401, Session: "a", Detail: "AGUI Feedback: runner returned 401 for a: {}"}
	b.add(feedback)
	b.add(on(runner401(ledger.PhaseBefore, ledger.CallerBackend, "POST", "/feedback", "p", "a", ledger.RolePreUpgrade), "v0.2.6", "v0.2.6"))
	for _, o := range Annotate(b.obs, "v0.2.6") {
		if o.Signal == ledger.SignalOperatorWorkflow401 && (o.RunnerRelease != "v0.2.6" || o.Class != ledger.ClassFromRelease) {
			t.Errorf("operator line: runner %q class %s, want the corroborating runner line's v0.2.6 and from-release", o.RunnerRelease, o.Class)
		}
		if o.Signal == ledger.SignalBackendProxy401 && o.RunnerRelease != "v0.2.6" {
			t.Errorf("backend line naming session %q without a namespace: runner release %q, want v0.2.6", o.Session, o.RunnerRelease)
		}
	}
}

// A runner error the wire witness saw is the runner's own answer: without
// its access line it is still not a caller report that no runner logged.
func TestUnansweredIgnoresWireRequests(t *testing.T) {
	obs := []ledger.Observation{{Signal: ledger.SignalWireRequest, Caller: ledger.CallerBackend, Method: "POST", Path: "/", Status: 500,
		Namespace: "p", Session: "s", Time: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}}
	if got := unanswered(obs); len(got) != 0 {
		t.Errorf("unanswered = %+v, want none", got)
	}
}
