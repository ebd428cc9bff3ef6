package matrix

import (
	"context"
	"io"
	"reflect"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// The cell judges itself once (after its diagnose stage); the driver only
// adds its run number, repro line and bundle beside that result and leaves
// the verdict, the match and everything else of it as cell.Run returned it.
func TestRunCellAddsToTheCellsResultAndRewritesNothing(t *testing.T) {
	in, plan := fivePlan(t, 1, 1)
	c := plan.Cells[0]
	for _, v := range []verdict.Verdict{verdict.Fail, verdict.Pass} {
		f := newFakeCells()
		f.outcome = func(cell.Input, int) verdict.Verdict { return v }
		runner := f.runner()
		var returned cell.Result
		run := runner.run
		runner.run = func(ctx context.Context, ci cell.Input) cell.Result {
			returned = run(ctx, ci)
			return returned
		}
		target := &cluster.Target{Name: "uh-t", NodeImage: "kindest/node:fake"}
		got := runCell(context.Background(), runner, OneCellInput{Target: target, Catalog: plan.Catalog, Cell: c, Repro: plan.Repro,
			Artifacts: in.Artifacts, Run: 2, Log: io.Discard}, progress.New(io.Discard))
		if !reflect.DeepEqual(got.Result, returned) {
			t.Errorf("%s: runCell changed the cell's result:\n got %+v\nwant %+v", v, got.Result, returned)
		}
		if got.Run != 2 || got.Repro == "" {
			t.Errorf("%s: run %d repro %q, want run 2 and a repro line", v, got.Run, got.Repro)
		}
		wantBundle := ""
		if got.NeedsBundle() {
			wantBundle = report.BundleDir(c, 2)
		}
		if got.BundleDir != wantBundle {
			t.Errorf("%s (matched %v): bundle %q, want %q", v, got.Matched, got.BundleDir, wantBundle)
		}
	}
}
