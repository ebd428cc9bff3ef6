// Package sweep runs the compatibility sweep of two releases A and B: every
// combination of operator, backend and runner versions from {A, B} is
// installed fresh on one cluster (reset between), a session is created, every
// call family is driven until it reached the runner, and what the runner
// answered each family is recorded (diagnose.Compat).
//
// Mixed versions are built exactly as ordered upgrades build them
// (deploy.PlanUpgrade with one step per component that runs B; the last step's
// objects are installed), so the runner and state-sync images are pinned in
// the agent registry JSON as in a cell.
package sweep

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/pipeline"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/poll"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
)

// Project is the project namespace of the sweep's sessions.
const Project = "uh-compat"

// Timing holds the sweep's bounds as data.
type Timing struct {
	// Evidence is the longest a combination waits for every call family to
	// reach the runner; what has not by then is "not exercised".
	Evidence time.Duration
	// TrafficInterval paces the repeating families.
	TrafficInterval time.Duration
	RolloutTimeout  time.Duration
	SessionTimeout  time.Duration
	// Attempts: a combination whose families did not all reach the runner is
	// installed fresh again, up to this many times in all.
	Attempts int
}

// DefaultTiming: the families of one session reach the runner within seconds;
// 40 s also covers the operator's first drift reconcile and one 30 s requeue.
func DefaultTiming() Timing {
	return Timing{Evidence: 40 * time.Second, TrafficInterval: time.Second, RolloutTimeout: 3 * time.Minute, SessionTimeout: 2 * time.Minute, Attempts: 2}
}

// Input configures Run.
type Input struct {
	Target   *cluster.Target
	Catalog  *catalog.Catalog
	From, To catalog.Release
	Timing   *Timing
	Redactor *secrets.Redactor
	Log      io.Writer
	// Clock times the evidence waits (default the real clock).
	Clock clock.Clock
}

// Run sweeps every combination and returns the compatibility data with its
// culprit sentence. A combination that cannot run is recorded with its
// error (and its families not exercised); the error returned is the first
// such, or a render or preload failure.
func Run(ctx context.Context, in Input) (diagnose.Compat, error) {
	s := newSweeper(in)
	out := diagnose.Compat{Catalog: in.Catalog.Name, From: in.From.Version, To: in.To.Version, Started: time.Now()}
	fromR, err := deploy.RenderRelease(in.Catalog, in.From, platform.Images{})
	if err != nil {
		return out, err
	}
	toR, err := deploy.RenderRelease(in.Catalog, in.To, platform.Images{})
	if err != nil {
		return out, err
	}
	if err := pipeline.New(in.Target).Preload(ctx, fromR, toR); err != nil {
		return out, err
	}
	versions := []string{in.From.Version, in.To.Version}
	if in.From.Version == in.To.Version {
		versions = versions[:1]
	}
	releaseOf := pipeline.ReleaseOf(pipeline.ReleaseOfInput{From: in.From.Version, FromR: fromR, To: in.To.Version, ToR: toR})
	var combos [][3]string
	for _, op := range versions {
		for _, be := range versions {
			for _, ru := range versions {
				combos = append(combos, [3]string{op, be, ru})
			}
		}
	}
	var firstErr error
	for i, c := range combos {
		if ctx.Err() != nil {
			out.Duration = time.Since(out.Started)
			return out, ctx.Err()
		}
		comb := s.combination(ctx, c[0], c[1], c[2], fromR, toR, releaseOf)
		s.logf("%d/%d %s: %s in %s", i+1, len(combos), comb.Name(), summary(comb), comb.Duration.Round(100*time.Millisecond))
		if comb.Error != "" && firstErr == nil {
			firstErr = fmt.Errorf("%s: %s", comb.Name(), comb.Error)
		}
		out.Combinations = append(out.Combinations, comb)
	}
	out.Sentence = out.Culprits()
	out.Duration = time.Since(out.Started)
	return out, firstErr
}

type sweeper struct {
	in  Input
	t   Timing
	log io.Writer
	clk clock.Clock
}

