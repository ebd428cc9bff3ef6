package sweep

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/pipeline"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
)

// Each combination pins exactly the images of its versions, the runner's in
// the agent registry JSON, as ordered upgrades do.
func TestObjectsPinEachCombination(t *testing.T) {
	cat, err := catalog.LoadByName(filepath.Join("..", "..", "..", "fixtures", "releases"), "simulated", catalog.WithPathChecks())
	if err != nil {
		t.Fatal(err)
	}
	render := func(v string) *deploy.Rendered {
		r, _ := cat.Release(v)
		out, err := deploy.RenderRelease(cat, r, platform.Images{})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := render("v0.2.0"), render("v0.2.2")
	img := func(c, v string) string { return "localhost/ambient-sim/" + c + ":" + v }
	for _, vs := range [][3]string{
		{"v0.2.0", "v0.2.0", "v0.2.0"}, {"v0.2.2", "v0.2.0", "v0.2.2"}, {"v0.2.0", "v0.2.2", "v0.2.0"}, {"v0.2.0", "v0.2.0", "v0.2.2"}, {"v0.2.2", "v0.2.2", "v0.2.2"},
	} {
		objs := Objects(a, b, "v0.2.0", "v0.2.2", vs[0], vs[1], vs[2])
		deps := deploy.PlatformDeployments(objs)
		runners, syncs, err := deploy.RegistryImages(objs)
		if err != nil || len(runners) == 0 || len(syncs) == 0 {
			t.Fatalf("%v: registry %v %v %v", vs, runners, syncs, err)
		}
		got := [4]string{deps[platform.OperatorDeployment], deps[platform.BackendDeployment], runners[0], syncs[0]}
		want := [4]string{img("vteam_operator", vs[0]), img("vteam_backend", vs[1]), img("vteam_claude_runner", vs[2]), img("vteam_state_sync", vs[2])}
		if got != want {
			t.Errorf("%v: pinned %v, want %v", vs, got, want)
		}
		if objs.Images.Runner != want[2] || objs.Images.Operator != want[0] {
			t.Errorf("%v: Images %+v", vs, objs.Images)
		}
	}
}

func TestFamiliesReachedAndCounted(t *testing.T) {
	since := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	ref := session.SessionRef{Project: Project, Name: "s1"}
	at := func(sec int, sig ledger.Signal, caller ledger.Caller, method, path string, status int) ledger.Observation {
		return ledger.Observation{Time: since.Add(time.Duration(sec) * time.Second), Signal: sig, Caller: caller, Method: method, Path: path,
			Status: status, Namespace: Project, Session: "s1"}
	}
	obs := []ledger.Observation{
		at(-5, ledger.SignalRunner401, ledger.CallerBackend, "POST", "/", 401), // before the session: not counted
		at(1, ledger.SignalRunner401, ledger.CallerBackend, "POST", "/", 401),
		at(2, ledger.SignalRunnerAccess, ledger.CallerBackend, "GET", "/events", 404),
		at(3, ledger.SignalRunnerAccess, ledger.CallerBackend, "GET", "/content/list?path=.", 200),
		at(4, ledger.SignalRunnerAccess, ledger.CallerOperator, "POST", "/workflow", 200),
		at(5, ledger.SignalAPI, ledger.CallerHarness, "GET", "agui/capabilities", 200), // an API answer, not the runner's
	}
	f := platform.OperatorWorkflow
	want := wanted([]pipeline.RunnerCall{{Caller: ledger.Caller(f.Caller), Method: f.Method, Path: f.Path, Session: ref}})
	if len(want) != 12 || want[11] != platform.OperatorWorkflow {
		t.Fatalf("wanted %v: every backend family and the caused operator family", want)
	}
	miss := missing(obs, since, ref, want)
	if len(miss) != 12-4 || slices.Contains(miss, platform.BackendRun.String()) || !slices.Contains(miss, platform.BackendCapabilities.String()) {
		t.Errorf("missing = %v", miss)
	}
	res := results(obs, since)
	byFamily := map[platform.CallFamily]diagnose.FamilyResult{}
	for _, r := range res {
		byFamily[r.Family()] = r
	}
	for f, want := range map[platform.CallFamily]diagnose.Outcome{
		platform.BackendRun: diagnose.Outcome401, platform.BackendEvents: diagnose.OutcomeOther, platform.BackendWorkspace: diagnose.OutcomeOK,
		platform.OperatorWorkflow: diagnose.OutcomeOK, platform.BackendCapabilities: diagnose.OutcomeNotExercised,
	} {
		if got := byFamily[f]; got.Outcome != want {
			t.Errorf("%s: %s (%v), want %s", f, got.Outcome, got.Statuses, want)
		}
	}
	if byFamily[platform.BackendRun].Statuses[401] != 1 {
		t.Errorf("the 401 before the session counted: %v", byFamily[platform.BackendRun].Statuses)
	}
}

// A combination runs the opening every run opens with, without the preload
// (done once for the sweep), then its own stages: no upgrade plan applied in
// place and no restart, so none of their waits (runner settle, a runner's
// grace period).
func TestACombinationIsTheOpeningThenItsOwnStages(t *testing.T) {
	s := newSweeper(Input{Target: &cluster.Target{}})
	objs := &deploy.Rendered{Release: "v0.2.2"}
	var got []string
	for _, st := range s.stages(pipeline.New(s.in.Target), objs, &combinationRun{}) {
		got = append(got, st.Name)
	}
	want := []string{pipeline.StageReset, pipeline.StageInstall, pipeline.StageObserve, pipeline.StageBackend, StepProject, StepSession, StepTraffic}
	if !slices.Equal(got, want) {
		t.Errorf("stages %v, want %v", got, want)
	}
}
