// Package cell runs one from→to cell of the matrix end to end and reads like
// the upgrade story: reset the cluster, install `from`, start detectors and
// sessions with traffic, upgrade in place, create sessions on `to`, change
// specs, restart a pre-upgrade session, then judge the ledger.
package cell

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/detect"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/progress"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/report/bundle"
	"github.com/ambient-e2e/upgrade-harness/harness/report/redact"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// PlatformNamespace is where upstream's kind overlay installs the platform.
const PlatformNamespace = "ambient-code"

// Project is the project namespace the cell's sessions live in.
const Project = "uh-cell"

// Target is the cluster a cell runs on.
type Target struct {
	Rest *rest.Config
	// Kind is the kind cluster (nil for an existing cluster given by kubeconfig).
	Kind      *cluster.Cluster
	Name      string
	NodeImage string
}

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
	// it may pass: at least one operator requeue (30 s, contract §3.2), the
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
	// about a minute (contract §3.4).
	RunnerSettle time.Duration
	// EventsGapThreshold: an agui/events disconnection longer than this is a
	// coverage gap. The backend's Recreate rollout takes the stream down for as
	// long as no backend pod runs, when no event can be produced; the stream
	// replays persisted events on reconnect.
	EventsGapThreshold time.Duration
}

// DefaultTiming exercises every path of contract §1 at least twice (traffic
// every 3 s) and watches a passing cell for one operator requeue (30 s) after
// the rollout.
func DefaultTiming() Timing {
	return Timing{PreUpgradeTraffic: 10 * time.Second, PostUpgradeTraffic: 60 * time.Second, PassWindow: 35 * time.Second,
		MinRounds: 2, Settle: 3 * time.Second,
		TrafficInterval: 3 * time.Second, RolloutTimeout: 3 * time.Minute, SessionTimeout: 3 * time.Minute,
		RunnerSettle: 100 * time.Second, EventsGapThreshold: 45 * time.Second}
}

// Input configures one cell.
type Input struct {
	Target    *Target
	Catalog   *catalog.Catalog
	Cell      catalog.Cell
	From, To  catalog.Release
	Artifacts string
	Redactor  *redact.Redactor
	Log       io.Writer
	Timing    *Timing
}

// Run runs the cell; infrastructure errors become an inconclusive, unmatched
// result with Error set (never a pass).
func Run(ctx context.Context, in Input) verdict.CellResult {
	r := newRunner(in)
	res := r.result
	err := r.run(ctx)
	res = r.finish(ctx, err)
	return res
}

type runner struct {
	in       Input
	t        Timing
	log      io.Writer
	p        *progress.Printer
	result   verdict.CellResult
	cs       kubernetes.Interface
	dyn      dynamic.Interface
	ledger   *ledger.Ledger
	timeline *detect.PhaseTimeline
	traffic  []*session.Traffic

	stopDetectorsFn func()
	closeEndpoint   func()
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
		in.Redactor = redact.New()
	}
	vc := in.Cell.VerdictCell()
	vc.NodeImage = in.Target.NodeImage
	r := &runner{in: in, t: t, log: in.Log, p: progress.New(in.Log), ledger: ledger.New(), timeline: &detect.PhaseTimeline{}}
	r.result = verdict.CellResult{Cell: vc, Expected: in.Cell.Expectation(), Started: time.Now()}
	r.result.Repro = report.ReproCommand(vc, report.ReproOptions{})
	return r
}

func (r *runner) logf(format string, a ...any) {
	fmt.Fprintf(r.log, "[cell %s] %s\n", r.result.Cell.Name(), fmt.Sprintf(format, a...))
}