func newSweeper(in Input) *sweeper {
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
	clk := in.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &sweeper{in: in, t: t, log: in.Log, clk: clk}
}

func (s *sweeper) logf(format string, a ...any) {
	fmt.Fprintf(s.log, "[sweep %s→%s] %s\n", s.in.From.Version, s.in.To.Version, fmt.Sprintf(format, a...))
}

// Objects is the render of one combination: from's when every component
// runs from, else the last step of the ordered upgrade that moves exactly
// the components that run to.
func Objects(fromR, toR *deploy.Rendered, from, to string, op, be, ru string) *deploy.Rendered {
	var steps []upgrade.Step
	for _, c := range []struct {
		comp    platform.Component
		version string
	}{{platform.Operator, op}, {platform.Backend, be}, {platform.Runner, ru}} {
		if c.version == to && to != from {
			steps = append(steps, upgrade.Step{c.comp})
		}
	}
	if len(steps) == 0 {
		return fromR
	}
	plan := deploy.PlanUpgrade(fromR, toR, steps)
	return plan[len(plan)-1].Objects
}

func (s *sweeper) combination(ctx context.Context, op, be, ru string, fromR, toR *deploy.Rendered, releaseOf func(string) string) diagnose.Combination {
	start := time.Now()
	comb := diagnose.Combination{Operator: op, Backend: be, Runner: ru}
	objs := Objects(fromR, toR, s.in.From.Version, s.in.To.Version, op, be, ru)
	comb.Images = objs.Images
	for attempt := 1; attempt <= max(s.t.Attempts, 1); attempt++ {
		l := ledger.New()
		l.SetReleaseOf(releaseOf)
		plat := pipeline.New(s.in.Target, pipeline.WithLedger(l))
		since, missed, err := s.drive(ctx, plat, objs)
		comb.Phases = map[string]time.Duration{}
		for _, t := range plat.Progress.Phases() {
			comb.Phases[t.Step] += t.Took
		}
		comb.Attempts = attempt
		comb.Error = ""
		if err != nil {
			comb.Error = err.Error()
		}
		comb.Results = results(l.All(), since)
		// The combination's objects are still there (the next one resets):
		// the 401 families get the class the wire shows.
		diagnose.ClassifyFamilies(ctx, diagnose.ClassifyFamiliesInput{Kube: s.in.Target.Kube, Ledger: l.All(), Since: since}, comb.Results)
		if len(missed) == 0 || err != nil || ctx.Err() != nil {
			break
		}
		if attempt < s.t.Attempts {
			// Rare on kind (a fresh backend's calls once answered 404 by something
			// other than the runner for a whole window): install it fresh again.
			comb.Retried = append(comb.Retried, fmt.Sprintf("attempt %d: not reached the runner: %s", attempt, strings.Join(missed, ", ")))
			s.logf("%s: installing it fresh once more", comb.Name())
		}
	}
	comb.Duration = time.Since(start)
	return comb
}

// drive runs a combination's stages (stages) and returns when the session
// was created and the families that did not reach the runner; the ledger
// holds what the runner answered.
func (s *sweeper) drive(ctx context.Context, plat *pipeline.Platform, objs *deploy.Rendered) (time.Time, []string, error) {
	var c combinationRun
	run, err := plat.RunStages(ctx, s.stages(plat, objs, &c)...)
	run.Close()
	return c.since, c.missed, err
}

// combinationRun is what a combination's own stages share.
type combinationRun struct {
	since  time.Time
	ref    session.SessionRef
	missed []string
}

