package verdict

import (
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

var base = time.Date(2026, 11, 28, 21, 0, 0, 0, time.UTC)

// ledgerBuilder makes hand-made ledgers readable.
type ledgerBuilder struct {
	obs []ledger.Observation
	t   time.Duration
}

func (b *ledgerBuilder) add(o ledger.Observation) *ledgerBuilder {
	b.t += time.Second
	o.Time = base.Add(b.t)
	b.obs = append(b.obs, o)
	return b
}

func access(phase ledger.Phase, caller ledger.Caller, method, path string, status int, ns, s, role string) ledger.Observation {
	return ledger.Observation{Signal: ledger.SignalRunnerAccess, Phase: phase, Caller: caller, Method: method, Path: path, Status: status, Namespace: ns, Session: s, Role: role}
}

func runner401(phase ledger.Phase, caller ledger.Caller, method, path, ns, s, role string) ledger.Observation {
	o := access(phase, caller, method, path, 401, ns, s, role)
	o.Signal = ledger.SignalRunner401
	return o
}

func sig(signal ledger.Signal, phase ledger.Phase, ns, s, role, detail string) ledger.Observation {
	return ledger.Observation{Signal: signal, Phase: phase, Namespace: ns, Session: s, Role: role, Detail: detail}
}

// cover adds, for session s in phase ph, an access line of every runner call
// family the cell drives and the API spec changes that cause the spec-change
// families.
func (b *ledgerBuilder) cover(ph ledger.Phase, s, role string) *ledgerBuilder {
	for _, sc := range platform.SpecChanges {
		b.add(ledger.Observation{Signal: ledger.SignalAPI, Phase: ph, Caller: ledger.CallerHarness, Method: strings.Fields(sc.Route)[0], Path: sc.Route, Status: 200, Namespace: "p", Session: s, Role: role})
	}
	for _, f := range platform.CallFamilies {
		b.add(access(ph, ledger.Caller(f.Caller), f.Method, f.Path, 200, "p", s, role))
	}
	return b
}

// healthyCell is a v0.2.0→v0.2.7-like ledger: pre-upgrade session A keeps
// working, post-upgrade session B works, coverage complete, no 401.
func healthyCell() *ledgerBuilder {
	b := &ledgerBuilder{}
	pre, post := ledger.RolePreUpgrade, ledger.RolePostUpgrade
	b.cover(ledger.PhaseBefore, "a", pre).cover(ledger.PhaseAfter, "b", post)
	b.add(sig(ledger.SignalCondition, ledger.PhaseBefore, "p", "a", pre, "phase=Running")).
		add(access(ledger.PhaseBefore, ledger.CallerBackend, "POST", "/", 200, "p", "a", pre)).
		add(sig(ledger.SignalRunEvent, ledger.PhaseBefore, "p", "a", pre, "RUN_FINISHED")).
		add(access(ledger.PhaseAfter, ledger.CallerBackend, "POST", "/", 200, "p", "a", pre)).
		add(access(ledger.PhaseAfter, ledger.CallerBackend, "GET", "/events", 200, "p", "a", pre)).
		add(sig(ledger.SignalRunEvent, ledger.PhaseAfter, "p", "a", pre, "RUN_STARTED")).
		add(sig(ledger.SignalRunEvent, ledger.PhaseAfter, "p", "a", pre, "RUN_FINISHED")).
		add(sig(ledger.SignalCondition, ledger.PhaseAfter, "p", "b", post, "phase=Pending")).
		add(sig(ledger.SignalCondition, ledger.PhaseAfter, "p", "b", post, "phase=Running")).
		add(sig(ledger.SignalRunnerAuthEnabled, ledger.PhaseAfter, "p", "b", post, "INFO:ambient_runner.app:AG-UI token authentication enabled")).
		add(access(ledger.PhaseAfter, ledger.CallerBackend, "GET", "/events", 404, "p", "b", post)).
		add(access(ledger.PhaseAfter, ledger.CallerBackend, "POST", "/", 200, "p", "b", post)).
		add(sig(ledger.SignalRunEvent, ledger.PhaseAfter, "p", "b", post, "RUN_STARTED")).
		add(sig(ledger.SignalRunEvent, ledger.PhaseAfter, "p", "b", post, "RUN_FINISHED"))
	return b
}

// restart appends a restarted session r: a pre-upgrade session that finished
// a run after the upgrade (as the cell's session A does), then stopped and
// started again.
func (b *ledgerBuilder) restart(outcome ...string) *ledgerBuilder {
	r := ledger.RoleRestarted
	b.add(sig(ledger.SignalCondition, ledger.PhaseBefore, "p", "r", ledger.RolePreUpgrade, "phase=Running")).
		add(sig(ledger.SignalRunEvent, ledger.PhaseAfter, "p", "r", ledger.RolePreUpgrade, "RUN_FINISHED")).
		add(sig(ledger.SignalCondition, ledger.PhaseAfter, "p", "r", r, "phase=Stopping")).
		add(sig(ledger.SignalCondition, ledger.PhaseAfter, "p", "r", r, "phase=Stopped")).
		add(sig(ledger.SignalCondition, ledger.PhaseAfter, "p", "r", r, "phase=Pending"))
	for _, d := range outcome {
		b.add(sig(ledger.SignalCondition, ledger.PhaseAfter, "p", "r", r, d))
	}
	return b
}

func results(b *ledgerBuilder) map[string]RuleResult {
	out := map[string]RuleResult{}
	for _, r := range Evaluate(EvaluateInput{Observations: b.obs}) {
		out[r.Rule] = r
	}
	return out
}

func TestDefaultRulesLoad(t *testing.T) {
	rs := DefaultRules()
	var names []string
	for _, r := range rs.Rules {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "no-runner-401,from-release-clean,pre-upgrade-sessions-keep-working,post-upgrade-sessions-work,restarted-session-runs,no-runner-401-after-rollback,rolled-back-sessions-keep-working,no-coverage-gaps,runner-errors-explained" {
		t.Errorf("rule names = %s", got)
	}
}

func TestLoadRulesRejectsBadInput(t *testing.T) {
	tests := map[string]struct{ yaml, want string }{
		"unknown field":      {"rules:\n- name: x\n  fial: []\n", "field fial not found"},
		"unknown signal":     {"rules:\n- name: x\n  fail:\n  - name: c\n    match: {signal: [runner-402]}\n", `signal "runner-402" is not one of`},
		"unknown phase":      {"rules:\n- name: x\n  fail:\n  - name: c\n    match: {phase: [later]}\n", `phase "later"`},
		"unknown caller":     {"rules:\n- name: x\n  fail:\n  - name: c\n    match: {caller: [frontend]}\n", `caller "frontend"`},
		"bad regex":          {"rules:\n- name: x\n  fail:\n  - name: c\n    match: {detail: \"(\"}\n", "not an RE2 regex"},
		"bad role":           {"rules:\n- name: x\n  sessions: {role: vip}\n  pass:\n  - name: c\n    match: {}\n", `sessions.role "vip"`},
		"duplicate name":     {"rules:\n- name: x\n  pass: [{name: c, match: {}}]\n- name: x\n  pass: [{name: c, match: {}}]\n", "used twice"},
		"no clauses":         {"rules:\n- name: x\n", "has no fail"},
		"unnamed clause":     {"rules:\n- name: x\n  fail:\n  - match: {}\n", "name is empty"},
		"when outside":       {"rules:\n- name: x\n  fail:\n  - name: c\n    match: {}\n    when: {}\n", "only valid in require"},
		"eachFamily outside": {"rules:\n- name: x\n  fail:\n  - name: c\n    eachFamily: true\n    match: {}\n", "eachFamily is only valid in require"},
		"unknown class":      {"rules:\n- name: x\n  fail:\n  - name: c\n    match: {class: [old]}\n", `class "old" is not one of`},
		"unknown window":     {"rules:\n- name: x\n  evidence: later\n  fail:\n  - name: c\n    match: {}\n", `evidence "later"`},
		"bad rule when":      {"rules:\n- name: x\n  when: {phase: [soon]}\n  fail:\n  - name: c\n    match: {}\n", `when: phase "soon"`},
		"empty file":         {"", "rules"},
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

func TestHealthyCellPasses(t *testing.T) {
	b := healthyCell().restart("phase=Creating", "phase=Running")
	res := results(b)
	for name, r := range res {
		if r.Verdict != Pass {
			t.Errorf("%s = %s (%s)", name, r.Verdict, r.Reason)
		}
	}
	if v := Combine(Evaluate(EvaluateInput{Observations: b.obs})); v != Pass {
		t.Errorf("cell verdict = %s", v)
	}
}

// v0.2.0→v0.2.2 (docs/platform.md §3.5, §8): backend POST / and GET /events 401 for the
// post-upgrade session, the operator's /workflow after a spec change 401s, the
// restarted session fails with CreateContainerConfigError.
func TestCellV020ToV022Shape(t *testing.T) {
	post := ledger.RolePostUpgrade
	b := healthyCell()
	// Replace B's healthy traffic by the regression's.
	var kept []ledger.Observation
	for _, o := range b.obs {
		if o.Session == "b" && (o.Signal == ledger.SignalRunnerAccess || o.Detail == "RUN_FINISHED") {
			continue
		}
		kept = append(kept, o)
	}
	b.obs = kept
	b.add(access(ledger.PhaseAfter, ledger.CallerBackend, "GET", "/events", 401, "p", "b", post)).
		add(runner401(ledger.PhaseAfter, ledger.CallerBackend, "GET", "/events", "p", "b", post)).
		add(access(ledger.PhaseAfter, ledger.CallerBackend, "POST", "/", 401, "p", "b", post)).
		add(runner401(ledger.PhaseAfter, ledger.CallerBackend, "POST", "/", "p", "b", post)).
		add(ledger.Observation{Signal: ledger.SignalBackendProxy401, Phase: ledger.PhaseAfter, Caller: ledger.CallerBackend, Method: "POST", Path: "/", Status: 401, Detail: `AGUI Proxy: runner returned 401: {"detail":"Unauthorized"}`}).
		add(ledger.Observation{Signal: ledger.SignalBackendListener401, Phase: ledger.PhaseAfter, Caller: ledger.CallerBackend, Path: "/events", Status: 401, Namespace: "p", Session: "b", Role: post}).
		add(sig(ledger.SignalRunError401, ledger.PhaseAfter, "p", "b", post, "RUN_ERROR Runner error: HTTP 401")).
		add(access(ledger.PhaseAfter, ledger.CallerOperator, "POST", "/workflow", 401, "p", "b", post)).
		add(runner401(ledger.PhaseAfter, ledger.CallerOperator, "POST", "/workflow", "p", "b", post)).
		add(sig(ledger.SignalCondition, ledger.PhaseAfter, "p", "b", post, "WorkflowReconciled=False UpdateFailed: Runner returned 401"))
	b.restart("phase=Creating", "Ready=False CreateContainerConfigError: Runner waiting: CreateContainerConfigError - couldn't find key agui-token in Secret p/ambient-runner-token-r", "phase=Failed")
	res := results(b)
	want := map[string]Verdict{"no-runner-401": Fail, "pre-upgrade-sessions-keep-working": Pass, "post-upgrade-sessions-work": Fail,
		"restarted-session-runs": Fail, "no-coverage-gaps": Pass}
	for name, v := range want {
		if res[name].Verdict != v {
			t.Errorf("%s = %s, want %s (%s)", name, res[name].Verdict, v, res[name].Reason)
		}
	}
	no401 := res["no-runner-401"]
	if len(no401.Evidence) != 6 || !strings.Contains(no401.Reason, "6 entries") {
		t.Errorf("no-runner-401 evidence: %d entries, reason %q", len(no401.Evidence), no401.Reason)
	}
	counts := Count401s(Annotate(b.obs, "v0.2.0"))
	up := ledger.ClassUpgrade
	wantCounts := []Count401{{Caller: ledger.CallerBackend, Method: "POST", Path: "/", Class: up, Count: 1}, {Caller: ledger.CallerBackend, Method: "GET", Path: "/events", Class: up, Count: 1},
		{Caller: ledger.CallerOperator, Method: "POST", Path: "/workflow", Class: up, Count: 1}}
	if len(counts) != len(wantCounts) {
		t.Fatalf("Count401s = %+v", counts)
	}
	for i := range wantCounts {
		if counts[i] != wantCounts[i] {
			t.Errorf("Count401s[%d] = %+v, want %+v", i, counts[i], wantCounts[i])
		}
	}
	if !strings.Contains(res["restarted-session-runs"].Reason, "CreateContainerConfigError") {
		t.Errorf("restart reason should cite the entry: %s", res["restarted-session-runs"].Reason)
	}
	all := Evaluate(EvaluateInput{Observations: b.obs})
	if ok, why := Match(Outcome{Verdict: Combine(all), Rules: all}, Expectation{Verdict: Fail, Rules: map[string]Verdict{"no-runner-401": Fail, "restarted-session-runs": Fail}}); !ok {
		t.Errorf("v0.2.0→v0.2.2 must match its expectation: %s", why)
	}
}

// v0.2.0→v0.2.7: no 401 anywhere, only the restarted session fails.
func TestCellV020ToV027Shape(t *testing.T) {
	b := healthyCell().restart("phase=Creating", "Ready=False CreateContainerConfigError: Runner waiting: CreateContainerConfigError - couldn't find key agui-token in Secret p/ambient-runner-token-r", "phase=Failed")
	all := Evaluate(EvaluateInput{Observations: b.obs})
	for _, r := range all {
		want := Pass
		if r.Rule == "restarted-session-runs" {
			want = Fail
		}
		if r.Verdict != want {
			t.Errorf("%s = %s, want %s (%s)", r.Rule, r.Verdict, want, r.Reason)
		}
	}
	if len(Count401s(b.obs)) != 0 {
		t.Errorf("no 401s expected")
	}
	ok, why := Match(Outcome{Verdict: Combine(all), Rules: all}, Expectation{Verdict: Fail, Rules: map[string]Verdict{"restarted-session-runs": Fail, "no-runner-401": Pass}})
	if !ok {
		t.Errorf("expectation not matched: %s", why)
	}
}

// rejectSpecChanges makes every spec change after the upgrade answer 401.
func rejectSpecChanges(b *ledgerBuilder) *ledgerBuilder {
	for i, o := range b.obs {
		if o.Signal == ledger.SignalAPI && o.Phase == ledger.PhaseAfter {
			b.obs[i].Status = 401
		}
	}
	return b
}

func without(b *ledgerBuilder, drop func(ledger.Observation) bool) *ledgerBuilder {
	var kept []ledger.Observation
	for _, o := range b.obs {
		if !drop(o) {
			kept = append(kept, o)
		}
	}
	b.obs = kept
	return b
}

func TestNoRunner401Coverage(t *testing.T) {
	tests := []struct {
		name    string
		b       *ledgerBuilder
		verdict Verdict
		reason  string
	}{
		{"missing backend events after upgrade",
			without(healthyCell(), func(o ledger.Observation) bool { return o.Path == "/events" && o.Phase == ledger.PhaseAfter }),
			Inconclusive, "backend GET /events (after)"},
		{"backend POST / only before the upgrade",
			without(healthyCell(), func(o ledger.Observation) bool { return o.Path == "/" && o.Phase == ledger.PhaseAfter }),
			Inconclusive, "backend POST / (after)"},
		{"spec change without operator traffic",
			without(healthyCell(), func(o ledger.Observation) bool { return o.Caller == ledger.CallerOperator }),
			Inconclusive, "operator POST /workflow (after)"},
		{"no spec change: its backend and operator calls are not required",
			without(healthyCell(), func(o ledger.Observation) bool {
				return o.Caller == ledger.CallerOperator || o.Signal == ledger.SignalAPI || o.Path == "/workflow" || o.Path == "/repos/add" || o.Path == "/repos/remove"
			}),
			Pass, ""},
		{"a rejected spec change needs the backend's call but not the operator's",
			without(rejectSpecChanges(healthyCell()), func(o ledger.Observation) bool { return o.Caller == ledger.CallerOperator }),
			Pass, ""},
		{"a spec change refused after retries leaves its operator family unexercised, though another session's change reached it",
			healthyCell().add(ledger.Observation{Signal: ledger.SignalSpecChangeRefused, Phase: ledger.PhaseAfter, Caller: ledger.CallerHarness,
				Method: "POST", Path: "POST repos", Status: 500, Namespace: "p", Session: "a", Role: ledger.RolePreUpgrade}),
			Inconclusive, "operator POST /repos/add (after: POST repos refused)"},
		{"thread events path counts as /events*",
			healthyCell().add(access(ledger.PhaseAfter, ledger.CallerBackend, "GET", "/events/t1", 200, "p", "b", ledger.RolePostUpgrade)),
			Pass, ""},
		{"a 401 of the from release before the upgrade is its own known state",
			healthyCell().add(runner401(ledger.PhaseBefore, ledger.CallerUnknown, "GET", "/capabilities", "p", "a", ledger.RolePreUpgrade)),
			Pass, ""},
		{"a 401 during the upgrade fails",
			healthyCell().add(runner401(ledger.PhaseDuring, ledger.CallerOperator, "POST", "/workflow", "p", "a", ledger.RolePreUpgrade)),
			Fail, "a runner 401 caused by the upgrade"},
		{"operator repo 401 log line alone fails",
			healthyCell().add(ledger.Observation{Signal: ledger.SignalOperatorRepo401, Phase: ledger.PhaseAfter, Caller: ledger.CallerOperator, Detail: "[Reconcile] Runner returned 401 for repo add"}),
			Fail, "operator-repo-401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := results(tt.b)["no-runner-401"]
			if r.Verdict != tt.verdict || !strings.Contains(r.Reason, tt.reason) {
				t.Errorf("verdict %s reason %q, want %s containing %q", r.Verdict, r.Reason, tt.verdict, tt.reason)
			}
		})
	}
}

func TestSessionRules(t *testing.T) {
	pre, post := ledger.RolePreUpgrade, ledger.RolePostUpgrade
	tests := []struct {
		name    string
		rule    string
		b       *ledgerBuilder
		verdict Verdict
	}{
		{"pre: no run after the upgrade", "pre-upgrade-sessions-keep-working",
			without(healthyCell(), func(o ledger.Observation) bool { return o.Session == "a" && o.Phase == ledger.PhaseAfter }), Inconclusive},
		{"pre: RUN_ERROR", "pre-upgrade-sessions-keep-working",
			healthyCell().add(sig(ledger.SignalRunEvent, ledger.PhaseAfter, "p", "a", pre, "RUN_ERROR Runner is not available")), Fail},
		{"pre: listener 401 for the session", "pre-upgrade-sessions-keep-working",
			healthyCell().add(sig(ledger.SignalBackendListener401, ledger.PhaseAfter, "p", "a", pre, "Between-run listener: runner returned 401 for p/a (attempt 1/30)")), Fail},
		{"pre: a second pre-upgrade session without a run", "pre-upgrade-sessions-keep-working",
			healthyCell().add(sig(ledger.SignalCondition, ledger.PhaseBefore, "p", "a2", pre, "phase=Running")), Inconclusive},
		{"pre: no session with the role", "pre-upgrade-sessions-keep-working",
			without(healthyCell(), func(o ledger.Observation) bool { return o.Session == "a" }), Inconclusive},
		{"post: never Running", "post-upgrade-sessions-work",
			without(healthyCell(), func(o ledger.Observation) bool { return o.Detail == "phase=Running" && o.Session == "b" }), Inconclusive},
		{"post: RUN_ERROR 401", "post-upgrade-sessions-work",
			healthyCell().add(sig(ledger.SignalRunError401, ledger.PhaseAfter, "p", "b", post, "RUN_ERROR Runner error: HTTP 401")), Fail},
		{"restart: never stopped", "restarted-session-runs",
			healthyCell().add(sig(ledger.SignalCondition, ledger.PhaseAfter, "p", "r", ledger.RoleRestarted, "phase=Running")), Inconclusive},
		{"restart: stopped, not yet back", "restarted-session-runs", healthyCell().restart("phase=Creating"), Inconclusive},
		{"restart: Running only before the stop", "restarted-session-runs",
			healthyCell().restart().add(sig(ledger.SignalCondition, ledger.PhaseAfter, "p", "r", ledger.RoleRestarted, "phase=Stopped")), Inconclusive},
		{"restart: running again", "restarted-session-runs", healthyCell().restart("phase=Running"), Pass},
		{"restart: failed", "restarted-session-runs", healthyCell().restart("phase=Failed"), Fail},
		{"gaps: one gap", "no-coverage-gaps",
			healthyCell().add(ledger.Observation{Signal: ledger.SignalGap, Phase: ledger.PhaseAfter, Detail: "log of p/b-runner not covered"}), Inconclusive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := results(tt.b)[tt.rule]
			if r.Verdict != tt.verdict {
				t.Errorf("%s = %s (%s), want %s", tt.rule, r.Verdict, r.Reason, tt.verdict)
			}
			if r.Verdict == Fail && len(r.Evidence) == 0 {
				t.Errorf("a fail needs evidence")
			}
		})
	}
}

func TestRolesOverrideAndLatestRole(t *testing.T) {
	b := healthyCell()
	// Role given only by the input map: session a counts as restarted, so no
	// pre-upgrade session is left.
	rs := Evaluate(EvaluateInput{Observations: b.obs, Roles: map[string]string{"p/a": ledger.RoleRestarted}})
	for _, r := range rs {
		if r.Rule == "pre-upgrade-sessions-keep-working" && (r.Verdict != Inconclusive || !strings.Contains(r.Reason, `no session with role "pre-upgrade"`)) {
			t.Errorf("override ignored: %s %s", r.Verdict, r.Reason)
		}
	}
}

func TestEvidenceIsCapped(t *testing.T) {
	b := healthyCell()
	for i := 0; i < 3*maxEvidence; i++ {
		b.add(runner401(ledger.PhaseAfter, ledger.CallerOperator, "POST", "/workflow", "p", "b", ledger.RolePostUpgrade))
	}
	r := results(b)["no-runner-401"]
	if r.Verdict != Fail || len(r.Evidence) != maxEvidence || !strings.Contains(r.Reason, "150 entries") {
		t.Errorf("verdict %s, %d evidence, reason %q", r.Verdict, len(r.Evidence), r.Reason)
	}
}

func TestCombine(t *testing.T) {
	rr := func(vs ...Verdict) []RuleResult {
		var out []RuleResult
		for _, v := range vs {
			out = append(out, RuleResult{Verdict: v})
		}
		return out
	}
	for _, tt := range []struct {
		in   []RuleResult
		want Verdict
	}{
		{rr(Pass, Pass), Pass},
		{rr(Pass, Inconclusive), Inconclusive},
		{rr(Inconclusive, Fail, Pass), Fail},
		{rr(), Inconclusive},
	} {
		if got := Combine(tt.in); got != tt.want {
			t.Errorf("Combine(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestMatch(t *testing.T) {
	got := Outcome{Verdict: Fail, Rules: []RuleResult{{Rule: "no-runner-401", Verdict: Pass}, {Rule: "restarted-session-runs", Verdict: Fail, Reason: "phase Failed"}},
		Unauthorized: []Count401{{Caller: ledger.CallerOperator, Path: "/workflow", Count: 3}}}
	tests := []struct {
		name string
		want Expectation
		ok   bool
		why  string
	}{
		{"verdict only", Expectation{Verdict: Fail}, true, "matched"},
		{"pinned rules equal", Expectation{Verdict: Fail, Rules: map[string]Verdict{"restarted-session-runs": Fail, "no-runner-401": Pass}}, true, "matched"},
		{"verdict differs", Expectation{Verdict: Pass, Why: "fixed upstream"}, false, "verdict fail, expected pass; [expectation: fixed upstream]"},
		{"pinned rule differs", Expectation{Verdict: Fail, Rules: map[string]Verdict{"no-runner-401": Fail}}, false, "rule no-runner-401 pass, expected fail"},
		{"pinned rule unknown", Expectation{Verdict: Fail, Rules: map[string]Verdict{"no-401": Fail}}, false, "pinned to fail but not evaluated"},
		{"expected 401s seen", Expectation{Verdict: Fail, Unauthorized: []Attribution{{Caller: ledger.CallerOperator, Family: "/workflow"}, {Caller: ledger.CallerOperator}}}, true, "matched"},
		{"expected 401s missing", Expectation{Verdict: Fail, Unauthorized: []Attribution{{Caller: ledger.CallerBackend, Family: "/"}}}, false, "expected runner 401s for backend /, saw none"},
		{"authorized caller clean", Expectation{Verdict: Fail, Authorized: []Attribution{{Caller: ledger.CallerBackend}}}, true, "matched"},
		{"authorized caller 401s", Expectation{Verdict: Fail, Authorized: []Attribution{{Caller: ledger.CallerOperator}}}, false, "expected no runner 401 for operator (any path), saw 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, why := Match(got, tt.want)
			if ok != tt.ok || !strings.Contains(strings.ReplaceAll(why, " [", "; ["), strings.TrimSuffix(tt.why, ";")) {
				t.Errorf("Match = %v %q, want %v containing %q", ok, why, tt.ok, tt.why)
			}
		})
	}
}

func TestMatchDiagnoses(t *testing.T) {
	base := Outcome{Verdict: Fail, Rules: []RuleResult{{Rule: "no-runner-401", Verdict: Fail}}}
	backendNoToken := Diagnosis{Caller: ledger.CallerBackend, Class: DiagCallerSendsNoValidToken}
	restart := Diagnosis{Class: DiagSecretLacksKey}
	tests := []struct {
		name string
		got  []Diagnosis
		want []Diagnosis
		ok   bool
		why  string
	}{
		{"none expected, none made", nil, nil, true, "matched"},
		{"expected and found", []Diagnosis{backendNoToken, {Caller: ledger.CallerOperator, Class: DiagCallerSendsNoValidToken}}, []Diagnosis{backendNoToken}, true, "matched"},
		{"restart break found", []Diagnosis{restart}, []Diagnosis{restart}, true, "matched"},
		{"not diagnosed", nil, []Diagnosis{backendNoToken}, false, "expected diagnosis backend caller-sends-no-valid-token, but the cell was not diagnosed"},
		{"other class", []Diagnosis{{Caller: ledger.CallerBackend, Class: DiagRunnerRejectsSecretToken}}, []Diagnosis{backendNoToken}, false,
			"expected diagnosis backend caller-sends-no-valid-token, got runner-rejects-secret-token for backend"},
		{"other caller only", []Diagnosis{restart}, []Diagnosis{backendNoToken}, false, "got none for backend (diagnosed: secret-lacks-key)"},
		{"restart expected, none", []Diagnosis{}, []Diagnosis{restart}, false, "expected diagnosis secret-lacks-key, got none for the restart (diagnosed: nothing)"},
		// The wire refines the probe's general class; the reverse does not hold.
		{"exact class refines the general one", []Diagnosis{{Caller: ledger.CallerBackend, Class: DiagNoHeader}}, []Diagnosis{backendNoToken}, true, "matched"},
		{"general class is not the exact one", []Diagnosis{backendNoToken}, []Diagnosis{{Caller: ledger.CallerBackend, Class: DiagNoHeader}}, false,
			"expected diagnosis backend no-header, got caller-sends-no-valid-token for backend"},
		{"no header is not another name", []Diagnosis{{Caller: ledger.CallerBackend, Class: DiagNoHeader}}, []Diagnosis{{Caller: ledger.CallerBackend, Class: DiagHeaderNameMismatch}}, false,
			"expected diagnosis backend header-name-mismatch, got no-header for backend"},
		{"detail named", []Diagnosis{{Caller: ledger.CallerBackend, Class: DiagHeaderNameMismatch, Detail: "X-Ambient-Token"}},
			[]Diagnosis{{Caller: ledger.CallerBackend, Class: DiagHeaderNameMismatch, Detail: "x-ambient-token"}}, true, "matched"},
		{"other detail", []Diagnosis{{Caller: ledger.CallerBackend, Class: DiagWrongToken, Detail: "other-key k8s-token"}},
			[]Diagnosis{{Caller: ledger.CallerBackend, Class: DiagWrongToken, Detail: WrongTokenOtherSession}}, false,
			"expected diagnosis backend wrong-token (other-session), got wrong-token (other-key k8s-token) for backend"},
		{"no detail expected", []Diagnosis{{Caller: ledger.CallerBackend, Class: DiagWrongToken, Detail: WrongTokenUnknown}},
			[]Diagnosis{{Caller: ledger.CallerBackend, Class: DiagWrongToken}}, true, "matched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := base
			got.Diagnoses = tt.got
			ok, why := Match(got, Expectation{Verdict: Fail, Diagnoses: tt.want})
			if ok != tt.ok || !strings.Contains(why, tt.why) {
				t.Errorf("Match = %v %q, want %v containing %q", ok, why, tt.ok, tt.why)
			}
		})
	}
	for _, c := range DiagnosisClasses {
		if c.Phrase() == string(c) || !KnownDiagnosisClass(c) {
			t.Errorf("class %s has no phrase", c)
		}
	}
}

func TestGlobAndFamily(t *testing.T) {
	for _, tt := range []struct {
		pattern, s string
		want       bool
	}{
		{"/", "/", true}, {"/", "/x", false}, {"/events*", "/events", true}, {"/events*", "/events/t1", true},
		{"/events*", "/event", false}, {"*/workflow", "/api/projects/p/agentic-sessions/s/workflow", true},
		{"*/workflow", "/workflow/metadata", false}, {"/a*b*c", "/aXXbYYc", true}, {"/a*b*c", "/aXXcYYb", false},
	} {
		if got := glob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("glob(%q, %q) = %v", tt.pattern, tt.s, got)
		}
	}
}

// A YAML plain scalar ends at " #": a description must not lose its tail.
func TestRuleDescriptionsAreWhole(t *testing.T) {
	for _, r := range DefaultRules().Rules {
		if d := strings.TrimSpace(r.Description); !strings.HasSuffix(d, ".") && !strings.HasSuffix(d, ")") {
			t.Errorf("rule %s: description %q looks cut short (quote it when it holds \" #\")", r.Name, d)
		}
	}
}

// Issue 25 item 1: session a is pre-upgrade, gets operator 401s caused by the
// upgrade, and is then restarted. Its final role is restarted, but the 401s
// it got as a pre-upgrade session must still fail the pre-upgrade rule (a
// second pre-upgrade session that is fine must not hide them).
func TestRestartedSessionKeepsItsPreUpgradeEvidence(t *testing.T) {
	pre, post, re := ledger.RolePreUpgrade, ledger.RolePostUpgrade, ledger.RoleRestarted
	b := &ledgerBuilder{}
	b.cover(ledger.PhaseBefore, "a", pre).cover(ledger.PhaseAfter, "c", post)
	b.add(sig(ledger.SignalCondition, ledger.PhaseBefore, "p", "b", pre, "phase=Running")).
		add(sig(ledger.SignalRunEvent, ledger.PhaseAfter, "p", "b", pre, "RUN_FINISHED")).
		add(sig(ledger.SignalRunEvent, ledger.PhaseAfter, "p", "a", pre, "RUN_FINISHED")).
		add(runner401(ledger.PhaseAfter, ledger.CallerOperator, "POST", "/workflow", "p", "a", pre)).
		add(sig(ledger.SignalOperatorWorkflow401, ledger.PhaseAfter, "p", "a", pre, "[Reconcile] Failed to reconcile workflow for p/a: runner workflow update failed: 401")).
		add(sig(ledger.SignalCondition, ledger.PhaseAfter, "p", "c", post, "phase=Running")).
		add(sig(ledger.SignalRunEvent, ledger.PhaseAfter, "p", "c", post, "RUN_FINISHED")).
		add(sig(ledger.SignalCondition, ledger.PhaseAfter, "p", "a", re, "phase=Stopping")).
		add(sig(ledger.SignalCondition, ledger.PhaseAfter, "p", "a", re, "phase=Running"))
	res := results(b)
	r := res["pre-upgrade-sessions-keep-working"]
	if r.Verdict != Fail || !strings.Contains(r.Reason, "session p/a") {
		t.Errorf("pre-upgrade-sessions-keep-working = %s (%s), want fail for session p/a", r.Verdict, r.Reason)
	}
	if strings.Join(r.Sessions, ",") != "p/a,p/b" {
		t.Errorf("pre-upgrade rule judged sessions %v, want [p/a p/b]", r.Sessions)
	}
	if rr := res["restarted-session-runs"]; rr.Verdict != Pass || strings.Join(rr.Sessions, ",") != "p/a" {
		t.Errorf("restarted-session-runs = %s on %v (%s), want pass on p/a", rr.Verdict, rr.Sessions, rr.Reason)
	}
}

// An entry without a role takes the role its session held at its time, not
// the session's last role.
func TestEntryWithoutRoleTakesTheRoleOfItsTime(t *testing.T) {
	pre, re := ledger.RolePreUpgrade, ledger.RoleRestarted
	b := healthyCell()
	b.add(sig(ledger.SignalRunEvent, ledger.PhaseAfter, "p", "a", "", "RUN_ERROR boom")).
		add(sig(ledger.SignalCondition, ledger.PhaseAfter, "p", "a", re, "phase=Stopping"))
	if r := results(b)["pre-upgrade-sessions-keep-working"]; r.Verdict != Fail {
		t.Errorf("a RUN_ERROR while session a was %s: rule = %s (%s), want fail", pre, r.Verdict, r.Reason)
	}
}