func (r *runner) run(ctx context.Context) error {
	var err error
	if r.cs, err = kubernetes.NewForConfig(r.in.Target.Rest); err != nil {
		return err
	}
	if r.dyn, err = dynamic.NewForConfig(r.in.Target.Rest); err != nil {
		return err
	}
	fromR, toR, err := r.render()
	if err != nil {
		return err
	}
	steps := [][]string{}
	for _, s := range r.in.Cell.Order.Steps {
		var names []string
		for _, c := range s {
			names = append(names, string(c))
		}
		steps = append(steps, names)
	}

	if err := r.p.Phase("reset cluster", func() error { return ResetCluster(ctx, r.in.Target, r.logf) }); err != nil {
		return err
	}
	if err := r.p.Phase("preload images", func() error { return PreloadImages(ctx, r.in.Target, fromR, toR) }); err != nil {
		return err
	}
	if err := r.p.Phase("deploy "+r.in.From.Version, func() error {
		return InstallRelease(ctx, InstallReleaseInput{Target: r.in.Target, Rendered: fromR, Timeout: r.t.RolloutTimeout, Logf: r.logf})
	}); err != nil {
		return err
	}
	if err := r.p.Phase("start detectors", func() error { return r.startDetectors(ctx) }); err != nil {
		return err
	}
	defer r.stopDetectors()
	client, err := r.backendClient(ctx)
	if err != nil {
		return err
	}
	defer r.stopTraffic()

	var a, b session.SessionRef
	if err := r.p.Phase("create pre-upgrade sessions", func() error {
		if err := session.PrepareProject(ctx, session.PrepareProjectInput{Client: client, Project: Project}); err != nil {
			return err
		}
		var err error
		if a, err = session.StartSession(ctx, session.StartSessionInput{Client: client, Ledger: r.ledger, Project: Project, Role: ledger.RolePreUpgrade, Timeout: r.t.SessionTimeout}); err != nil {
			return err
		}
		b, err = r.startCRSession(ctx, client, "uh-cr-before", ledger.RolePreUpgrade)
		return err
	}); err != nil {
		return err
	}
	if err := r.startTraffic(ctx, client, a, b); err != nil {
		return err
	}
	trafficFrom := time.Now()
	r.p.Waiting("traffic on %s and %s before the upgrade (at most %s)", a.Name, b.Name, r.t.PreUpgradeTraffic)
	r.waitForEvidence(ctx, EvidenceWindow{Name: "before the upgrade", Since: trafficFrom, Rounds: r.t.MinRounds, Max: r.t.PreUpgradeTraffic})

	// The upgrade.
	r.ledger.SetPhase(ledger.PhaseDuring)
	r.result.UpgradeStarted = time.Now()
	r.timeline.MarkUpgradeStarted(r.result.UpgradeStarted)
	plan := deploy.PlanUpgrade(fromR, toR, steps)
	if err := r.p.Phase(fmt.Sprintf("upgrade %s → %s (%s)", r.in.From.Version, r.in.To.Version, r.in.Cell.Order.Text), func() error {
		_, err := deploy.Upgrade(ctx, deploy.UpgradeInput{Config: r.in.Target.Rest, Client: r.cs, Plan: plan, FieldManager: fieldManager,
			RolloutTimeout: r.t.RolloutTimeout, RunnerSettle: r.t.RunnerSettle, Logf: r.logf,
			OnStep: func(i int, s deploy.Step) { r.logf("upgrade step %d: %s", i+1, strings.Join(s.Components, ",")) }})
		return err
	}); err != nil {
		return err
	}
	r.ledger.SetPhase(ledger.PhaseAfter)
	rolledOut := time.Now()
	r.timeline.MarkUpgradeRolledOut(rolledOut)

	var c, d session.SessionRef
	if err := r.p.Phase("create post-upgrade sessions", func() error {
		var err error
		if c, err = session.StartSession(ctx, session.StartSessionInput{Client: client, Ledger: r.ledger, Project: Project, Role: ledger.RolePostUpgrade, Timeout: r.t.SessionTimeout}); err != nil {
			return err
		}
		if d, err = r.startCRSession(ctx, client, "uh-cr-after", ledger.RolePostUpgrade); err != nil {
			return err
		}
		// The cell only means something if new sessions run the runner the
		// plan says (to's when the order upgrades the runner, else from's).
		return r.expectRunnerImage(ctx, toR, fromR, c, d)
	}); err != nil {
		return err
	}
	if err := r.startTraffic(ctx, client, c, d); err != nil {
		return err
	}
	// Spec changes make the operator call runners (contract §1.4 drift path).
	calls := r.changeSpecs(ctx, client, a, c)
	r.p.Waiting("traffic on every session after the upgrade until the rules have their evidence (at most %s after the rollout)", r.t.PostUpgradeTraffic)
	r.waitForEvidence(ctx, EvidenceWindow{Name: "after the upgrade", Since: rolledOut, Rounds: r.t.MinRounds, Calls: calls,
		Rules:     []string{"no-runner-401", "pre-upgrade-sessions-keep-working", "post-upgrade-sessions-work"},
		PassAfter: r.t.PassWindow, Max: r.t.PostUpgradeTraffic})
	r.stopTraffic()

	// A pre-upgrade session stopped and started again on `to` (contract §3.5 item 7).
	r.ledger.SetSessionRole(a.Project, a.Name, ledger.RoleRestarted)
	if err := r.p.Phase("restart pre-upgrade session "+a.Name, func() error {
		res, err := session.RestartSession(ctx, session.RestartSessionInput{Client: client, Ledger: r.ledger, Session: a, StartTimeout: r.t.SessionTimeout})
		if err == nil {
			r.logf("restarted session reached %s %s %s", res.Phase, res.ReadyReason, res.ReadyMessage)
		}
		return err
	}); err != nil {
		return err
	}
	r.p.Waiting("settling %s for the last signals", r.t.Settle)
	sleep(ctx, r.t.Settle)
	return ctx.Err()
}

