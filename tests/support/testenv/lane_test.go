package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"
	"sigs.k8s.io/e2e-framework/pkg/features"
	"sigs.k8s.io/e2e-framework/support"
)

// fakeCluster stands in for a kind cluster: only its kubeconfig is read.
type fakeCluster struct {
	support.E2EClusterProvider
	kubeconfig string
}

func (f *fakeCluster) GetKubeconfig() string { return f.kubeconfig }

// recorder notes which features ran and how often each lane was provisioned.
type recorder struct {
	mu  sync.Mutex
	ran []string
}

func (r *recorder) note(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ran = append(r.ran, name)
}

func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.ran)
	slices.Sort(out)
	return out
}

// fakeLane is a lane whose Provision counts its calls and returns a fake cluster.
func fakeLane(cfg *envconf.Config, name string, provisions *atomic.Int32) *Lane {
	return NewLane(LaneInput{Name: "lane " + name, Config: cfg, ClusterName: "cluster-" + name,
		Provision: func(context.Context) (support.E2EClusterProvider, error) {
			provisions.Add(1)
			return &fakeCluster{kubeconfig: "/kubeconfigs/" + name}, nil
		}})
}

// feature is a feature labelled area=area whose one assessment runs check
// (when not nil) and notes that it ran.
func feature(rec *recorder, name, area string, check func(ctx context.Context, t *testing.T, cfg *envconf.Config)) features.Feature {
	return features.New(name).WithLabel(AreaLabel, area).
		Assess("runs", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			if check != nil {
				check(ctx, t, cfg)
			}
			rec.note(name)
			return ctx
		}).Feature()
}

// runSuite runs each test (as Lane.Test would from a Test function, in
// parallel) and returns once all of them ended.
func runSuite(t *testing.T, tests map[string]func(t *testing.T)) {
	t.Run("suite", func(t *testing.T) {
		for name, fn := range tests {
			t.Run(name, fn)
		}
	})
}

func TestLabelsRunOnlyTheSelectedAreaAndProvisionOnlyItsLane(t *testing.T) {
	cfg := envconf.New().WithLabels(map[string][]string{AreaLabel: {"diagnose"}})
	var provA, provB atomic.Int32
	a, b := fakeLane(cfg, "a", &provA), fakeLane(cfg, "b", &provB)
	rec := &recorder{}
	runSuite(t, map[string]func(*testing.T){
		"TestUpgrade": func(t *testing.T) {
			a.Test(t, feature(rec, "cell 1", "upgrade", nil), feature(rec, "cell 2", "upgrade", nil))
		},
		"TestDeploy":   func(t *testing.T) { a.Test(t, feature(rec, "deploy", "deploy", nil)) },
		"TestDiagnose": func(t *testing.T) { b.Test(t, feature(rec, "diagnose", "diagnose", nil)) },
		"TestSweep":    func(t *testing.T) { b.Test(t, feature(rec, "sweep", "diagnose", nil)) },
	})
	if got, want := rec.names(), []string{"diagnose", "sweep"}; !slices.Equal(got, want) {
		t.Errorf("--labels area=diagnose ran %q, want %q", got, want)
	}
	if provA.Load() != 0 {
		t.Errorf("lane a, all of whose features were filtered out, was provisioned %d times; want 0", provA.Load())
	}
	if provB.Load() != 1 {
		t.Errorf("lane b was provisioned %d times for its two features; want once", provB.Load())
	}
	if _, ok := a.Provisioned(); ok {
		t.Error("lane a reports a cluster for Finish to delete, though it made none")
	}
	if _, ok := b.Provisioned(); !ok {
		t.Error("lane b reports no cluster for Finish to delete")
	}
}

func TestWithoutLabelsEveryFeatureRunsAndEachLaneIsProvisionedOnce(t *testing.T) {
	cfg := envconf.New()
	var provA, provB atomic.Int32
	a, b := fakeLane(cfg, "a", &provA), fakeLane(cfg, "b", &provB)
	rec := &recorder{}
	runSuite(t, map[string]func(*testing.T){
		"TestOne":   func(t *testing.T) { a.Test(t, feature(rec, "one", "x", nil), feature(rec, "two", "y", nil)) },
		"TestThree": func(t *testing.T) { a.Test(t, feature(rec, "three", "z", nil)) },
		"TestFour":  func(t *testing.T) { b.Test(t, feature(rec, "four", "x", nil)) },
	})
	if got, want := rec.names(), []string{"four", "one", "three", "two"}; !slices.Equal(got, want) {
		t.Errorf("an unfiltered run ran %q, want %q", got, want)
	}
	if provA.Load() != 1 || provB.Load() != 1 {
		t.Errorf("provisioned lane a %d and lane b %d times; want once each", provA.Load(), provB.Load())
	}
}

