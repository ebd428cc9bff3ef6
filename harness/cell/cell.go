// Package cell runs one from→to cell of the matrix end to end and reads like
// the upgrade story: reset the cluster, install `from`, start detectors and
// sessions with traffic, upgrade in place, create sessions on `to`, change
// specs, restart a pre-upgrade session, then judge the ledger.
package cell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/utils/clock"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/chaos"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/interrupt"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/pipeline"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/poll"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// Project is the project namespace the cell's sessions live in.
const Project = "uh-cell"

// Timing holds the cell's waits as data. Traffic windows end as soon as the
// ledger holds the evidence a verdict needs (see EvidenceWindow); the durations
// here are their bounds.
type Timing struct {
	// PreUpgradeTraffic is the longest traffic runs on `from` before the
	// upgrade; it ends once every session made MinRounds calls of every family.
	PreUpgradeTraffic time.Duration
	// PostUpgradeTraffic is the longest the cell waits after the rollout for
	// the evidence of the post-upgrade rules.
	PostUpgradeTraffic time.Duration
	// PassWindow is how long after the rollout a cell must have watched before
	// it may pass: at least one operator requeue (30 s, docs/platform.md §3.2), the
	// period of its token refresh. A cell already failing needs no more.
	PassWindow time.Duration
	// MinRounds is how many calls of every traffic family each session must
	// make in a window.
	MinRounds int
	// Settle lets the last log lines and status changes reach the ledger.
	Settle          time.Duration
	TrafficInterval time.Duration
	RolloutTimeout  time.Duration
	SessionTimeout  time.Duration
	// RunnerSettle is waited after an ordered step that switches the runner
	// image without restarting the operator: the operator caches the agent
	// registry for 60 s and the kubelet refreshes the mounted ConfigMap within
	// about a minute (docs/platform.md §3.4).
	RunnerSettle time.Duration
	// RestartAfterEvidence bounds how long the restart of pre-upgrade session
	// a waits for a's own evidence on `to` (a run at the cell's working level,
	// or what fails it) before it starts anyway.
	RestartAfterEvidence time.Duration
	// EventsGapThreshold: an agui/events disconnection longer than this is a
	// coverage gap. The backend's Recreate rollout takes the stream down for as
	// long as no backend pod runs, when no event can be produced; the stream
	// replays persisted events on reconnect.
	EventsGapThreshold time.Duration
}

// DefaultTiming exercises every path of docs/platform.md §1 at least twice (traffic
// every 3 s) and watches a passing cell for one operator requeue (30 s) after
// the rollout.
func DefaultTiming() Timing {
	return Timing{PreUpgradeTraffic: 45 * time.Second, PostUpgradeTraffic: 60 * time.Second, PassWindow: 35 * time.Second,
		MinRounds: 2, Settle: 3 * time.Second,
		TrafficInterval: 3 * time.Second, RolloutTimeout: 3 * time.Minute, SessionTimeout: 3 * time.Minute,
		RunnerSettle: 100 * time.Second, RestartAfterEvidence: 30 * time.Second, EventsGapThreshold: 45 * time.Second}
}

// Input configures one cell.
type Input struct {
	Target   *cluster.Target
	Catalog  *catalog.Catalog
	Cell     upgrade.Cell
	From, To catalog.Release
	// Redactor learns every token the cell sees, so reports can hide them.
	Redactor *secrets.Redactor
	Log      io.Writer
	Timing   *Timing
	// Faults are injected on purpose at their points (harness/chaos; tests):
	// each lands in the ledger and in Result.Faults.
	Faults []chaos.Fault
	// Diagnose, when set, is the diagnose stage: it runs on the cluster as
	// the cell left it, after the rules and before the one judgement against
	// the expectation, for a cell that ran to its end (nil: not diagnosed).
	Diagnose func(ctx context.Context, res Result) *diagnose.Findings
	// WireImage, when set, runs the wire witness with the detectors
	// (harness/wire): what each caller sent, for diagnosis.
	WireImage string
}

