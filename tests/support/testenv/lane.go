package testenv

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"
	"sigs.k8s.io/e2e-framework/pkg/types"
	"sigs.k8s.io/e2e-framework/support"
)

// AreaLabel is the label every feature carries, so that `--labels area=…`
// can select it: e2e-framework skips a feature that lacks a selected key.
const AreaLabel = "area"

// LaneInput configures NewLane.
type LaneInput struct {
	// Name says what the lane is in logs, e.g. "lane 0 (cluster uh-e2e)".
	Name string
	// Config is the suite's envconf, from flags; the lane's environment runs
	// with a copy of it (labels, feature regexps, dry run).
	Config *envconf.Config
	// ClusterName is the name under which the cluster Provision returns is
	// recorded in every feature's context (envfuncs.GetClusterFromContext).
	ClusterName string
	// Provision readies what the lane's features share. It runs once, before
	// the first feature that runs on the lane, never for a lane whose
	// features are all filtered out; its error fails every feature on the
	// lane. It returns the lane's cluster, or nil for a lane without one.
	Provision func(ctx context.Context) (support.E2EClusterProvider, error)
	// After, when set, is a lane whose tests all run before this lane's
	// first: its turns begin once every test that asked After for a turn
	// has ended (so After's clusters and this lane's never run at once).
	After *Lane
}

// Lane is an e2e-framework environment whose features take turns on what
// they share (one kind cluster, reset between features, not recreated).
// Tests on different lanes run side by side.
//
// The lane's cluster is created by a setup step that Test puts first in each
// feature, not by the environment's Setup: e2e-framework runs Setup and
// Finish only from Environment.Run(m), once for the process and before any
// feature is filtered, so Setup would create every lane's cluster even for a
// run that selects none of its features. A feature's steps run only when it
// passed the --labels/--feature filters (and never in --dry-run), so a
// filtered run creates only the clusters it uses; the suite's own Finish
// destroys them. Not BeforeEachFeature either: e2e-framework (v0.7.0) calls
// FailNow on the parent test from inside the feature's subtest when it
// errs, reported as "test executed panic(nil) or runtime.Goexit", not as
// the lane's error on the feature.
type Lane struct {
	env         env.Environment
	name        string
	clusterName string
	provision   func(ctx context.Context) (support.E2EClusterProvider, error)
	after       *Lane

	once    sync.Once
	cluster support.E2EClusterProvider
	err     error

	turn    sync.Mutex
	mu      sync.Mutex
	holders map[*testing.T]bool
	// tests counts the tests on the lane that have not ended; ended is
	// signalled (on mu) when one ends. Every top-level test registers before
	// any parallel one resumes, so a count read from a feature is complete.
	tests int
	ended *sync.Cond
}

// NewLane returns a lane; nothing is provisioned until a feature runs on it.
func NewLane(in LaneInput) *Lane {
	cfg := envconf.New()
	if in.Config != nil {
		c := *in.Config
		cfg = &c
	}
	l := &Lane{name: in.Name, clusterName: in.ClusterName, provision: in.Provision, after: in.After, holders: map[*testing.T]bool{}}
	l.ended = sync.NewCond(&l.mu)
	l.env = env.NewWithConfig(cfg)
	return l
}

// Name says what the lane is.
func (l *Lane) Name() string { return l.name }

// Environment is the lane's e2e-framework environment.
func (l *Lane) Environment() env.Environment { return l.env }

// Test makes t parallel and runs fs one after the other on the lane. Each
// feature that is not filtered out first waits for t's turn on the lane
// (taken once per test and held until t ends: pass, fail or timeout), then
// for the lane to be provisioned.
func (l *Lane) Test(t *testing.T, fs ...features.Feature) context.Context {
	t.Helper()
	if err := CheckAreaLabels(fs...); err != nil {
		t.Fatal(err)
	}
	onLane := make([]features.Feature, len(fs))
	for i, f := range fs {
		onLane[i] = l.withReadyStep(t, f)
	}
	l.mu.Lock()
	l.tests++
	l.mu.Unlock()
	t.Cleanup(func() {
		l.mu.Lock()
		l.tests--
		l.mu.Unlock()
		l.ended.Broadcast()
	})
	t.Parallel()
	return l.env.Test(t, onLane...)
}

