package pipeline

import (
	"context"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

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
	Ran []string

	mu      sync.Mutex // stages side by side may add closers at once
	closers []func()
}

// OnClose adds f to what Close ends; the last added ends first.
func (r *Run) OnClose(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closers = append(r.closers, f)
}

// Close ends what the stages started (the backend client, then the
// detectors); later calls do nothing.
func (r *Run) Close() {
	r.mu.Lock()
	closers := r.closers
	r.closers = nil
	r.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
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

// Opening is the list every run opens with: reset, preload (when asked,
// side by side with the reset: one clears the API objects of the last run,
// the other fills the node's image store, and neither needs the other),
// install, observe (the detectors) and the backend client.
func Opening(in OpeningInput) []Stage {
	first := ResetStage()
	if len(in.Preload) > 0 {
		first = SideBySide(first, PreloadStage(in.Preload...))
	}
	return []Stage{first, InstallStage(in.Install), ObserveStage(), BackendStage(in.Redactor)}
}

// SideBySide is one stage that runs stages at once, each still timed as its
// own phase. The first to fail cancels the others, and its error is the
// stage's. Its name joins theirs with "+", as Run.Ran lists it.
func SideBySide(stages ...Stage) Stage {
	parts := make([]string, len(stages))
	for i, s := range stages {
		parts[i] = s.Name
	}
	return Stage{Name: strings.Join(parts, "+"), Run: func(ctx context.Context, r *Run) error {
		g, gctx := errgroup.WithContext(ctx)
		for _, s := range stages {
			g.Go(func() error { return s.Run(gctx, r) })
		}
		return g.Wait()
	}}
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