// stages is a combination: the opening every run opens with, installing
// objs fresh (no preload: Run preloaded both releases once), then one
// session driven until every family reached the runner (or the Evidence
// bound). It has no upgrade and no restart stage, so none of their waits.
func (s *sweeper) stages(plat *pipeline.Platform, objs *deploy.Rendered, c *combinationRun) []pipeline.Stage {
	return append(pipeline.Opening(pipeline.OpeningInput{Install: pipeline.InstallInput{Rendered: objs, Timeout: s.t.RolloutTimeout}, Redactor: s.in.Redactor}),
		pipeline.Stage{Name: StepProject, Run: func(ctx context.Context, r *pipeline.Run) error {
			return plat.Progress.Step(StepProject, "prepare project", func() error {
				return session.PrepareProject(ctx, session.PrepareProjectInput{Client: r.Client, Project: Project})
			})
		}},
		pipeline.Stage{Name: StepSession, Run: func(ctx context.Context, r *pipeline.Run) error {
			c.since = time.Now()
			return plat.Progress.Step(StepSession, "start session", func() error {
				var err error
				if c.ref, err = session.StartSession(ctx, session.StartSessionInput{Client: r.Client, Ledger: plat.Ledger, Project: Project, Timeout: s.t.SessionTimeout}); err != nil {
					return err
				}
				return plat.ExpectRunnerImage(ctx, pipeline.ExpectRunnerImageInput{Image: objs.Images.Runner, Sessions: []session.SessionRef{c.ref}})
			})
		}},
		pipeline.Stage{Name: StepTraffic, Run: func(ctx context.Context, r *pipeline.Run) error {
			return plat.Progress.Step(StepTraffic, "traffic", func() error {
				var err error
				c.missed, err = s.reachEveryFamily(ctx, plat, r.Client, c.ref, c.since)
				return err
			})
		}})
}

// reachEveryFamily drives ref's traffic and one round of spec changes until
// every family reached the runner since since (or the Evidence bound) and
// returns the families that did not.
func (s *sweeper) reachEveryFamily(ctx context.Context, plat *pipeline.Platform, client *session.Client, ref session.SessionRef, since time.Time) ([]string, error) {
	l := plat.Ledger
	traffic, err := plat.StartTraffic(ctx, pipeline.TrafficInput{Client: client, Sessions: []session.SessionRef{ref}, Interval: s.t.TrafficInterval})
	if err != nil {
		return nil, err
	}
	defer traffic.Stop()
	// Spec changes are made once: wait until the backend's traffic reaches the
	// runner (its Service has an endpoint), or they would find no runner.
	reachable := func() bool {
		return len(filter(l.All(), since, ref, func(o ledger.Observation) bool { return o.Caller == ledger.CallerBackend })) > 0
	}
	if err := poll.Until(ctx, s.clk, 250*time.Millisecond, func(context.Context) (bool, error) {
		return reachable() || s.clk.Since(since) >= s.t.Evidence/2, nil
	}); err == nil && !reachable() {
		s.logf("no backend call reached the runner of %s within %s; changing its spec anyway", ref, s.t.Evidence/2)
	}
	calls := plat.ChangeSpecs(ctx, pipeline.ChangeSpecsInput{Client: client, Sessions: []session.SessionRef{ref},
		ReconcileTimeout: 15 * time.Second, WriteRefusedRepo: true})
	want := wanted(calls)
	deadline := s.t.Evidence
	_ = poll.Until(ctx, s.clk, 500*time.Millisecond, func(context.Context) (bool, error) {
		return len(missing(l.All(), since, ref, want)) == 0 || s.clk.Since(since) >= deadline, nil
	})
	m := missing(l.All(), since, ref, want)
	if len(m) > 0 {
		s.logf("not reached the runner within %s: %s; the backend API answered: %s", deadline, strings.Join(m, ", "), apiAnswers(l.All(), since))
	}
	return m, ctx.Err()
}

// Step keys of a combination's own stages (diagnose.Combination.Phases,
// beside pipeline.StepReset, StepDeploy and StepDetectors).
const (
	StepProject = "project"
	StepSession = "session"
	StepTraffic = "traffic"
)

