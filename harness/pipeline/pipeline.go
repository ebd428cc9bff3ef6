// Package pipeline holds the named stages a cell is made of — reset, preload,
// install, observe (detectors), sessions and traffic, spec changes, the
// upgrade plan — over one platform handle (target, namespace, ledger, log).
// A run is a list of stages run in order (RunStages): the matrix cell and
// each combination of the compatibility sweep open with the same list
// (Opening) and append their own; bench runs the stages it times.
// Each stage that is a phase records its timing in the handle's
// progress.Printer, so callers time stages from the pipeline, not from logs.
package pipeline

import (
	"context"
	"fmt"
	"io"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/detect"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
	"github.com/ambient-e2e/upgrade-harness/harness/wire"
)

// Stable step keys of the stages (progress.Timing.Step).
const (
	StepReset     = "reset"
	StepPreload   = "preload"
	StepDeploy    = "deploy"
	StepDetectors = "detectors"
)

// Platform is the one handle every stage works on.
type Platform struct {
	Target    *cluster.Target
	Namespace string
	Ledger    *ledger.Ledger
	Logf      func(format string, a ...any)
	// Progress prints the stages and keeps their timings.
	Progress *progress.Printer
	// WireImage, when set, runs the wire witness (harness/wire) from this
	// image with the detectors.
	WireImage string
	// specChanges counts workflow selections, so each one is new to its session.
	specChanges int
}

// Option configures a Platform.
type Option func(*Platform)

// WithNamespace sets the platform namespace (default platform.Namespace).
func WithNamespace(ns string) Option { return func(p *Platform) { p.Namespace = ns } }

// WithLedger records into l (default a new ledger).
func WithLedger(l *ledger.Ledger) Option { return func(p *Platform) { p.Ledger = l } }

// WithLogf sends the stages' detail lines to logf (default: dropped).
func WithLogf(logf func(string, ...any)) Option { return func(p *Platform) { p.Logf = logf } }

// WithProgress prints and times the stages with pr (default: timed, not printed).
func WithProgress(pr *progress.Printer) Option { return func(p *Platform) { p.Progress = pr } }

// WithWireWitness runs the wire witness from image with the detectors ("" = none).
func WithWireWitness(image string) Option { return func(p *Platform) { p.WireImage = image } }

// New returns the handle of the platform on target.
func New(target *cluster.Target, opts ...Option) *Platform {
	p := &Platform{Target: target, Namespace: platform.Namespace}
	for _, o := range opts {
		o(p)
	}
	if p.Ledger == nil {
		p.Ledger = ledger.New()
	}
	if p.Logf == nil {
		p.Logf = func(string, ...any) {}
	}
	if p.Progress == nil {
		p.Progress = progress.New(io.Discard)
	}
	return p
}

// Reset removes every trace of an earlier platform and its sessions.
func (p *Platform) Reset(ctx context.Context) error {
	tg := p.Target
	return p.Progress.Step(StepReset, "reset cluster", func() error {
		_, err := deploy.Reset(ctx, deploy.ResetInput{Config: tg.Rest, Client: tg.Kube, Dynamic: tg.Dynamic, PlatformNamespace: p.Namespace, Logf: p.Logf})
		return err
	})
}

// Preload loads every image of the renders into the cluster's node.
func (p *Platform) Preload(ctx context.Context, rendered ...*deploy.Rendered) error {
	return p.Progress.Step(StepPreload, "preload images", func() error {
		return p.Target.LoadImages(ctx, deploy.ListImages(rendered...)...)
	})
}

// InstallInput is one install of a render.
type InstallInput struct {
	Rendered *deploy.Rendered
	// Timeout bounds the rollouts.
	Timeout time.Duration
}

// Install applies a render and waits for its rollouts.
func (p *Platform) Install(ctx context.Context, in InstallInput) error {
	tg := p.Target
	return p.Progress.Step(StepDeploy, "deploy "+in.Rendered.Release, func() error {
		p.recordReleases(in.Rendered, platform.UpgradeComponents)
		return deploy.Install(ctx, deploy.InstallInput{Config: tg.Rest, Client: tg.Kube, Rendered: in.Rendered, Timeout: in.Timeout, Logf: p.Logf})
	})
}

