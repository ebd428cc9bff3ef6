package cell

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// The diagnose stage runs after the rules and before the cell's one
// judgement, so a cell that expects a diagnosis is matched with it the first
// time (nobody matches the result again afterwards).
func TestTheDiagnoseStageRunsBeforeTheOneJudgement(t *testing.T) {
	want := verdict.Diagnosis{Caller: ledger.CallerOperator, Class: verdict.DiagCallerSendsNoValidToken}
	var bare Result
	evaluate(&bare, nil, nil)
	c := upgrade.Cell{From: "v0.2.0", To: "v0.2.2", Expect: verdict.Expectation{Verdict: bare.Verdict, Diagnoses: []verdict.Diagnosis{want}}}
	calls := 0
	stage := func(_ context.Context, res Result) *diagnose.Findings {
		calls++
		if len(res.Rules) == 0 {
			t.Error("the diagnose stage ran before the rules")
		}
		return &diagnose.Findings{Pairs: []diagnose.PairDiagnosis{{Caller: want.Caller, Class: want.Class}}}
	}
	ctx := context.Background()
	run := func(diag func(context.Context, Result) *diagnose.Findings, runErr error) Result {
		r := newRunner(Input{Target: &cluster.Target{}, Cell: c, Log: io.Discard, Diagnose: diag})
		return r.finish(ctx, "", runErr)
	}

	if res := run(stage, nil); calls != 1 || !res.Matched || res.Diagnosis == nil {
		t.Errorf("with the stage: %d calls, matched %v (%s), want 1 call and a match", calls, res.Matched, res.Mismatch)
	}
	if res := run(nil, nil); res.Matched || !strings.Contains(res.Mismatch, string(want.Class)) {
		t.Errorf("without the stage: matched %v (%s), want a mismatch naming the missing diagnosis", res.Matched, res.Mismatch)
	}
	calls = 0
	if res := run(stage, errors.New("reset cluster: apiserver down")); calls != 0 || res.Matched || res.Verdict != verdict.Inconclusive {
		t.Errorf("a cell that could not run: %d diagnose calls, matched %v, verdict %s", calls, res.Matched, res.Verdict)
	}
}