// Run runs the cell and returns what it showed; infrastructure errors become
// an inconclusive, unmatched result with Error set (never a pass). The cluster
// is left as the cell ended, so the caller can collect a bundle from it.
func Run(ctx context.Context, in Input) Result {
	r := newRunner(in)
	// Where the cell was when it was stopped from outside (a signal, a dead
	// engine): the phase whose step then fails only says "context canceled".
	// The phase is the one running when the signal arrived (or when ctx
	// ended), found from the phases' times: by the time the cell sees the
	// cancel, the step it interrupted has often ended already.
	stopAt := make(chan time.Time, 1)
	stopWatch := context.AfterFunc(ctx, func() { stopAt <- time.Now() })
	err := r.run(ctx)
	where := ""
	if !stopWatch() && ctx.Err() != nil {
		at := <-stopAt
		var st stoppedAt
		if errors.As(context.Cause(ctx), &st) && !st.StoppedAt().IsZero() {
			at = st.StoppedAt()
		}
		where = r.whereAt(at)
	}
	return r.finish(ctx, where, err)
}

// stoppedAt is a cause that knows when the stop happened (a signal's arrival,
// the first failed ping of an engine that died), earlier than the cancel.
type stoppedAt interface{ StoppedAt() time.Time }

type runner struct {
	in  Input
	t   Timing
	log io.Writer
	p   *progress.Printer
	// plat is the handle of the cell's stages (pipeline): target, ledger, log.
	plat    *pipeline.Platform
	result  Result
	ledger  *ledger.Ledger
	traffic []*session.Traffic
	rules   *verdict.RuleSet

	// staged is the run of the cell's stages (see stages); closing it ends
	// what they started, the detectors and the backend client last.
	staged *pipeline.Run
	faults *chaos.Injector

	mu sync.Mutex
	// windows are the traffic windows waited out so far (End zero while one runs).
	windows []span
}

// span is a named stretch of the cell's time.
type span struct {
	Name       string
	Start, End time.Time
}