const fieldManager = "upgrade-harness"

// expectRunnerImage checks that the runner pods of refs run the runner image
// the upgrade plan pins; otherwise the cell cannot tell what it tested.
func (r *runner) expectRunnerImage(ctx context.Context, toR, fromR *deploy.Rendered, refs ...session.SessionRef) error {
	src := fromR
	if r.in.Cell.Order.Upgrades(catalog.Runner) {
		src = toR
	}
	runners, _, err := deploy.RegistryImages(src)
	if err != nil || len(runners) == 0 {
		return fmt.Errorf("no runner image pinned in the %s render: %v", src.Release, err)
	}
	for _, ref := range refs {
		pod, err := r.cs.CoreV1().Pods(ref.Project).Get(ctx, ref.Name+"-runner", metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("runner pod of %s: %w", ref, err)
		}
		for _, c := range pod.Spec.Containers {
			if c.Name == "ambient-code-runner" && !deploy.SameImage(c.Image, runners[0]) {
				return fmt.Errorf("session %s runs runner image %s, but the plan pins %s (the operator did not pick up the new agent registry in time: raise Timing.RunnerSettle)", ref, c.Image, runners[0])
			}
		}
	}
	return nil
}

func (r *runner) render() (*deploy.Rendered, *deploy.Rendered, error) {
	from, err := RenderRelease(r.in.Catalog, r.in.From, nil)
	if err != nil {
		return nil, nil, err
	}
	to, err := RenderRelease(r.in.Catalog, r.in.To, r.in.Cell.Overrides)
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
	return from, to, nil
}

// RenderRelease renders a catalog release with its images pinned (overrides
// replace component images). Upstream manifests go through the component
// selection of deploy.DefaultUpstreamSelection.
func RenderRelease(cat *catalog.Catalog, rel catalog.Release, overrides map[catalog.Component]string) (*deploy.Rendered, error) {
	var sel *deploy.Selection
	if cat.Build != catalog.BuildSimulated {
		sel = deploy.DefaultUpstreamSelection()
	}
	imgs := rel.Images
	for comp, img := range overrides {
		switch comp {
		case catalog.Operator:
			imgs.Operator = img
		case catalog.Backend:
			imgs.Backend = img
		case catalog.Runner:
			imgs.Runner = img
		case catalog.StateSync:
			imgs.StateSync = img
		}
	}
	source := rel.Manifests.ResolvedPath()
	if source == "" && rel.Manifests.Git != nil {
		dir, err := remoteKustomization(*rel.Manifests.Git)
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		source = dir
	}
	out, err := deploy.Render(deploy.RenderInput{Source: source, Release: rel.Version, Selection: sel,
		Lower:  deploy.DefaultLowResources(),
		Images: deploy.Images{Operator: imgs.Operator, Backend: imgs.Backend, Runner: imgs.Runner, StateSync: imgs.StateSync}})
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", rel.Version, err)
	}
	return out, nil
}

// remoteKustomization writes a kustomization whose one resource is the git
// overlay (kustomize fetches it with git), as upstream's overlay is kept by tag.
func remoteKustomization(g catalog.GitSource) (string, error) {
	dir, err := os.MkdirTemp("", "uh-remote-")
	if err != nil {
		return "", err
	}
	url := strings.TrimSuffix(g.URL, ".git")
	if g.Path != "" {
		url += "//" + strings.Trim(g.Path, "/")
	}
	url += "?ref=" + g.Ref
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - " + url + "\n"
	return dir, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644)
}