// StartDetectors starts every detector into the ledger; stop is never nil.
func (p *Platform) StartDetectors(ctx context.Context) (stop func(), err error) {
	stop = func() {}
	err = p.Progress.Step(StepDetectors, "start detectors", func() error {
		in := detect.StartAllInput{Kube: p.Target.Kube, Dynamic: p.Target.Dynamic, Ledger: p.Ledger, PlatformNamespace: p.Namespace}
		if p.WireImage != "" {
			in.Also = func(r *detect.CallerResolver) []detect.Detector {
				return []detect.Detector{wire.NewWitness(wire.WitnessInput{Kube: p.Target.Kube, Ledger: p.Ledger, Resolver: r, Image: p.WireImage,
					LoadImage: func(ctx context.Context) error { return p.Target.LoadImages(ctx, p.WireImage) }, Logf: p.Logf})}
			}
		}
		s, err := detect.StartAll(ctx, in)
		if s != nil {
			stop = s
		}
		return err
	})
	return stop, err
}

// BackendClient reaches the backend API as test-user, recording every call
// in the ledger; closeFn is never nil.
func (p *Platform) BackendClient(ctx context.Context, redactor *secrets.Redactor) (client *session.Client, closeFn func(), err error) {
	c, closeFn, err := session.NewBackendClient(ctx, session.NewBackendClientInput{Rest: p.Target.Rest, Kube: p.Target.Kube, Ledger: p.Ledger, Redactor: redactor, Logf: p.Logf})
	if closeFn == nil {
		closeFn = func() {}
	}
	return c, closeFn, err
}

// ApplyPlanInput is an upgrade plan and its bounds.
type ApplyPlanInput struct {
	Plan           []deploy.UpgradeStep
	RolloutTimeout time.Duration
	// RunnerSettle is waited after a step that only switches the runner image.
	RunnerSettle time.Duration
}

// ApplyPlan applies an upgrade plan step by step and waits for each rollout.
func (p *Platform) ApplyPlan(ctx context.Context, in ApplyPlanInput) ([]deploy.StepResult, error) {
	tg := p.Target
	return deploy.Upgrade(ctx, deploy.UpgradeInput{Config: tg.Rest, Client: tg.Kube, Plan: in.Plan, FieldManager: deploy.DefaultFieldManager,
		RolloutTimeout: in.RolloutTimeout, RunnerSettle: in.RunnerSettle, Logf: p.Logf,
		OnStep: func(i int, s deploy.UpgradeStep) {
			p.Logf("step %d: %s", i+1, s)
			p.recordReleases(s.Objects, s.Components)
		}})
}

// recordReleases tells the ledger that components run rendered's release
// from now on: a pod's release is the one deployed at its creation, whatever
// its image is also tagged.
func (p *Platform) recordReleases(rendered *deploy.Rendered, components []platform.Component) {
	if rendered == nil || p.Ledger == nil {
		return
	}
	for _, c := range components {
		p.Ledger.ComponentReleasedAt(ledger.Caller(c), rendered.Release, time.Now(), rendered.Images.Get(c))
	}
}

// ExpectRunnerImageInput names the runner image sessions must run.
type ExpectRunnerImageInput struct {
	Image    string
	Sessions []session.SessionRef
	// Hint is added to the error: what to do when the image differs.
	Hint string
}

// ExpectRunnerImage checks that the runner pods of the sessions run Image;
// otherwise the caller cannot tell what it tested.
func (p *Platform) ExpectRunnerImage(ctx context.Context, in ExpectRunnerImageInput) error {
	for _, ref := range in.Sessions {
		pod, err := p.Target.Kube.CoreV1().Pods(ref.Project).Get(ctx, platform.RunnerPod(ref.Name), metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("runner pod of %s: %w", ref, err)
		}
		for _, c := range pod.Spec.Containers {
			if c.Name == platform.RunnerContainer && !deploy.SameImage(c.Image, in.Image) {
				msg := fmt.Sprintf("session %s runs runner image %s, but the plan pins %s", ref, c.Image, in.Image)
				if in.Hint != "" {
					msg += " (" + in.Hint + ")"
				}
				return fmt.Errorf("%s", msg)
			}
		}
	}
	return nil
}

// RunnerImage is the runner image a render pins in its agent registry.
func RunnerImage(r *deploy.Rendered) (string, error) {
	runners, _, err := deploy.RegistryImages(r)
	if err != nil || len(runners) == 0 {
		return "", fmt.Errorf("no runner image pinned in the %s render: %v", r.Release, err)
	}
	return runners[0], nil
}