// whereAt says what the cell was doing at t: the innermost phase running
// then, else the traffic window it waited out, else "between phases".
func (r *runner) whereAt(t time.Time) string {
	inner, innerStart := "", time.Time{}
	for _, ph := range r.p.Phases() {
		if !t.Before(ph.Started) && !t.After(ph.Started.Add(ph.Took)) && !ph.Started.Before(innerStart) {
			inner, innerStart = ph.Name, ph.Started
		}
	}
	if inner != "" {
		return inner
	}
	if cur := r.p.Current(); cur != "" {
		return cur
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.windows {
		if !t.Before(w.Start) && (w.End.IsZero() || !t.After(w.End)) {
			return "the traffic window " + w.Name
		}
	}
	return "between phases"
}

func newRunner(in Input) *runner {
	t := DefaultTiming()
	if in.Timing != nil {
		t = *in.Timing
	}
	if in.Log == nil {
		in.Log = os.Stderr
	}
	if in.Redactor == nil {
		in.Redactor = secrets.NewRedactor()
	}
	r := &runner{in: in, t: t, log: in.Log, p: progress.New(in.Log), ledger: ledger.New(), rules: verdict.DefaultRules()}
	r.result = Result{Cell: in.Cell, NodeImage: in.Target.NodeImage, Started: time.Now()}
	r.plat = pipeline.New(in.Target, pipeline.WithLedger(r.ledger), pipeline.WithProgress(r.p), pipeline.WithLogf(r.logf),
		pipeline.WithWireWitness(in.WireImage))
	return r
}

func (r *runner) logf(format string, a ...any) {
	fmt.Fprintf(r.log, "[cell %s] %s\n", r.result.Cell.Name(), fmt.Sprintf(format, a...))
}

func (r *runner) run(ctx context.Context) error {
	fromR, toR, err := r.render()
	if err != nil {
		return err
	}
	r.ledger.SetReleaseOf(pipeline.ReleaseOf(pipeline.ReleaseOfInput{From: r.in.From.Version, FromR: fromR, To: r.in.To.Version, ToR: toR, Overrides: r.in.Cell.Overrides}))
	r.staged, err = r.plat.RunStages(ctx, r.stages(fromR, toR, &story{})...)
	r.closeStaged()
	return err
}

// Names of the cell's own stages that are not phases (Result.Phases keeps
// the phases: StepPreSessions, StepUpgrade, …).
const (
	StageFaults          = "faults"
	StageBaseline        = "baseline"
	StageAfterTheUpgrade = "after the upgrade"
	StageSettle          = "settle"
)

// story is what the cell's stages share: the sessions and the upgrade.
type story struct {
	// a and b are the pre-upgrade sessions, c and d the post-upgrade ones.
	a, b, c, d session.SessionRef
	trafficA   *session.Traffic
	plan       []deploy.UpgradeStep
	rolledOut  time.Time
	restart    *restartRun
}

// stages is the cell as one list run in order: the opening every run opens
// with (reset, preload both releases, install from, observe, the backend
// client), then the upgrade story. What a stage starts, Close ends, last
// first: the restart, the traffic, the faults, then the opening's client
// and detectors.
func (r *runner) stages(fromR, toR *deploy.Rendered, st *story) []pipeline.Stage {
	stage := func(name string, run func(ctx context.Context, client *session.Client, run *pipeline.Run) error) pipeline.Stage {
		return pipeline.Stage{Name: name, Run: func(ctx context.Context, pr *pipeline.Run) error { return run(ctx, pr.Client, pr) }}
	}
	stages := append(pipeline.Opening(pipeline.OpeningInput{Preload: []*deploy.Rendered{fromR, toR},
		Install: pipeline.InstallInput{Rendered: fromR, Timeout: r.t.RolloutTimeout}, Redactor: r.in.Redactor}),
		stage(StageFaults, func(_ context.Context, _ *session.Client, run *pipeline.Run) error {
			var err error
			if r.faults, err = r.newInjector(); err != nil {
				return err
			}
			// Faults end before the detectors stop, so a deleted pod's last lines are read.
			run.OnClose(r.waitFaults)
			run.OnClose(r.stopTraffic)
			return nil
		}),
		// a and b are the pre-upgrade sessions, both created on from, so both
		// have from's token Secret (docs/platform.md §3.5 item 7). a is also the
		// one the cell restarts: it keeps its pre-upgrade role until it has shown
		// its own evidence on `to`, then turns restarted and is restarted beside
		// the post-upgrade window (see startRestart).
		stage(StepPreSessions, func(ctx context.Context, client *session.Client, _ *pipeline.Run) error {
			if err := r.p.Step(StepPreSessions, "create pre-upgrade sessions", func() error {
				if err := session.PrepareProject(ctx, session.PrepareProjectInput{Client: client, Project: Project}); err != nil {
					return err
				}
				var err error
				st.a, st.b, err = r.startSessionPair(ctx, client, ledger.RolePreUpgrade, "uh-cr-before")
				return err
			}); err != nil {
				return err
			}
			// One traffic per session: a's stops at its restart, b's runs on.
			var err error
			if st.trafficA, err = r.startTraffic(ctx, client, st.a); err != nil {
				return err
			}
			if _, err := r.startTraffic(ctx, client, st.b); err != nil {
				return err
			}
			r.faults.Fire(ctx, chaos.AtBaseline)
			return nil
		}),
		// The baseline: every call family on the from release, the operator's
		// included (its calls follow spec changes, so they are made, not waited for).
		stage(StageBaseline, func(ctx context.Context, client *session.Client, _ *pipeline.Run) error {
			trafficFrom := time.Now()
			calls := r.changeSpecs(ctx, client, st.a, st.b)
			r.p.Waiting("baseline on %s and %s before the upgrade: every call family reaches a runner (at most %s)", st.a.Name, st.b.Name, r.t.PreUpgradeTraffic)
			r.waitForEvidence(ctx, EvidenceWindow{Name: "before the upgrade", Since: trafficFrom, Rounds: r.t.MinRounds, Calls: calls, Max: r.t.PreUpgradeTraffic})
			return nil
		}),
		stage(StepUpgrade, func(ctx context.Context, _ *session.Client, _ *pipeline.Run) error {
			r.result.UpgradeStarted = time.Now()
			r.markPhase(ledger.PhaseDuring, r.result.UpgradeStarted)
			r.faults.Fire(ctx, chaos.AtUpgrade)
			st.plan = deploy.PlanUpgrade(fromR, toR, r.in.Cell.Order.Steps)
			if err := r.p.Step(StepUpgrade, fmt.Sprintf("upgrade %s → %s (%s)", r.in.From.Version, r.in.To.Version, r.in.Cell.Order.Text), func() error {
				steps, err := r.applyPlan(ctx, st.plan)
				r.result.Rollouts = RolloutsOf(steps, fromR.Images)
				return err
			}); err != nil {
				return err
			}
			st.rolledOut = time.Now()
			r.markPhase(ledger.PhaseAfter, st.rolledOut)
			return nil
		}),
		// A pre-upgrade session stopped and started again on `to`
		// (docs/platform.md §3.5 item 7), beside the post-upgrade window rather
		// than after it: its old runner may take its whole grace period to stop
		// (docs/platform.md §11 item 4), so it starts at the rollout and runs
		// beside the post-upgrade sessions' creation and the window. Its new
		// runner pod is created only once the old one is gone, so the node never
		// holds more than four session pods (docs/reference.md, 2 cores). The
		// window does not wait for a's traffic, which ends at the restart.
		stage(StepRestart, func(ctx context.Context, client *session.Client, run *pipeline.Run) error {
			a := st.a
			r.forgetTraffic(st.trafficA)
			// It outlives this stage: the stage after the window waits for it.
			st.restart = r.startRestart(ctx, a.Name, func(ctx context.Context) (session.RestartResult, error) {
				r.p.Waiting("%s keeps working on %s before its restart (at most %s)", a.Name, r.in.To.Version, r.t.RestartAfterEvidence)
				if !r.waitForSessionEvidence(ctx, a, st.rolledOut) {
					r.logf("%s showed no run at working level %s after the upgrade within %s; restarting it anyway", a.Name, r.in.Cell.Expect.Working.Or(verdict.DefaultWorkingLevel), r.t.RestartAfterEvidence)
				}
				st.trafficA.Stop()
				r.ledger.SetSessionRole(a.Project, a.Name, ledger.RoleRestarted)
				return session.RestartSession(ctx, session.RestartSessionInput{Client: client, Ledger: r.ledger, Session: a, StartTimeout: r.t.SessionTimeout})
			})
			run.OnClose(st.restart.stop) // a stage that fails below ends it first
			return nil
		}),
		stage(StepPostSessions, func(ctx context.Context, client *session.Client, _ *pipeline.Run) error {
			if err := r.p.Step(StepPostSessions, "create post-upgrade sessions", func() error {
				var err error
				if st.c, st.d, err = r.startSessionPair(ctx, client, ledger.RolePostUpgrade, "uh-cr-after"); err != nil {
					return err
				}
				// The cell only means something if new sessions run the runner the
				// plan says (to's when the order upgrades the runner, else from's).
				return r.expectRunnerImage(ctx, toR, fromR, st.c, st.d)
			}); err != nil {
				return err
			}
			if _, err := r.startTraffic(ctx, client, st.c, st.d); err != nil {
				return err
			}
			r.faults.Fire(ctx, chaos.AtAfterUpgrade)
			return nil
		}),
		// Spec changes make the operator call runners (docs/platform.md §1.4
		// drift path): on b, a pre-upgrade session that is not restarting, and
		// on c, a post-upgrade one.
		stage(StageAfterTheUpgrade, func(ctx context.Context, client *session.Client, _ *pipeline.Run) error {
			calls := r.changeSpecs(ctx, client, st.b, st.c)
			r.p.Waiting("traffic on every session after the upgrade until the rules have their evidence (at most %s after the rollout); %s restarting meanwhile", r.t.PostUpgradeTraffic, st.a.Name)
			r.waitForEvidence(ctx, EvidenceWindow{Name: "after the upgrade", Since: st.rolledOut, Rounds: r.t.MinRounds, Calls: calls,
				Rules: r.rules.ForEvidence(verdict.EvidenceAfterUpgrade), From: r.in.From.Version, PassAfter: r.t.PassWindow, Max: r.t.PostUpgradeTraffic})
			r.stopTraffic()
			return st.restart.wait()
		}))
	if r.in.Cell.Rollback {
		stages = append(stages, stage(StepRollback, func(ctx context.Context, client *session.Client, _ *pipeline.Run) error {
			return r.rollBack(ctx, client, st.plan[len(st.plan)-1].Objects, fromR, st.b, st.c, st.d)
		}))
	}
	return append(stages, stage(StageSettle, func(ctx context.Context, _ *session.Client, _ *pipeline.Run) error {
		r.p.Waiting("settling %s for the last signals", r.t.Settle)
		sleep(ctx, r.t.Settle)
		return ctx.Err()
	}))
}

// rollBack goes back from the state the upgrade left (upgraded) to from in
// place, as people did after #1425, and checks that sessions created on to
// (c, d) and the remaining pre-upgrade session (b) keep working on from.
func (r *runner) rollBack(ctx context.Context, client *session.Client, upgraded, fromR *deploy.Rendered, b, c, d session.SessionRef) error {
	started := time.Now()
	r.markPhase(ledger.PhaseRollingBack, started)
	plan := deploy.PlanUpgrade(upgraded, fromR, nil)
	if err := r.p.Step(StepRollback, fmt.Sprintf("roll back %s → %s", r.in.To.Version, r.in.From.Version), func() error {
		steps, err := r.applyPlan(ctx, plan)
		r.result.Rollouts = append(r.result.Rollouts, RolloutsOf(steps, upgraded.Images)...)
		return err
	}); err != nil {
		return err
	}
	rolledBack := time.Now()
	r.markPhase(ledger.PhaseRolledBack, rolledBack)
	if _, err := r.startTraffic(ctx, client, b, c, d); err != nil {
		return err
	}
	calls := r.changeSpecs(ctx, client, c)
	r.p.Waiting("traffic on %s, %s and %s after the rollback until the rules have their evidence (at most %s)", b.Name, c.Name, d.Name, r.t.PostUpgradeTraffic)
	r.waitForEvidence(ctx, EvidenceWindow{Name: "after the rollback", Since: rolledBack, Rounds: r.t.MinRounds, Calls: calls,
		Rules: r.rules.ForEvidence(verdict.EvidenceAfterRollback), From: r.in.From.Version, PassAfter: r.t.PassWindow, Max: r.t.PostUpgradeTraffic})
	r.stopTraffic()
	return nil
}

// applyPlan applies an upgrade plan step by step and waits for each rollout.
func (r *runner) applyPlan(ctx context.Context, plan []deploy.UpgradeStep) ([]deploy.StepResult, error) {
	return r.plat.ApplyPlan(ctx, pipeline.ApplyPlanInput{Plan: plan, RolloutTimeout: r.t.RolloutTimeout, RunnerSettle: r.t.RunnerSettle})
}

// markPhase starts phase p at t: the ledger places every observation by its
// own time against these marks (the cell's one phase clock).
func (r *runner) markPhase(p ledger.Phase, at time.Time) { r.ledger.MarkPhase(p, at) }

// expectRunnerImage checks that the runner pods of refs run the runner image
// the upgrade plan pins (to's when the order upgrades the runner, else
// from's); otherwise the cell cannot tell what it tested.
func (r *runner) expectRunnerImage(ctx context.Context, toR, fromR *deploy.Rendered, refs ...session.SessionRef) error {
	src := fromR
	if r.in.Cell.Upgrades(platform.Runner) {
		src = toR
	}
	img, err := pipeline.RunnerImage(src)
	if err != nil {
		return err
	}
	return r.plat.ExpectRunnerImage(ctx, pipeline.ExpectRunnerImageInput{Image: img, Sessions: refs,
		Hint: "the operator did not pick up the new agent registry in time: raise Timing.RunnerSettle"})
}

func (r *runner) render() (*deploy.Rendered, *deploy.Rendered, error) {
	from, err := deploy.RenderRelease(r.in.Catalog, r.in.From, platform.Images{})
	if err != nil {
		return nil, nil, err
	}
	to, err := deploy.RenderRelease(r.in.Catalog, r.in.To, r.in.Cell.Overrides)
	if err != nil {
		return nil, nil, err
	}
	if len(to.LeftOut) > 0 {
		names := make([]string, 0, len(to.LeftOut))
		for _, lo := range to.LeftOut {
			names = append(names, fmt.Sprint(lo.ObjectRef))
		}
		r.logf("left out of %s (%d objects the selection does not keep): %s", r.in.To.Version, len(names), strings.Join(names, ", "))
	}
	if len(to.Lowered) > 0 {
		r.logf("requests lowered so the sessions fit the node: %s", strings.Join(to.Lowered, "; "))
	}
	return from, to, nil
}

// newInjector returns the injector of the cell's faults (nil when it has none).
func (r *runner) newInjector() (*chaos.Injector, error) {
	if len(r.in.Faults) == 0 {
		return nil, nil
	}
	node := ""
	if r.in.Target.Kind != nil {
		node = r.in.Target.Kind.ControlPlaneContainer()
	}
	return chaos.NewInjector(chaos.InjectorInput{Kube: r.in.Target.Kube, Ledger: r.ledger, Faults: r.in.Faults,
		NodeContainer: node, Logf: r.logf})
}

// waitFaults waits for every fired fault to finish and keeps what each did.
func (r *runner) waitFaults() {
	if r.faults != nil {
		r.result.Faults = r.faults.Wait()
		r.faults = nil
	}
}

func (r *runner) closeStaged() {
	if r.staged != nil {
		r.staged.Close()
	}
}

// startSessionPair starts one session through the backend and one as a
// custom resource named crName, both in role, side by side: each mostly
// waits for its pod to start and its runner to be ready.
func (r *runner) startSessionPair(ctx context.Context, client *session.Client, role, crName string) (api, cr session.SessionRef, err error) {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		api, err = session.StartSession(gctx, session.StartSessionInput{Client: client, Ledger: r.ledger, Project: Project, Role: role, Timeout: r.t.SessionTimeout})
		return err
	})
	g.Go(func() (err error) {
		cr, err = r.startCRSession(gctx, client, crName, role)
		return err
	})
	err = g.Wait()
	return api, cr, err
}