// wanted is every family a combination must see: the backend's always, the
// operator's where a spec change caused it.
func wanted(calls []pipeline.RunnerCall) []platform.CallFamily {
	operatorCalls := map[platform.CallFamily]bool{}
	for _, c := range calls {
		operatorCalls[c.Family()] = true
	}
	var out []platform.CallFamily
	for _, f := range platform.CallFamilies {
		if f.Caller == platform.Operator && !operatorCalls[f] {
			continue
		}
		out = append(out, f)
	}
	return out
}

func reachedRunner(o ledger.Observation, since time.Time) bool {
	return (o.Signal == ledger.SignalRunnerAccess || o.Signal == ledger.SignalRunner401) && !o.Time.Before(since)
}

func familyOf(o ledger.Observation) platform.CallFamily {
	return platform.CallFamily{Caller: platform.Component(o.Caller), Method: o.Method, Path: platform.PathFamily(o.Path)}
}

// filter keeps the runner's answers to ref since since that keep accepts.
func filter(obs []ledger.Observation, since time.Time, ref session.SessionRef, keep func(ledger.Observation) bool) []ledger.Observation {
	var out []ledger.Observation
	for _, o := range obs {
		if reachedRunner(o, since) && o.Namespace == ref.Project && o.Session == ref.Name && keep(o) {
			out = append(out, o)
		}
	}
	return out
}

func missing(obs []ledger.Observation, since time.Time, ref session.SessionRef, want []platform.CallFamily) []string {
	seen := map[platform.CallFamily]bool{}
	for _, o := range filter(obs, since, ref, func(ledger.Observation) bool { return true }) {
		seen[familyOf(o)] = true
	}
	var out []string
	for _, f := range want {
		if !seen[f] {
			out = append(out, f.String())
		}
	}
	return out
}

// results counts the runner's answers per family (every runner access line
// of the combination's sessions since since).
func results(obs []ledger.Observation, since time.Time) []diagnose.FamilyResult {
	statuses := map[platform.CallFamily]map[int]int{}
	for _, o := range obs {
		if !reachedRunner(o, since) || o.Namespace != Project {
			continue
		}
		f := familyOf(o)
		if statuses[f] == nil {
			statuses[f] = map[int]int{}
		}
		statuses[f][o.Status]++
	}
	out := make([]diagnose.FamilyResult, 0, len(platform.CallFamilies))
	for _, f := range platform.CallFamilies {
		out = append(out, diagnose.NewFamilyResult(f, statuses[f]))
	}
	return out
}

func summary(c diagnose.Combination) string {
	n, counts := 0, map[diagnose.Outcome]int{}
	for _, r := range c.Results {
		counts[r.Outcome]++
		if r.Outcome != diagnose.OutcomeNotExercised {
			n++
		}
	}
	s := fmt.Sprintf("%d/%d families reached the runner (%d ok, %d 401, %d other)", n, len(c.Results), counts[diagnose.OutcomeOK], counts[diagnose.Outcome401], counts[diagnose.OutcomeOther])
	var ph []string
	for _, p := range []string{pipeline.StepReset, pipeline.StepDeploy, pipeline.StepDetectors, StepProject, StepSession, StepTraffic} {
		if d, ok := c.Phases[p]; ok {
			ph = append(ph, fmt.Sprintf("%s %s", p, d.Round(100*time.Millisecond)))
		}
	}
	if len(ph) > 0 {
		s += " [" + strings.Join(ph, ", ") + "]"
	}
	if c.Error != "" {
		s += "; could not run: " + c.Error
	}
	return s
}

// apiAnswers summarises the backend API's answers to the harness since since
// ("POST agui/run 200 ×12, …"), for a combination whose families did not all
// reach the runner.
func apiAnswers(obs []ledger.Observation, since time.Time) string {
	counts := map[string]int{}
	var order []string
	for _, o := range obs {
		if o.Signal != ledger.SignalAPI || o.Time.Before(since) {
			continue
		}
		k := fmt.Sprintf("%s %d %s", o.Path, o.Status, o.Detail)
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	if len(order) == 0 {
		return "nothing"
	}
	parts := make([]string, len(order))
	for i, k := range order {
		parts[i] = fmt.Sprintf("%s ×%d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}