// ResetCluster removes everything a previous cell created and waits until it is gone.
func ResetCluster(ctx context.Context, t *Target, logf func(string, ...any)) error {
	cs, dyn, err := clients(t)
	if err != nil {
		return err
	}
	_, err = deploy.Reset(ctx, deploy.ResetInput{Config: t.Rest, Client: cs, Dynamic: dyn, PlatformNamespace: PlatformNamespace, Logf: logf})
	return err
}

// PreloadImages loads every image of the renders into a kind target (an
// existing cluster must have them already).
func PreloadImages(ctx context.Context, t *Target, renders ...*deploy.Rendered) error {
	if t.Kind == nil {
		return nil
	}
	var imgs []string
	for _, r := range renders {
		imgs = append(imgs, deploy.ListImages(r)...)
	}
	return t.Kind.LoadImages(ctx, unique(imgs)...)
}

// InstallReleaseInput configures InstallRelease.
type InstallReleaseInput struct {
	Target   *Target
	Rendered *deploy.Rendered
	Timeout  time.Duration
	Logf     func(string, ...any)
}

// InstallRelease applies a render and waits until operator and backend run
// exactly the pinned images.
func InstallRelease(ctx context.Context, in InstallReleaseInput) error {
	cs, _, err := clients(in.Target)
	if err != nil {
		return err
	}
	if _, err := deploy.Apply(ctx, deploy.ApplyInput{Config: in.Target.Rest, Rendered: in.Rendered, FieldManager: fieldManager}); err != nil {
		return err
	}
	_, err = deploy.WaitForRollout(ctx, deploy.WaitForRolloutInput{Client: cs, Namespace: PlatformNamespace,
		Deployments: PlatformDeployments(in.Rendered), Timeout: in.Timeout, Logf: in.Logf})
	return err
}

func clients(t *Target) (kubernetes.Interface, dynamic.Interface, error) {
	cs, err := kubernetes.NewForConfig(t.Rest)
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(t.Rest)
	return cs, dyn, err
}

// PlatformDeployments maps operator and backend Deployments to their pinned images.
func PlatformDeployments(rd *deploy.Rendered) map[string]string {
	out := map[string]string{}
	for _, name := range []string{"agentic-operator", "backend-api"} {
		if obj := rd.Find("Deployment", PlatformNamespace, name); obj != nil {
			if imgs := containerImages(obj.Object); len(imgs) > 0 {
				out[name] = imgs[0]
			}
		}
	}
	return out
}

