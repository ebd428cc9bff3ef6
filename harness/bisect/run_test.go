package bisect

import (
	"context"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

func TestOutcomeOf(t *testing.T) {
	for s, want := range map[Status]int{StatusFound: exitcode.Regression, StatusRange: exitcode.Regression, StatusGoodIsBad: exitcode.Regression,
		StatusNoneBad: exitcode.OK, StatusInconclusive: exitcode.Infrastructure, StatusInfrastructure: exitcode.Infrastructure, StatusInterrupted: exitcode.Infrastructure} {
		err := OutcomeOf(s, "the answer")
		if got := exitcode.Of(err); got != want {
			t.Errorf("%s: exit %d, want %d", s, got, want)
		}
		if err != nil && err.Error() != "the answer" {
			t.Errorf("%s: message %q, want the answer's sentence", s, err)
		}
	}
}

// TestSectionOfAFileBuild: the answer names the first bad build, its repro
// line recreates it as a candidate, and its diagnosis is its cell's.
func TestSectionOfAFileBuild(t *testing.T) {
	cat := simulated(t)
	builds, err := LoadBuildsFile("testdata/faults-k3.yaml", cat)
	if err != nil {
		t.Fatal(err)
	}
	from, _ := cat.Release("v0.2.7")
	plan := Plan{Catalog: cat, From: from, Builds: builds, Good: 0, Bad: 4, WorstCase: 4, ReproCatalog: "simulated"}
	plan.Order.Text = "all-at-once"
	f := &fakeBuilds{verdicts: seeded(5, 2)}
	step := func(ctx context.Context, i, attempt int) Step {
		s := f.step(ctx, i, attempt)
		res := cellrun.Report{Result: cell.Result{Cell: stepCell(plan, builds[i]), Verdict: s.Verdict}}
		if s.Verdict == verdict.Fail {
			res.Diagnosis = &diagnose.Findings{Note: "the backend sends no valid token"}
		}
		s.Result = &res
		return s
	}
	names := make([]string, len(builds))
	for i, b := range builds {
		names[i] = b.Name
	}
	out := Output{Plan: plan, Answer: Search(context.Background(), SearchInput{Builds: names, Good: 0, Bad: 4, Step: step})}
	s := section(plan, Input{}, out)
	if s.FirstBad != "build-3" || s.LastGood != "build-2" || s.Cells != 4 || s.LinearCells != 3 || len(s.Steps) != 4 {
		t.Fatalf("section %+v", s)
	}
	for _, w := range []string{"make repro FROM=v0.2.7 TO=build-3", "CANDIDATE_NAME=build-3",
		"CANDIDATE_IMAGES=operator=localhost/ambient-sim/vteam_operator:v0.2.7,backend=localhost/ambient-sim/vteam_backend:v0.2.7-fault-websocket-no-header"} {
		if !strings.Contains(s.Repro, w) {
			t.Errorf("repro %q lacks %q", s.Repro, w)
		}
	}
	if s.Headline() != "first bad build: build-3" {
		t.Errorf("headline %q", s.Headline())
	}
}