func TestFeatureNameFilterSelectsToo(t *testing.T) {
	cfg := envconf.New().WithFeatureRegex("^sweep$")
	var provA, provB atomic.Int32
	a, b := fakeLane(cfg, "a", &provA), fakeLane(cfg, "b", &provB)
	rec := &recorder{}
	runSuite(t, map[string]func(*testing.T){
		"TestDeploy": func(t *testing.T) { a.Test(t, feature(rec, "deploy", "deploy", nil)) },
		"TestSweep":  func(t *testing.T) { b.Test(t, feature(rec, "sweep", "diagnose", nil)) },
	})
	if got := rec.names(); !slices.Equal(got, []string{"sweep"}) || provA.Load() != 0 || provB.Load() != 1 {
		t.Errorf("--feature ^sweep$ ran %q and provisioned lane a %d, lane b %d times; want [sweep], 0, 1", got, provA.Load(), provB.Load())
	}
}

func TestDryRunRunsAndProvisionsNothing(t *testing.T) {
	cfg := envconf.New().WithDryRunMode()
	var provA atomic.Int32
	a := fakeLane(cfg, "a", &provA)
	rec := &recorder{}
	runSuite(t, map[string]func(*testing.T){
		"TestOne": func(t *testing.T) { a.Test(t, feature(rec, "one", "x", nil)) },
	})
	if got := rec.names(); len(got) != 0 || provA.Load() != 0 {
		t.Errorf("--dry-run ran %q and provisioned %d times; want nothing", got, provA.Load())
	}
}

func TestAFeatureSeesItsLanesClusterInConfigAndContext(t *testing.T) {
	var prov atomic.Int32
	a := fakeLane(envconf.New(), "a", &prov)
	rec := &recorder{}
	var kubeconfig string
	var inCtx support.E2EClusterProvider
	runSuite(t, map[string]func(*testing.T){
		"TestOne": func(t *testing.T) {
			a.Test(t, feature(rec, "one", "x", func(ctx context.Context, _ *testing.T, cfg *envconf.Config) {
				kubeconfig = cfg.KubeconfigFile()
				inCtx, _ = envfuncs.GetClusterFromContext(ctx, "cluster-a")
			}))
		},
	})
	if kubeconfig != "/kubeconfigs/a" {
		t.Errorf("the feature's cfg has kubeconfig %q, want the lane cluster's /kubeconfigs/a", kubeconfig)
	}
	if f, ok := inCtx.(*fakeCluster); !ok || f.kubeconfig != "/kubeconfigs/a" {
		t.Errorf("the feature's ctx holds %#v under cluster-a, want the lane's cluster", inCtx)
	}
}

func TestTestsOnALaneTakeTurns(t *testing.T) {
	var prov atomic.Int32
	a := fakeLane(envconf.New(), "a", &prov)
	rec := &recorder{}
	var active, most atomic.Int32
	onA := func(context.Context, *testing.T, *envconf.Config) {
		n := active.Add(1)
		defer active.Add(-1)
		if n > most.Load() {
			most.Store(n)
		}
		time.Sleep(20 * time.Millisecond) // long enough for an overlap to show
	}
	runSuite(t, map[string]func(*testing.T){
		"TestA1": func(t *testing.T) { a.Test(t, feature(rec, "a1", "x", onA)) },
		"TestA2": func(t *testing.T) { a.Test(t, feature(rec, "a2", "x", onA), feature(rec, "a3", "x", onA)) },
		"TestA3": func(t *testing.T) { a.Test(t, feature(rec, "a4", "x", onA)) },
	})
	if got := most.Load(); got != 1 {
		t.Errorf("%d features ran on lane a at once; tests on a lane must take turns", got)
	}
	if got := rec.names(); len(got) != 4 {
		t.Errorf("ran %q, want all four features", got)
	}
}

func TestLanesHaveTurnsOfTheirOwn(t *testing.T) {
	var provA, provB atomic.Int32
	a, b := fakeLane(envconf.New(), "a", &provA), fakeLane(envconf.New(), "b", &provB)
	a.takeTurn(t)
	took := make(chan struct{})
	go func() {
		b.takeTurn(t)
		close(took)
	}()
	select {
	case <-took:
	case <-time.After(10 * time.Second):
		t.Fatal("a test holding lane a's turn waited for lane b's: lanes must run side by side")
	}
}

func TestAFailedProvisionIsRememberedAndNamesTheLane(t *testing.T) {
	calls := 0
	l := NewLane(LaneInput{Name: "lane 1 (cluster uh-e2e-1)", ClusterName: "uh-e2e-1",
		Provision: func(context.Context) (support.E2EClusterProvider, error) {
			calls++
			return nil, errors.New("kind create failed")
		}})
	for range 2 {
		_, err := l.ready(context.Background(), envconf.New(), t)
		if err == nil || !strings.Contains(err.Error(), "lane 1 (cluster uh-e2e-1)") || !strings.Contains(err.Error(), "kind create failed") {
			t.Fatalf("ready error = %v, want one naming the lane and the cause", err)
		}
	}
	if calls != 1 {
		t.Errorf("Provision ran %d times, want once (its error is every later feature's)", calls)
	}
	if _, ok := l.Provisioned(); ok {
		t.Error("a lane whose Provision failed reports a cluster")
	}
}

