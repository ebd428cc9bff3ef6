package cell

import (
	"io"
	"slices"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/pipeline"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
)

// The cell is one list of stages: the opening every run opens with (the
// sweep's combinations open with the same list), then the upgrade story;
// the rollback only when the cell asks for it.
func TestTheCellIsTheOpeningThenTheUpgradeStory(t *testing.T) {
	from, to := &deploy.Rendered{Release: "v0.2.0"}, &deploy.Rendered{Release: "v0.2.2"}
	opening := []string{pipeline.StageReset, pipeline.StagePreload, pipeline.StageInstall, pipeline.StageObserve, pipeline.StageBackend}
	upgradeStory := []string{StageFaults, StepPreSessions, StageBaseline, StepUpgrade, StepRestart, StepPostSessions, StageAfterTheUpgrade}
	for _, rollback := range []bool{false, true} {
		r := newRunner(Input{Target: &cluster.Target{}, Cell: upgrade.Cell{From: "v0.2.0", To: "v0.2.2", Rollback: rollback}, Log: io.Discard})
		var got []string
		for _, s := range r.stages(from, to, &story{}) {
			got = append(got, s.Name)
		}
		want := slices.Concat(opening, upgradeStory)
		if rollback {
			want = append(want, StepRollback)
		}
		want = append(want, StageSettle)
		if !slices.Equal(got, want) {
			t.Errorf("rollback %v: stages %v, want %v", rollback, got, want)
		}
	}
}