// withReadyStep is f (name, description, labels, steps) with a first setup
// step that readies the lane for test's feature, failing the feature (not
// the binary) when the lane cannot be provisioned.
func (l *Lane) withReadyStep(test *testing.T, f features.Feature) features.Feature {
	desc := ""
	if d, ok := f.(types.DescribableFeature); ok {
		desc = d.Description()
	}
	b := features.NewWithDescription(f.Name(), desc)
	for k, vs := range f.Labels() {
		for _, v := range vs {
			b = b.WithLabel(k, v)
		}
	}
	b = b.WithSetup("ready "+l.name, func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
		ctx, err := l.ready(ctx, cfg, test)
		if err != nil {
			t.Fatal(err)
		}
		return ctx
	})
	for _, s := range f.Steps() {
		desc := ""
		if d, ok := s.(types.DescribableStep); ok {
			desc = d.Description()
		}
		b = b.WithStepDescription(s.Name(), desc, s.Level(), s.Func())
	}
	return b.Feature()
}

// CheckAreaLabels says which feature has no area label (a run filtered by
// --labels area=… could never select it).
func CheckAreaLabels(fs ...features.Feature) error {
	for _, f := range fs {
		if len(f.Labels()[AreaLabel]) == 0 {
			return fmt.Errorf("feature %q has no %q label: give it WithLabel(%q, …) so that --labels %s=… can select it",
				f.Name(), AreaLabel, AreaLabel, AreaLabel)
		}
	}
	return nil
}

// Provisioned returns the lane's cluster once Provision made it.
func (l *Lane) Provisioned() (support.E2EClusterProvider, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cluster, l.cluster != nil
}

// ready takes test's turn, provisions the lane on its first feature and
// points the feature at the lane's cluster: its kubeconfig in cfg (so
// cfg.Client() reaches it) and the provider in ctx under ClusterName.
func (l *Lane) ready(ctx context.Context, cfg *envconf.Config, test *testing.T) (context.Context, error) {
	l.takeTurn(test)
	c, err := l.provisioned(ctx)
	if err != nil {
		return ctx, fmt.Errorf("%s: %w", l.name, err)
	}
	if c == nil {
		return ctx, nil
	}
	cfg.WithKubeconfigFile(c.GetKubeconfig())
	return context.WithValue(ctx, support.ClusterNameContextKey(l.clusterName), c), nil
}

// provisioned runs Provision once and returns what it made, or its error.
func (l *Lane) provisioned(ctx context.Context) (support.E2EClusterProvider, error) {
	l.once.Do(func() {
		if l.provision == nil {
			return
		}
		c, err := l.provision(ctx)
		l.mu.Lock()
		l.cluster, l.err = c, err
		l.mu.Unlock()
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cluster, l.err
}

// takeTurn waits for the lane, held by another test until that test ends
// (its Cleanup releases it, so the wait has nothing else to end on), and
// logs what t waited for and how long. A test holding the turn keeps it
// across its features.
func (l *Lane) takeTurn(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	held := l.holders[t]
	l.mu.Unlock()
	if held {
		return
	}
	start := time.Now()
	waitedFor := "its turn"
	if l.after != nil {
		l.after.waitForItsTests()
		waitedFor = "the end of every test on " + l.after.name + ", then its turn"
	}
	l.turn.Lock()
	l.mu.Lock()
	l.holders[t] = true
	l.mu.Unlock()
	t.Cleanup(func() {
		l.mu.Lock()
		delete(l.holders, t)
		l.mu.Unlock()
		l.turn.Unlock()
	})
	t.Logf("took its turn on %s after %s (waited for %s)", l.name, time.Since(start).Round(time.Second), waitedFor)
}

// waitForItsTests returns once every test registered on the lane has ended.
func (l *Lane) waitForItsTests() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.tests > 0 {
		l.ended.Wait()
	}
}