// startCRSession creates a session as an AgenticSession object, the way kubectl users do.
func (r *runner) startCRSession(ctx context.Context, client *session.Client, name, role string) (session.SessionRef, error) {
	ref := session.SessionRef{Project: Project, Name: name}
	r.ledger.SetSessionRole(Project, name, role)
	spec := session.DefaultStartSpec()
	if _, err := session.CreateSessionCR(ctx, r.in.Target.Dynamic, Project, name, spec); err != nil {
		return ref, err
	}
	// Any end but Running (a terminal phase, a pod that cannot run) is a dead session.
	_, err := client.WaitForSessionPhase(ctx, session.WaitForSessionPhaseInput{Session: ref,
		Phases: []string{session.PhaseRunning}, Timeout: r.t.SessionTimeout})
	return ref, err
}

func (r *runner) startTraffic(ctx context.Context, client *session.Client, refs ...session.SessionRef) (*session.Traffic, error) {
	t, err := r.plat.StartTraffic(ctx, pipeline.TrafficInput{Client: client, Sessions: refs, Interval: r.t.TrafficInterval, GapThreshold: r.t.EventsGapThreshold})
	if err != nil {
		return nil, err
	}
	r.traffic = append(r.traffic, t)
	return t, nil
}

// forgetTraffic leaves t out of the evidence windows from now on; its owner
// stops it.
func (r *runner) forgetTraffic(t *session.Traffic) {
	r.traffic = slices.DeleteFunc(r.traffic, func(x *session.Traffic) bool { return x == t })
}

