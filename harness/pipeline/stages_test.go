package pipeline

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
)

func names(stages []Stage) []string {
	var out []string
	for _, s := range stages {
		out = append(out, s.Name)
	}
	return out
}

// The cell and a sweep combination open with the same list; only the cell
// preloads (the sweep preloads once for all its combinations).
func TestOpeningIsOneListThatLeavesOutThePreloadWhenNotAsked(t *testing.T) {
	r := &deploy.Rendered{Release: "v0.2.0"}
	cellOpening := names(Opening(OpeningInput{Preload: []*deploy.Rendered{r, r}, Install: InstallInput{Rendered: r}}))
	sweepOpening := names(Opening(OpeningInput{Install: InstallInput{Rendered: r}}))
	if want := []string{StageReset, StagePreload, StageInstall, StageObserve, StageBackend}; !slices.Equal(cellOpening, want) {
		t.Errorf("with a preload: %v, want %v", cellOpening, want)
	}
	if want := []string{StageReset, StageInstall, StageObserve, StageBackend}; !slices.Equal(sweepOpening, want) {
		t.Errorf("without: %v, want %v", sweepOpening, want)
	}
}

// Stages run in order and stop at the first that fails, with its own error;
// Close ends what they started, last first, once.
func TestRunStagesStopsAtTheFirstFailureAndCloseEndsWhatRan(t *testing.T) {
	var did []string
	stage := func(name string, err error) Stage {
		return Stage{Name: name, Run: func(_ context.Context, r *Run) error {
			did = append(did, name)
			r.OnClose(func() { did = append(did, "close "+name) })
			return err
		}}
	}
	boom := errors.New("install: rollout timed out")
	p := New(&cluster.Target{})
	run, err := p.RunStages(context.Background(), stage("a", nil), stage("b", boom), stage("c", nil))
	if !errors.Is(err, boom) || err.Error() != boom.Error() {
		t.Fatalf("error %v, want the failing stage's own %v", err, boom)
	}
	if !slices.Equal(run.Ran, []string{"a", "b"}) {
		t.Errorf("ran %v, want [a b]", run.Ran)
	}
	run.Close()
	run.Close()
	if want := []string{"a", "b", "close b", "close a"}; !slices.Equal(did, want) {
		t.Errorf("did %v, want %v", did, want)
	}
}