func containerImages(obj map[string]any) []string {
	spec, _ := obj["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	pspec, _ := tmpl["spec"].(map[string]any)
	list, _ := pspec["containers"].([]any)
	var out []string
	for _, c := range list {
		if m, ok := c.(map[string]any); ok {
			if img, ok := m["image"].(string); ok {
				out = append(out, img)
			}
		}
	}
	return out
}

func (r *runner) startDetectors(ctx context.Context) error {
	stop, err := StartDetectors(ctx, StartDetectorsInput{Target: r.in.Target, Ledger: r.ledger, Timeline: r.timeline})
	r.stopDetectorsFn = stop
	return err
}

func (r *runner) stopDetectors() {
	if r.stopDetectorsFn != nil {
		r.stopDetectorsFn()
		r.stopDetectorsFn = nil
	}
}

// StartDetectorsInput configures StartDetectors.
type StartDetectorsInput struct {
	Target   *Target
	Ledger   *ledger.Ledger
	Timeline *detect.PhaseTimeline
}

// StartDetectors starts every continual detector of the cell (caller
// resolution, runner and platform logs, session conditions) into the ledger.
// The returned func stops them in reverse order.
func StartDetectors(ctx context.Context, in StartDetectorsInput) (func(), error) {
	cs, dyn, err := clients(in.Target)
	if err != nil {
		return func() {}, err
	}
	if in.Timeline == nil {
		in.Timeline = &detect.PhaseTimeline{}
	}
	resolver := detect.NewCallerResolver(cs, detect.WithPlatformNamespace(PlatformNamespace))
	opts := []detect.Option{detect.WithCallerResolver(resolver), detect.WithPhaseTimeline(in.Timeline), detect.WithPlatformNamespace(PlatformNamespace)}
	ds := []detect.Detector{resolver,
		detect.NewRunnerLogs(cs, in.Ledger, opts...),
		detect.NewPlatformLogs(cs, in.Ledger, opts...),
		detect.NewSessionConditions(dyn, in.Ledger, opts...)}
	var started []detect.Detector
	stop := func() {
		for i := len(started) - 1; i >= 0; i-- {
			started[i].Stop()
		}
	}
	for _, d := range ds {
		if err := d.Start(ctx); err != nil {
			stop()
			return func() {}, fmt.Errorf("detector %s: %w", d.Name(), err)
		}
		started = append(started, d)
	}
	return stop, nil
}

func (r *runner) backendClient(ctx context.Context) (*session.Client, error) {
	c, closeFn, err := NewBackendClient(ctx, NewBackendClientInput{Target: r.in.Target, Ledger: r.ledger, Redactor: r.in.Redactor, Logf: r.logf})
	r.closeEndpoint = closeFn
	return c, err
}

// NewBackendClientInput configures NewBackendClient.
type NewBackendClientInput struct {
	Target   *Target
	Ledger   *ledger.Ledger
	Redactor *redact.Redactor
	Logf     func(string, ...any)
}

// NewBackendClient reaches the backend through a port-forward that follows
// the backend pod across its Recreate rollout, authenticated as test-user
// (whose token is registered with the redactor).
func NewBackendClient(ctx context.Context, in NewBackendClientInput) (*session.Client, func(), error) {
	cs, _, err := clients(in.Target)
	if err != nil {
		return nil, func() {}, err
	}
	token, err := session.ReadTestUserToken(ctx, cs)
	if err != nil {
		return nil, func() {}, err
	}
	if in.Redactor != nil {
		in.Redactor.Add("test-user-token", token)
	}
	opts := []session.Option{session.WithNamespace(PlatformNamespace)}
	if in.Logf != nil {
		opts = append(opts, session.WithLogf(in.Logf))
	}
	ep, err := session.NewBackendEndpoint(in.Target.Rest, opts...)
	if err != nil {
		return nil, func() {}, err
	}
	if err := ep.Ready(ctx); err != nil {
		ep.Close()
		return nil, func() {}, err
	}
	var copts []session.ClientOption
	if in.Ledger != nil {
		copts = append(copts, session.WithLedger(in.Ledger))
	}
	c, err := session.NewClient(ep, token, copts...)
	if err != nil {
		ep.Close()
		return nil, func() {}, err
	}
	return c, ep.Close, nil
}

// startCRSession creates a session as an AgenticSession object, the way kubectl users do.
func (r *runner) startCRSession(ctx context.Context, client *session.Client, name, role string) (session.SessionRef, error) {
	ref := session.SessionRef{Project: Project, Name: name}
	r.ledger.SetSessionRole(Project, name, role)
	spec := session.DefaultStartSpec()
	if _, err := session.CreateSessionCR(ctx, r.dyn, Project, name, spec); err != nil {
		return ref, err
	}
	s, err := client.WaitForSessionPhase(ctx, session.WaitForSessionPhaseInput{Session: ref,
		Phases: []string{session.PhaseRunning, session.PhaseFailed}, Timeout: r.t.SessionTimeout})
	if err != nil {
		return ref, err
	}
	if s.Phase != session.PhaseRunning {
		return ref, fmt.Errorf("session %s (created as a CR) reached %s instead of Running", ref, s.Phase)
	}
	return ref, nil
}

func (r *runner) startTraffic(ctx context.Context, client *session.Client, refs ...session.SessionRef) error {
	t, err := session.NewTraffic(session.TrafficInput{Client: client, Ledger: r.ledger, Sessions: refs, Interval: r.t.TrafficInterval,
		GapThreshold: r.t.EventsGapThreshold,
		Observer: func(ctx context.Context, stream io.Reader, ns, s string) {
			detect.ObserveEventStream(ctx, stream, ns, s, r.ledger)
		}})
	if err != nil {
		return err
	}
	if err := t.Start(ctx); err != nil {
		return err
	}
	r.traffic = append(r.traffic, t)
	return nil
}

func (r *runner) stopTraffic() {
	for _, t := range r.traffic {
		t.Stop()
	}
	r.traffic = nil
}

// changeSpecs selects a workflow and adds and removes a repo on a pre- and a
// post-upgrade session: the backend calls the runner, then the operator's drift
// reconcile does (contract §3.5 item 6). It returns the operator calls the
// changes must cause: only those whose API call the backend accepted, since a
// rejected change leaves the spec, and so the operator, alone. The repo is
// removed only once the operator has recorded its add, or it would see no drift.
func (r *runner) changeSpecs(ctx context.Context, client *session.Client, refs ...session.SessionRef) []RunnerCall {
	const repo = "harness-example-repo"
	var want []RunnerCall
	expect := func(res session.APIResult, path string, ref session.SessionRef, after time.Time) bool {
		if res.Status/100 != 2 {
			return false
		}
		want = append(want, RunnerCall{Caller: ledger.CallerOperator, Method: "POST", Path: path, Session: ref, After: after})
		return true
	}
	var added []session.SessionRef
	for _, ref := range refs {
		wf := session.Workflow{GitURL: session.ExampleWorkflowURL, Branch: session.DefaultBranch, Path: "workflows/harness-after-upgrade"}
		at := time.Now() // before the call: the operator may act before its answer arrives
		expect(client.SelectWorkflow(ctx, ref, wf), "/workflow", ref, at)
		at = time.Now()
		if expect(client.AddRepo(ctx, ref, session.Repo{URL: "https://github.com/ambient-code/" + repo, Branch: session.DefaultBranch}), "/repos/add", ref, at) {
			added = append(added, ref)
		}
	}
	for _, ref := range added {
		if err := session.WaitForReconciledRepo(ctx, session.WaitForReconciledRepoInput{Dynamic: r.dyn, Session: ref, Repo: repo, Timeout: 10 * time.Second}); err != nil {
			r.logf("%v", err)
		}
	}
	for _, ref := range refs {
		at := time.Now()
		res := client.RemoveRepo(ctx, ref, repo)
		// Removing a repo the spec never got changes nothing for the operator.
		if slices.Contains(added, ref) {
			expect(res, "/repos/remove", ref, at)
		}
	}
	return want
}

// waitForEvidence runs one EvidenceWindow over the cell's ledger and traffic
// and logs how it ended.
func (r *runner) waitForEvidence(ctx context.Context, w EvidenceWindow) {
	r.logf("%s", WaitForEvidence(ctx, r.ledger, r.traffic, w).describe(w))
}

// finish judges the ledger, collects the bundle when the cell did not pass, and
// fills the result.
func (r *runner) finish(ctx context.Context, runErr error) verdict.CellResult {
	r.stopTraffic()
	r.stopDetectors()
	if r.closeEndpoint != nil {
		defer r.closeEndpoint()
	}
	res := &r.result
	obs := r.ledger.All()
	res.Rules = verdict.Evaluate(verdict.EvaluateInput{Observations: obs})
	res.Verdict = verdict.Combine(res.Rules)
	res.Unauthorized = verdict.Count401s(obs)
	if runErr != nil {
		res.Error = runErr.Error()
		res.Verdict = verdict.Inconclusive
		r.logf("could not run: %v", runErr)
	}
	res.Matched, _ = verdict.Match(*res, res.Expected)
	if runErr != nil {
		res.Matched = false
	}
	if res.Verdict != verdict.Pass || !res.Matched {
		res.BundleDir = report.BundleDir(res.Cell)
		dir := filepath.Join(r.in.Artifacts, res.BundleDir)
		bctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		var nodeLogs func(string) error
		if r.in.Target.Kind != nil {
			nodeLogs = func(d string) error { return r.in.Target.Kind.ExportLogs(bctx, d) }
		}
		_ = r.p.Phase("collect failure bundle "+res.BundleDir, func() error {
			sum, err := bundle.Collect(bctx, bundle.CollectInput{Client: r.cs, Dynamic: r.dyn, Dir: dir, PlatformNamespace: PlatformNamespace,
				UpgradeStarted: res.UpgradeStarted, Redactor: r.in.Redactor, NodeLogs: nodeLogs, Ledger: obs})
			if err == nil && len(sum.Failures) > 0 {
				r.logf("bundle: %d items could not be collected (see index.md)", len(sum.Failures))
			}
			return err
		})
	}
	res.Ledger = obs
	res.Duration = time.Since(res.Started)
	return *res
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func unique(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
