package diagnose

import (
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

func TestScore(t *testing.T) {
	backendNoToken := verdict.Diagnosis{Caller: ledger.CallerBackend, Class: verdict.DiagCallerSendsNoValidToken}
	expect := verdict.Expectation{Verdict: verdict.Fail,
		Unauthorized: []verdict.Attribution{{Caller: ledger.CallerBackend, Family: "/"}},
		Authorized:   []verdict.Attribution{{Caller: ledger.CallerOperator}},
		Diagnoses:    []verdict.Diagnosis{backendNoToken}}
	caught := verdict.Outcome{Verdict: verdict.Fail, Unauthorized: []verdict.Count401{{Caller: ledger.CallerBackend, Path: "/", Class: ledger.ClassUpgrade, Count: 4}},
		Diagnoses: []verdict.Diagnosis{backendNoToken}}
	misattributed := caught
	misattributed.Unauthorized = append(misattributed.Unauthorized, verdict.Count401{Caller: ledger.CallerOperator, Path: "/workflow", Class: ledger.ClassUpgrade, Count: 1})
	undiagnosed := caught
	undiagnosed.Diagnoses = []verdict.Diagnosis{{Caller: ledger.CallerBackend, Class: verdict.DiagNotProbed}}
	s := NewScore([]ScoredCell{
		{Name: "a", Fault: "header-name", Expect: expect, Outcome: caught},
		{Name: "b", Fault: "other-session", Expect: expect, Outcome: misattributed},
		{Name: "c", Fault: "websocket-no-header", Expect: expect, Outcome: undiagnosed},
		{Name: "d", Fault: "operator-key", Expect: expect, Outcome: verdict.Outcome{Verdict: verdict.Pass, Diagnoses: []verdict.Diagnosis{}}},
		{Name: "e", Fault: "old-secrets", Expect: expect, Error: "cluster gone"},
		{Name: "clean", Expect: verdict.Expectation{Verdict: verdict.Pass}, Outcome: verdict.Outcome{Verdict: verdict.Pass, Diagnoses: []verdict.Diagnosis{},
			Unauthorized: []verdict.Count401{{Caller: ledger.CallerOperator, Path: "/workflow", Class: ledger.ClassFromRelease, Count: 9}}}},
		{Name: "noisy", Expect: verdict.Expectation{Verdict: verdict.Pass}, Outcome: verdict.Outcome{Verdict: verdict.Pass,
			Diagnoses: []verdict.Diagnosis{backendNoToken}, Unauthorized: []verdict.Count401{{Caller: ledger.CallerBackend, Path: "/", Class: ledger.ClassUpgrade, Count: 1}}}},
		{Name: "regression", Expect: verdict.Expectation{Verdict: verdict.Fail}},
	})
	if got := s.Summary(); got != "3/5 detected, 2/5 attributed, 2/5 diagnosed, 1/2 false alarms (1 cells could not run)" {
		t.Errorf("Summary = %q", got)
	}
	why := map[string]string{}
	for _, f := range s.Faults {
		why[f.Cell] = f.Why
	}
	if !strings.Contains(why["b"], "expected no runner 401 for operator (any path), saw 1") || !strings.Contains(why["c"], "got not-probed for backend") ||
		!strings.Contains(why["d"], "not detected: verdict pass") || why["a"] != "" {
		t.Errorf("why = %v", why)
	}
	if c := s.Controls[1]; !c.FalseAlarm || c.Why != "1 runner 401s caused by the upgrade; diagnosed backend caller-sends-no-valid-token" || s.Controls[0].FalseAlarm {
		t.Errorf("controls = %+v", s.Controls)
	}
	if NewScore([]ScoredCell{{Name: "plain", Expect: verdict.Expectation{Verdict: verdict.Pass}}}) != nil {
		t.Error("a run without fault cells has no score")
	}
}

// A fault expecting the exact class scores as diagnosed only with it: the
// probe-only fallback, another class or another detail is a miss.
func TestScoreCountsTheExactClass(t *testing.T) {
	want := verdict.Diagnosis{Caller: ledger.CallerBackend, Class: verdict.DiagHeaderNameMismatch, Detail: "X-Ambient-Token"}
	expect := verdict.Expectation{Verdict: verdict.Fail, Diagnoses: []verdict.Diagnosis{want}}
	outcome := func(ds ...verdict.Diagnosis) verdict.Outcome {
		return verdict.Outcome{Verdict: verdict.Fail, Diagnoses: ds}
	}
	s := NewScore([]ScoredCell{
		{Name: "exact", Fault: "header-name", Expect: expect, Outcome: outcome(want)},
		{Name: "fallback", Fault: "header-name", Expect: expect, Outcome: outcome(verdict.Diagnosis{Caller: ledger.CallerBackend, Class: verdict.DiagCallerSendsNoValidToken})},
		{Name: "other class", Fault: "header-name", Expect: expect, Outcome: outcome(verdict.Diagnosis{Caller: ledger.CallerBackend, Class: verdict.DiagNoHeader})},
		{Name: "other header", Fault: "header-name", Expect: expect, Outcome: outcome(verdict.Diagnosis{Caller: ledger.CallerBackend, Class: verdict.DiagHeaderNameMismatch, Detail: "X-Token"})},
	})
	got := []bool{}
	for _, f := range s.Faults {
		got = append(got, f.Diagnosed)
	}
	if s.Diagnosed != 1 || !got[0] || got[1] || got[2] || got[3] {
		t.Errorf("diagnosed %v (%d), want only the exact class and header", got, s.Diagnosed)
	}
	if w := s.Faults[1].Why; !strings.Contains(w, "expected diagnosis backend header-name-mismatch (X-Ambient-Token), got caller-sends-no-valid-token for backend") {
		t.Errorf("why %q", w)
	}
}