func TestCheckAreaLabelsNamesTheUnlabelledFeature(t *testing.T) {
	labelled := features.New("labelled").WithLabel(AreaLabel, "deploy").Feature()
	other := features.New("only a cell label").WithLabel("cell", "v0.2.0-v0.2.1").Feature()
	if err := CheckAreaLabels(labelled); err != nil {
		t.Errorf("CheckAreaLabels(labelled) = %v", err)
	}
	err := CheckAreaLabels(labelled, other)
	if err == nil || !strings.Contains(err.Error(), `"only a cell label"`) || !strings.Contains(err.Error(), `"area"`) {
		t.Errorf("CheckAreaLabels = %v, want an error naming the feature and the area label", err)
	}
}

func TestOwnClustersWaitForTheSharedClustersBeingCreated(t *testing.T) {
	s := New(Options{ClusterName: "uh-unit", Lanes: 2, Log: io.Discard})
	s.creatingDone.L.Lock()
	s.creating = 2 // both lanes are creating their clusters
	s.creatingDone.L.Unlock()
	waited := make(chan struct{})
	go func() {
		s.waitForSharedClusters()
		close(waited)
	}()
	finish := func() {
		s.creatingDone.L.Lock()
		s.creating--
		s.creatingDone.L.Unlock()
		s.creatingDone.Broadcast()
	}
	finish()
	select {
	case <-waited:
		t.Fatal("the own-cluster tests began while a shared cluster was still being created")
	case <-time.After(50 * time.Millisecond):
	}
	finish()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("the own-cluster tests still wait though no shared cluster is being created")
	}
}

// failingLaneChild set to 1 makes TestFailingLaneChild run (as the child
// process of TestAFailedProvisionFailsTheFeatureNotTheBinary).
const failingLaneChild = "TESTENV_FAILING_LANE_CHILD"

func TestFailingLaneChild(t *testing.T) {
	if os.Getenv(failingLaneChild) != "1" {
		t.Skip("the child of TestAFailedProvisionFailsTheFeatureNotTheBinary")
	}
	l := NewLane(LaneInput{Name: "lane 9 (cluster broken)", ClusterName: "broken",
		Provision: func(context.Context) (support.E2EClusterProvider, error) {
			return nil, errors.New("kind create failed")
		}})
	var ran atomic.Bool
	t.Cleanup(func() {
		if ran.Load() {
			fmt.Println("AN ASSESSMENT RAN")
		}
	})
	t.Run("TestOnBrokenLane", func(t *testing.T) {
		l.Test(t, features.New("f").WithLabel(AreaLabel, "x").
			Assess("a", func(ctx context.Context, _ *testing.T, _ *envconf.Config) context.Context {
				ran.Store(true)
				return ctx
			}).Feature())
	})
}

func TestAFailedProvisionFailsTheFeatureNotTheBinary(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestFailingLaneChild$", "-test.v")
	cmd.Env = append(os.Environ(), failingLaneChild+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("the child ended with %v; want exit 1 (a failed test, not a panic)\n%s", err, out)
	}
	for _, want := range []string{"lane 9 (cluster broken): kind create failed", "--- FAIL: TestFailingLaneChild/TestOnBrokenLane/f"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the child's output lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"panic", "AN ASSESSMENT RAN"} {
		if strings.Contains(string(out), unwanted) {
			t.Errorf("the child's output has %q:\n%s", unwanted, out)
		}
	}
}

// TestALaneAfterAnotherBeginsOnceItsTestsEnded: a lane made with After takes
// its first turn only when every test on After has ended, whichever test
// reaches the lanes first; one with nothing registered on After does not wait.
func TestALaneAfterAnotherBeginsOnceItsTestsEnded(t *testing.T) {
	var provOwn, provLate atomic.Int32
	own := fakeLane(envconf.New(), "own", &provOwn)
	late := NewLane(LaneInput{Name: "lane late", Config: envconf.New(), ClusterName: "cluster-late", After: own,
		Provision: func(context.Context) (support.E2EClusterProvider, error) {
			provLate.Add(1)
			return &fakeCluster{kubeconfig: "/kubeconfigs/late"}, nil
		}})
	rec := &recorder{}
	var mu sync.Mutex
	var order []string
	note := func(name string, d time.Duration) func(context.Context, *testing.T, *envconf.Config) {
		return func(context.Context, *testing.T, *envconf.Config) {
			time.Sleep(d)
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
		}
	}
	runSuite(t, map[string]func(*testing.T){
		"TestLate": func(t *testing.T) { late.Test(t, feature(rec, "late", "x", note("late", 0))) },
		"TestOwn1": func(t *testing.T) { own.Test(t, feature(rec, "own1", "x", note("own1", 30*time.Millisecond))) },
		"TestOwn2": func(t *testing.T) { own.Test(t, feature(rec, "own2", "x", note("own2", 30*time.Millisecond))) },
	})
	if len(order) != 3 || order[2] != "late" {
		t.Errorf("ran %q; want both own-lane tests before the late lane's", order)
	}

	alone := NewLane(LaneInput{Name: "lane alone", Config: envconf.New(), After: fakeLane(envconf.New(), "empty", &provOwn)})
	done := make(chan struct{})
	go func() {
		alone.takeTurn(t)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a lane after one with no tests waited")
	}
}