// waitForSessionEvidence waits (at most Timing.RestartAfterEvidence) until the
// ledger holds s's own evidence after since: a run at the cell's working
// level (RUN_FINISHED, or RUN_STARTED at run-started), or a 401 or RUN_ERROR,
// which decides pre-upgrade-sessions-keep-working for it either way, or the
// session failed (terminal).
func (r *runner) waitForSessionEvidence(ctx context.Context, s session.SessionRef, since time.Time) bool {
	want := "RUN_FINISHED"
	if r.in.Cell.Expect.Working.Or(verdict.DefaultWorkingLevel) == verdict.WorkingRunStarted {
		want = "RUN_STARTED"
	}
	shown := func() bool {
		return len(r.ledger.Filter(func(o ledger.Observation) bool {
			if o.Namespace != s.Project || o.Session != s.Name || o.Time.Before(since) {
				return false
			}
			// A failed session is terminal: nothing more will come.
			return o.IsUnauthorized() || (o.Signal == ledger.SignalRunEvent && (o.Detail == want || strings.HasPrefix(o.Detail, "RUN_ERROR"))) ||
				(o.Signal == ledger.SignalSessionState && strings.Contains(o.Detail, "phase=Failed"))
		})) > 0
	}
	ctx, cancel := context.WithTimeout(ctx, r.t.RestartAfterEvidence)
	defer cancel()
	_ = poll.Until(ctx, clock.RealClock{}, 500*time.Millisecond, func(context.Context) (bool, error) { return shown(), nil })
	return shown()
}

