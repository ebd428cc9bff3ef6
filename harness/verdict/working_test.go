package verdict

import (
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

// neverFinishes is healthyCell as upstream's runner in mock mode makes it:
// every run is accepted (200, RUN_STARTED) and none ever finishes.
// Its restarted session r (pre-upgrade until the restart) runs again.
func neverFinishes() *ledgerBuilder {
	b := healthyCell().restart("phase=Creating", "phase=Running")
	for i, o := range b.obs {
		if o.Session == "r" && o.Detail == "RUN_FINISHED" {
			b.obs[i].Detail = "RUN_STARTED"
		}
	}
	b.add(access(ledger.PhaseAfter, ledger.CallerBackend, "POST", "/", 200, "p", "r", ledger.RolePreUpgrade))
	return without(b, func(o ledger.Observation) bool { return o.Detail == "RUN_FINISHED" })
}

func evaluateAt(b *ledgerBuilder, level WorkingLevel) (Verdict, map[string]RuleResult) {
	all := Evaluate(EvaluateInput{Observations: b.obs, Working: level})
	out := map[string]RuleResult{}
	for _, r := range all {
		out[r.Rule] = r
	}
	return Combine(all), out
}

var workingRules = []string{"pre-upgrade-sessions-keep-working", "post-upgrade-sessions-work"}

func TestRunnerThatNeverFinishesPassesAtRunStartedOnly(t *testing.T) {
	v, res := evaluateAt(neverFinishes(), WorkingRunStarted)
	if v != Pass {
		t.Errorf("cell at run-started = %s, want pass", v)
	}
	for _, name := range workingRules {
		r := res[name]
		if r.Verdict != Pass || r.Working != WorkingRunStarted ||
			!strings.HasPrefix(r.Reason, "at working level run-started: ") || !strings.Contains(r.Reason, "RUN_STARTED") || !strings.Contains(r.Reason, "a 2xx answer to POST /") {
			t.Errorf("%s at run-started = %s, working %q (%s); want pass naming the level, the 2xx answer and RUN_STARTED", name, r.Verdict, r.Working, r.Reason)
		}
	}

	v, res = evaluateAt(neverFinishes(), WorkingRunFinished)
	if v != Inconclusive {
		t.Errorf("cell at run-finished = %s, want inconclusive", v)
	}
	for _, name := range workingRules {
		r := res[name]
		if r.Verdict != Inconclusive || r.Working != WorkingRunFinished ||
			!strings.HasPrefix(r.Reason, "at working level run-finished: ") || !strings.Contains(r.Reason, "not observed: RUN_FINISHED") ||
			!strings.Contains(r.Reason, "the evidence of working level run-started") {
			t.Errorf("%s at run-finished = %s, working %q (%s); want inconclusive naming the level, the missing RUN_FINISHED and that run-started's evidence was seen", name, r.Verdict, r.Working, r.Reason)
		}
	}
}

func TestEmptyWorkingLevelIsRunFinished(t *testing.T) {
	if v, _ := evaluateAt(neverFinishes(), ""); v != Inconclusive {
		t.Errorf("cell at the default level = %s, want inconclusive (run-finished)", v)
	}
	if v, _ := evaluateAt(healthyCell().restart("phase=Creating", "phase=Running"), ""); v != Pass {
		t.Errorf("healthy cell at the default level = %s, want pass", v)
	}
}

func TestA401FailsAtEveryWorkingLevel(t *testing.T) {
	pre, post := ledger.RolePreUpgrade, ledger.RolePostUpgrade
	tests := map[string]struct {
		rule string
		add  ledger.Observation
	}{
		"pre-upgrade session's run 401": {"pre-upgrade-sessions-keep-working",
			runner401(ledger.PhaseAfter, ledger.CallerBackend, "POST", "/", "p", "a", pre)},
		"post-upgrade session's RUN_ERROR 401": {"post-upgrade-sessions-work",
			sig(ledger.SignalRunError401, ledger.PhaseAfter, "p", "b", post, "RUN_ERROR Runner error: HTTP 401")},
		"post-upgrade session's RUN_ERROR": {"post-upgrade-sessions-work",
			sig(ledger.SignalRunEvent, ledger.PhaseAfter, "p", "b", post, "RUN_ERROR Runner is not available")},
	}
	for name, tt := range tests {
		for _, level := range WorkingLevels {
			t.Run(name+" at "+string(level), func(t *testing.T) {
				v, res := evaluateAt(neverFinishes().add(tt.add), level)
				r := res[tt.rule]
				if v != Fail || r.Verdict != Fail || len(r.Evidence) == 0 || !strings.Contains(r.Reason, "at working level "+string(level)) {
					t.Errorf("cell %s, %s = %s (%s); want fail with evidence, naming the level", v, tt.rule, r.Verdict, r.Reason)
				}
			})
		}
	}
}

func TestRunStartedNeedsTheRunnersAnswer(t *testing.T) {
	// RUN_STARTED seen, but the runner's answer to session a's POST / after the
	// upgrade was a 500: it did not accept the run.
	b := neverFinishes()
	for i, o := range b.obs {
		if o.Session == "a" && o.Phase == ledger.PhaseAfter && o.Method == "POST" && o.Path == "/" {
			b.obs[i].Status = 500
		}
	}
	_, res := evaluateAt(b, WorkingRunStarted)
	r := res["pre-upgrade-sessions-keep-working"]
	if r.Verdict != Inconclusive || !strings.Contains(r.Reason, "not observed: a 2xx answer to POST / after the upgrade") {
		t.Errorf("pre-upgrade-sessions-keep-working = %s (%s); want inconclusive naming the missing 2xx answer", r.Verdict, r.Reason)
	}
	_, res = evaluateAt(without(neverFinishes(), func(o ledger.Observation) bool { return o.Detail == "RUN_STARTED" && o.Session == "b" }), WorkingRunStarted)
	if r := res["post-upgrade-sessions-work"]; r.Verdict != Inconclusive || !strings.Contains(r.Reason, "not observed: RUN_STARTED") {
		t.Errorf("post-upgrade-sessions-work = %s (%s); want inconclusive naming the missing RUN_STARTED", r.Verdict, r.Reason)
	}
}

func TestRulesWithoutLevelsDoNotNameOne(t *testing.T) {
	_, res := evaluateAt(neverFinishes(), WorkingRunStarted)
	r := res["no-runner-401"]
	if r.Working != "" || strings.Contains(r.Reason, "working level") {
		t.Errorf("no-runner-401: working %q, reason %q; want no level (its clauses count at every level)", r.Working, r.Reason)
	}
}

func TestParseWorkingLevel(t *testing.T) {
	for _, l := range WorkingLevels {
		if got, err := ParseWorkingLevel(string(l)); err != nil || got != l {
			t.Errorf("ParseWorkingLevel(%q) = %q, %v", l, got, err)
		}
	}
	for _, bad := range []string{"", "finished", "RUN_STARTED", "run-started "} {
		_, err := ParseWorkingLevel(bad)
		if err == nil || !strings.Contains(err.Error(), "want run-finished or run-started") {
			t.Errorf("ParseWorkingLevel(%q) error = %v, want one naming the valid levels", bad, err)
		}
	}
}

func TestLoadRulesRejectsBadWorkingAndStatus(t *testing.T) {
	tests := map[string]struct{ yaml, want string }{
		"level on a fail clause": {"rules:\n- name: x\n  fail:\n  - name: c\n    working: [run-started]\n    match: {}\n", "working is only valid in require and pass"},
		"unknown level":          {"rules:\n- name: x\n  pass:\n  - name: c\n    working: [run-done]\n    match: {}\n", `"run-done" is not a working level (want run-finished or run-started)`},
		"a level left without clauses": {"rules:\n- name: x\n  pass:\n  - name: c\n    working: [run-finished]\n    match: {}\n",
			"no require or pass clause applies at working level run-started"},
		"bad status class": {"rules:\n- name: x\n  pass:\n  - name: c\n    match: {status: [2xy]}\n", `status "2xy" is not an HTTP status`},
		"bad status code":  {"rules:\n- name: x\n  pass:\n  - name: c\n    match: {status: [42]}\n", `status "42" is not an HTTP status`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := LoadRules([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadRules error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestStatusClassMatches(t *testing.T) {
	rs, err := LoadRules([]byte("rules:\n- name: x\n  pass:\n  - name: c\n    match: {status: [2xx, 404]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	sel := rs.Rules[0].Pass[0].Match
	for status, want := range map[int]bool{200: true, 204: true, 299: true, 404: true, 199: false, 300: false, 401: false, 0: false} {
		if got := sel.matches(entry{obs: ledger.Observation{Status: status}}); got != want {
			t.Errorf("status %d matches %v, want %v", status, got, want)
		}
	}
}
