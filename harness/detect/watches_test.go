package detect

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
)

type watchLog struct {
	mu      sync.Mutex
	watches []string
}

func (w *watchLog) record(a k8stesting.Action) (bool, watch.Interface, error) {
	wa := a.(k8stesting.WatchAction)
	what := a.GetResource().Resource
	if ns := a.GetNamespace(); ns != "" {
		what += " in " + ns
	}
	if sel := wa.GetWatchRestrictions().Labels; sel != nil && !sel.Empty() {
		what += " " + sel.String()
	}
	w.mu.Lock()
	w.watches = append(w.watches, what)
	w.mu.Unlock()
	return false, nil, nil // the default reactor serves the watch
}

func (w *watchLog) sorted() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := append([]string(nil), w.watches...)
	sort.Strings(out)
	return out
}

// TestDetectorsShareOneWatchPerKind runs every detector of a cell on one
// Watches and counts the watches the API server sees: each kind once.
func TestDetectorsShareOneWatchPerKind(t *testing.T) {
	client := fake.NewClientset(managedNS("proj-a"), runningRunnerPod("proj-a", "session-b", "10.244.0.20", 0),
		testPod("ambient-code", "backend-api-1", BackendAppLabelValue, "10.244.0.7", t0))
	var seen watchLog
	client.PrependWatchReactor("*", seen.record)
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{platform.AgenticSessionGVR: "AgenticSessionList"})
	dyn.PrependWatchReactor("*", seen.record)

	w := newWatches(t, client, dyn)
	l := ledger.New()
	resolver := NewCallerResolver(w)
	opts := []Option{WithCallerResolver(resolver), WithLogOpener(newFakeLogs())}
	ds := []Detector{resolver, NewRunnerLogs(w, l, opts...), NewPlatformLogs(w, l, opts...), NewSessionConditions(w, l, opts...)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, d := range ds {
		if err := d.Start(ctx); err != nil {
			t.Fatalf("%s: %v", d.Name(), err)
		}
		defer d.Stop()
	}
	want := []string{"agenticsessions", "namespaces", "nodes", "pods app=" + RunnerAppLabelValue, "pods in ambient-code"}
	if got := seen.sorted(); strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("watches = %q, want each kind once: %q", got, want)
	}
	if c, _ := resolver.Resolve("10.244.0.20", time.Now()); c != ledger.CallerRunner {
		t.Errorf("the resolver did not see the runner pod through the shared watch: %s", c)
	}
}

func TestWatchesNeedTheirClient(t *testing.T) {
	w := newWatches(t, nil, nil)
	l := ledger.New()
	for _, d := range []Detector{NewCallerResolver(w), NewRunnerLogs(w, l, WithLogOpener(newFakeLogs())), NewSessionConditions(w, l)} {
		err := d.Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), "client") {
			t.Errorf("%s started without its client: %v", d.Name(), err)
		}
		d.Stop()
	}
}