// restartRun is a restart running beside the cell's other work.
type restartRun struct {
	done   chan error
	cancel context.CancelFunc
}

// startRestart runs restart (session.RestartSession of the session named
// name) in the background as the step StepRestart, and keeps how the old
// runner stopped in Result.RestartStop.
func (r *runner) startRestart(ctx context.Context, name string, restart func(context.Context) (session.RestartResult, error)) *restartRun {
	ctx, cancel := context.WithCancel(ctx)
	run := &restartRun{done: make(chan error, 1), cancel: cancel}
	go func() {
		run.done <- r.p.Step(StepRestart, "restart pre-upgrade session "+name, func() error {
			res, err := restart(ctx)
			if res.Stop.Reason != "" {
				r.mu.Lock()
				r.result.RestartStop = &res.Stop
				r.mu.Unlock()
			}
			if err == nil {
				r.logf("restarted session reached %s %s %s; %s", res.Phase, res.ReadyReason, res.ReadyMessage, res.Stop)
			}
			return err
		})
	}()
	return run
}

// wait returns the restart's error once it has ended; the next calls return nil.
func (run *restartRun) wait() error {
	err, ok := <-run.done
	if ok {
		close(run.done)
	}
	return err
}

// stop cancels the restart and waits for it to end.
func (run *restartRun) stop() {
	run.cancel()
	_ = run.wait()
}

