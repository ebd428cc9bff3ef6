package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/deploy"
	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/session"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

var ref = session.SessionRef{Project: "uh-cell", Name: "s1"}

func runnerPod(image string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ref.Project, Name: platform.RunnerPod(ref.Name)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: platform.RunnerContainer, Image: image}}}}
}

func TestExpectRunnerImage(t *testing.T) {
	p := New(&cluster.Target{Kube: fake.NewSimpleClientset(runnerPod("localhost/ambient-sim/vteam_claude_runner:v0.2.2"))})
	ctx := context.Background()
	if err := p.ExpectRunnerImage(ctx, ExpectRunnerImageInput{Image: "localhost/ambient-sim/vteam_claude_runner:v0.2.2", Sessions: []session.SessionRef{ref}}); err != nil {
		t.Errorf("same image: %v", err)
	}
	err := p.ExpectRunnerImage(ctx, ExpectRunnerImageInput{Image: "localhost/ambient-sim/vteam_claude_runner:v0.2.7", Sessions: []session.SessionRef{ref}, Hint: "raise Timing.RunnerSettle"})
	if err == nil || !strings.Contains(err.Error(), "runs runner image localhost/ambient-sim/vteam_claude_runner:v0.2.2, but the plan pins localhost/ambient-sim/vteam_claude_runner:v0.2.7 (raise Timing.RunnerSettle)") {
		t.Errorf("other image: %v", err)
	}
	other := session.SessionRef{Project: ref.Project, Name: "gone"}
	if err := p.ExpectRunnerImage(ctx, ExpectRunnerImageInput{Image: "x", Sessions: []session.SessionRef{other}}); err == nil || !strings.Contains(err.Error(), "runner pod of") {
		t.Errorf("no pod: %v", err)
	}
}

func TestReleaseOf(t *testing.T) {
	fromR := rendered("v0.2.0", "r/op:v0.2.0", "r/be:shared")
	toR := rendered("v0.2.2", "r/op:v0.2.2", "r/be:shared")
	of := ReleaseOf(ReleaseOfInput{From: "v0.2.0", FromR: fromR, To: "v0.2.2", ToR: toR, Overrides: platform.Images{Runner: "r/run:pr-1"}})
	for img, want := range map[string]string{
		"r/op:v0.2.0": "v0.2.0",
		"r/op:v0.2.2": "v0.2.2",
		"r/be:shared": "v0.2.2", // both have it: the upgrade is never excused for it
		"r/run:pr-1":  "v0.2.2+override",
		"r/other:1":   verdict.UnknownRelease,
	} {
		if got := of(img); got != want {
			t.Errorf("release of %s = %q, want %q", img, got, want)
		}
	}
}

// rendered is a render of one Deployment running images.
func rendered(release string, images ...string) *deploy.Rendered {
	var containers []any
	for i, img := range images {
		containers = append(containers, map[string]any{"name": fmt.Sprintf("c%d", i), "image": img})
	}
	d := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "d", "namespace": "ambient-code"},
		"spec":     map[string]any{"template": map[string]any{"spec": map[string]any{"containers": containers}}}}}
	return &deploy.Rendered{Release: release, Objects: []*unstructured.Unstructured{d}}
}

// A stage that fails says which stage it was, and every stage run is timed.
func TestStagesAreTimedAndNameTheirErrors(t *testing.T) {
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{crds: "CustomResourceDefinitionList"})
	dyn.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("apiserver down")
	})
	p := New(&cluster.Target{Kube: fake.NewSimpleClientset(), Dynamic: dyn})
	err := p.Reset(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "reset cluster: ") || !strings.Contains(err.Error(), "apiserver down") {
		t.Fatalf("reset error %v, want it to start with the stage's name", err)
	}
	ts := p.Progress.Phases()
	if len(ts) != 1 || ts[0].Step != StepReset || ts[0].Error == "" {
		t.Errorf("timings %+v, want one failed %q", ts, StepReset)
	}
}

// fakeBackend answers spec changes: the workflow always with a conflict, the
// repo add with one for its first conflicts calls, the rest with 200.
type fakeBackend struct {
	mu        sync.Mutex
	conflicts int
	calls     []string
}

func (f *fakeBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sub := r.URL.Path[strings.Index(r.URL.Path, ref.Name)+len(ref.Name):]
	f.calls = append(f.calls, r.Method+" "+sub)
	conflict := fmt.Sprintf(`{"error":"Failed to update session: Operation cannot be fulfilled on agenticsessions.vteam.ambient-code %q: the object has been modified"}`, ref.Name)
	switch {
	case r.Method == http.MethodPost && sub == "/workflow":
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, conflict)
	case r.Method == http.MethodPost && sub == "/repos" && f.conflicts > 0:
		f.conflicts--
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, conflict)
	default:
		fmt.Fprint(w, `{}`)
	}
}

func TestChangeSpecsRetriesConflictsAndExpectsOnlyAcceptedChanges(t *testing.T) {
	fb := &fakeBackend{conflicts: 2}
	srv := httptest.NewServer(fb)
	defer srv.Close()
	l := ledger.New()
	ep, err := session.NewBackendEndpoint(nil, session.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	client, err := session.NewClient(ep, "test-token-value", session.WithLedger(l))
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "vteam.ambient-code/v1alpha1", "kind": "AgenticSession",
		"metadata": map[string]any{"namespace": ref.Project, "name": ref.Name},
		"status":   map[string]any{"reconciledRepos": []any{map[string]any{"name": ExampleRepo}}},
	}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{platform.AgenticSessionGVR: "AgenticSessionList"}, obj)
	p := New(&cluster.Target{Dynamic: dyn}, WithLedger(l))
	calls := p.ChangeSpecs(context.Background(), ChangeSpecsInput{Client: client, Sessions: []session.SessionRef{ref},
		Retry: session.SpecChangeRetry{Tries: 3, Backoff: time.Millisecond}, ReconcileTimeout: time.Second})

	var got []string
	for _, c := range calls {
		got = append(got, c.Method+" "+c.Path)
	}
	want := []string{platform.SpecChanges[1].Operator.Method + " " + platform.SpecChanges[1].Operator.Path,
		platform.SpecChanges[2].Operator.Method + " " + platform.SpecChanges[2].Operator.Path}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("expected operator calls %v, want %v (the refused workflow causes none)", got, want)
	}
	refused := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalSpecChangeRefused })
	if len(refused) != 1 || refused[0].Path != "POST workflow" || refused[0].Session != ref.Name {
		t.Errorf("spec-change-refused entries %+v, want one for POST workflow", refused)
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if n := strings.Count(strings.Join(fb.calls, "\n"), "POST /repos"); n != 3 {
		t.Errorf("POST /repos made %d times, want 3 (2 conflicts, then accepted): %v", n, fb.calls)
	}
}
