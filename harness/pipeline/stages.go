package pipeline

import (
	"context"

	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
)

// Stage names: what Run.Ran lists.
const (
	StageReset   = "reset"
	StagePreload = "preload"
	StageInstall = "install"
	StageObserve = "observe"
	StageBackend = "backend client"
)

// Stage is one named step of a run. A run is a list of stages run in order,
// as kind's cluster create runs its actions: the matrix cell and each
// combination of the compatibility sweep open with the same list (Opening),
// the sweep leaving out what it does not need, and append their own.
type Stage struct {
	Name string
	Run  func(ctx context.Context, r *Run) error
}

// Run is what the stages of one run share: the platform handle, the backend
// client once a stage has opened it, and what Close must end.
type Run struct {
	Platform *Platform
	// Client reaches the backend API (set by BackendStage).
	Client *session.Client
	// Ran names the stages started so far, in order (the last one failed
	// when RunStages returned an error).
	Ran     []string
	closers []func()
}

// OnClose adds f to what Close ends; the last added ends first.
func (r *Run) OnClose(f func()) { r.closers = append(r.closers, f) }

// Close ends what the stages started (the backend client, then the
// detectors); later calls do nothing.
func (r *Run) Close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
	r.closers = nil
}

// RunStages runs stages in order and stops at the first that fails; its
// error is the stage's own (the stages that are phases already name
// themselves). The Run is never nil: Close it, also after an error.
func (p *Platform) RunStages(ctx context.Context, stages ...Stage) (*Run, error) {
	r := &Run{Platform: p}
	for _, s := range stages {
		r.Ran = append(r.Ran, s.Name)
		if err := s.Run(ctx, r); err != nil {
			p.Logf("stage %s failed", s.Name)
			return r, err
		}
	}
	return r, nil
}

// OpeningInput is what the opening stages install.
type OpeningInput struct {
	// Preload, when set, is loaded into the node after the reset; the sweep
	// preloads once for all its combinations and leaves it out.
	Preload []*deploy.Rendered
	Install InstallInput
	// Redactor learns the tokens the backend client sees.
	Redactor *secrets.Redactor
}

// Opening is the list every run opens with: reset, preload (when asked),
// install, observe (the detectors) and the backend client.
func Opening(in OpeningInput) []Stage {
	stages := []Stage{ResetStage()}
	if len(in.Preload) > 0 {
		stages = append(stages, PreloadStage(in.Preload...))
	}
	return append(stages, InstallStage(in.Install), ObserveStage(), BackendStage(in.Redactor))
}

// ResetStage removes every trace of an earlier platform (Platform.Reset).
func ResetStage() Stage {
	return Stage{Name: StageReset, Run: func(ctx context.Context, r *Run) error { return r.Platform.Reset(ctx) }}
}

// PreloadStage loads the renders' images into the node (Platform.Preload).
func PreloadStage(rendered ...*deploy.Rendered) Stage {
	return Stage{Name: StagePreload, Run: func(ctx context.Context, r *Run) error { return r.Platform.Preload(ctx, rendered...) }}
}

// InstallStage installs a render and waits for its rollouts (Platform.Install).
func InstallStage(in InstallInput) Stage {
	return Stage{Name: StageInstall, Run: func(ctx context.Context, r *Run) error { return r.Platform.Install(ctx, in) }}
}

// ObserveStage starts the detectors (Platform.StartDetectors); Close stops them.
func ObserveStage() Stage {
	return Stage{Name: StageObserve, Run: func(ctx context.Context, r *Run) error {
		stop, err := r.Platform.StartDetectors(ctx)
		r.OnClose(stop)
		return err
	}}
}

// BackendStage opens the backend client (Platform.BackendClient) into
// Run.Client; Close closes it.
func BackendStage(redactor *secrets.Redactor) Stage {
	return Stage{Name: StageBackend, Run: func(ctx context.Context, r *Run) error {
		c, closeFn, err := r.Platform.BackendClient(ctx, redactor)
		r.OnClose(closeFn)
		r.Client = c
		return err
	}}
}