func (r *runner) stopTraffic() {
	for _, t := range r.traffic {
		t.Stop()
	}
	r.traffic = nil
}

// changeSpecs makes one round of spec changes on refs (pipeline.ChangeSpecs)
// and returns the operator calls they must cause.
func (r *runner) changeSpecs(ctx context.Context, client *session.Client, refs ...session.SessionRef) []pipeline.RunnerCall {
	return r.plat.ChangeSpecs(ctx, pipeline.ChangeSpecsInput{Client: client, Sessions: refs, ReconcileTimeout: 10 * time.Second})
}

// waitForEvidence runs one EvidenceWindow over the cell's ledger and traffic
// and logs how it ended.
func (r *runner) waitForEvidence(ctx context.Context, w EvidenceWindow) {
	r.mu.Lock()
	i := len(r.windows)
	r.windows = append(r.windows, span{Name: w.Name, Start: time.Now()})
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.windows[i].End = time.Now()
		r.mu.Unlock()
	}()
	w.Working = r.in.Cell.Expect.Working
	r.logf("%s", WaitForEvidence(ctx, r.ledger, r.traffic, w).describe(w))
}

// finish stops the watchers, evaluates the rules over the ledger, runs the
// diagnose stage and judges the outcome once. A cell
// stopped from outside (ctx cancelled at where) fails with the cause, not
// "context canceled"; an interrupted one is marked so and never matches.
func (r *runner) finish(ctx context.Context, where string, runErr error) Result {
	r.stopTraffic()
	r.closeStaged()
	res := r.result
	if where != "" && runErr != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(runErr, cause) {
			if errors.Is(runErr, context.Canceled) {
				runErr = fmt.Errorf("%w during %s", cause, where)
			} else {
				runErr = fmt.Errorf("%w during %s (then: %v)", cause, where, runErr)
			}
		}
		if ie, ok := interrupt.Of(ctx); ok {
			res.Interrupted = interrupt.Name(ie.Signal) + " during " + where
		}
	}
	if runErr != nil {
		r.logf("could not run: %v", runErr)
	}
	evaluate(&res, r.ledger.All(), runErr)
	if r.in.Diagnose != nil && runErr == nil && res.Interrupted == "" {
		res.Diagnosis = r.in.Diagnose(ctx, res)
	}
	match(&res, runErr)
	res.Phases = r.p.Phases()
	res.Duration = time.Since(res.Started)
	return res
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
