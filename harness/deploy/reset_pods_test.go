package deploy

import (
	"context"
	"errors"
	"slices"
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

	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

var sessionGVR = schema.GroupVersionResource{Group: "vteam.ambient-code", Version: "v1alpha1", Resource: "agenticsessions"}

func resetPod(ns, name string, session bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if session {
		p.Labels = map[string]string{platform.SessionLabel: strings.TrimSuffix(name, "-runner"), "app": "ambient-code-runner"}
	}
	return p
}

// resetCluster is a platform namespace, a project namespace with one session
// (object and runner pod) and kube-system, each with pods.
func resetCluster() (*fake.Clientset, *dynamicfake.FakeDynamicClient) {
	client := fake.NewSimpleClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ambient-code"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "uh-cell", Labels: map[string]string{ProjectNamespaceLabel: "true"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}},
		resetPod("ambient-code", "backend-api-1", false), resetPod("ambient-code", "agentic-operator-1", false),
		resetPod("uh-cell", "session-1-runner", true), resetPod("kube-system", "coredns-1", false))
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": crdKind,
		"metadata": map[string]any{"name": "agenticsessions.vteam.ambient-code", "labels": map[string]any{ManagedLabel: "true"}},
		"spec": map[string]any{"group": "vteam.ambient-code", "scope": "Namespaced",
			"names":    map[string]any{"plural": "agenticsessions", "kind": "AgenticSession"},
			"versions": []any{map[string]any{"name": "v1alpha1", "served": true, "storage": true}}},
	}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		crdGVR: "CustomResourceDefinitionList", sessionGVR: "AgenticSessionList",
	}, crd, managedObj("vteam.ambient-code/v1alpha1", "AgenticSession", "uh-cell", "session-1", false))
	return client, dyn
}

// Reset force-deletes session (runner) pods, once their sessions are being
// deleted (so no operator starts them again); the other pods of the doomed
// namespaces get ResetPodGracePeriod after their namespace (no controller can
// start a new one there), and pods of other namespaces are left alone.
func TestResetForceDeletesSessionPodsAndGivesOtherPodsAShortGracePeriod(t *testing.T) {
	client, dyn := resetCluster()
	var (
		mu     sync.Mutex
		events []string
		grace  = map[string][]int64{}
	)
	record := func(a k8stesting.Action) (bool, runtime.Object, error) {
		d := a.(k8stesting.DeleteActionImpl)
		mu.Lock()
		defer mu.Unlock()
		events = append(events, d.GetResource().Resource+" "+d.GetNamespace()+"/"+d.GetName())
		if d.GetResource().Resource == "pods" {
			g := int64(-1)
			if d.DeleteOptions.GracePeriodSeconds != nil {
				g = *d.DeleteOptions.GracePeriodSeconds
			}
			grace[d.GetNamespace()+"/"+d.GetName()] = append(grace[d.GetNamespace()+"/"+d.GetName()], g)
		}
		return false, nil, nil
	}
	client.PrependReactor("delete", "*", record)
	dyn.PrependReactor("delete", "*", record)
	rep, err := Reset(context.Background(), ResetInput{Client: client, Dynamic: dyn, PlatformNamespace: "ambient-code",
		Timeout: time.Second, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ambient-code", "uh-cell"}; !slices.Equal(rep.Namespaces, want) {
		t.Errorf("namespaces deleted %v, want %v", rep.Namespaces, want)
	}
	want := map[string]int64{"ambient-code/agentic-operator-1": ResetPodGracePeriod, "ambient-code/backend-api-1": ResetPodGracePeriod,
		"uh-cell/session-1-runner": SessionPodGracePeriod}
	for name, g := range grace {
		w, ok := want[name]
		if !ok {
			t.Errorf("pod %s deleted, want it left alone", name)
			continue
		}
		if !slices.Equal(g, []int64{w}) {
			t.Errorf("pod %s deleted with grace periods %v, want once with %d s", name, g, w)
		}
	}
	for name := range want {
		if _, ok := grace[name]; !ok {
			t.Errorf("pod %s not deleted", name)
		}
	}
	if SessionPodGracePeriod != 0 {
		t.Errorf("SessionPodGracePeriod %d: a runner holding a stream would keep the namespace for its whole grace period", SessionPodGracePeriod)
	}
	if ResetPodGracePeriod <= 0 {
		t.Errorf("ResetPodGracePeriod %d force-deletes the platform: the next cell's would start beside a running one", ResetPodGracePeriod)
	}
	if !slices.Equal(rep.SessionPods, []string{"uh-cell/session-1-runner"}) || len(rep.ForcedPods) != 0 {
		t.Errorf("report: session pods %v, forced %v; want the runner pod only, nothing forced later", rep.SessionPods, rep.ForcedPods)
	}
	at := func(e string) int { return slices.Index(events, e) }
	if s, p := at("agenticsessions uh-cell/session-1"), at("pods uh-cell/session-1-runner"); s < 0 || p < s {
		t.Errorf("the runner pod was deleted before its session was (the operator would start it again): %v", events)
	}
	if p, ns := at("pods uh-cell/session-1-runner"), at("namespaces /uh-cell"); ns < 0 || p > ns {
		t.Errorf("the runner pod was not force-deleted before its namespace: %v", events)
	}
	for _, pod := range []string{"pods ambient-code/backend-api-1", "pods ambient-code/agentic-operator-1"} {
		if at(pod) < at("namespaces /ambient-code") {
			t.Errorf("%s deleted before its namespace (its Deployment could start a new one): %v", pod, events)
		}
	}
}

// Reset returns only once the pods of the namespaces it deleted are gone; a
// pod still there after PodsGoneTimeout is force-deleted, and one that never
// goes ends the reset with an error naming it within Timeout.
func TestResetWaitsForThePodsToGoAndForcesTheLateOnes(t *testing.T) {
	podsGVR := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	for _, tc := range []struct {
		name string
		// listsUntilGone: the backend pod leaves after this many pod lists
		// once deleted with a grace period (0: never, the kubelet hangs).
		listsUntilGone int
		// forceWorks: a grace-0 delete removes the pod.
		forceWorks bool
		// refuseListsUntilForced: once the pod was listed terminating three
		// times, every listing of its namespace fails until it is forced.
		refuseListsUntilForced bool
		wantForced             []string
		wantErr                string
	}{
		{name: "gone within the bound", listsUntilGone: 3, forceWorks: true},
		{name: "late: forced", forceWorks: true, wantForced: []string{"ambient-code/backend-api-1"}},
		{name: "never gone", wantErr: "pods still present 300ms after being force-deleted: ambient-code/backend-api-1"},
		// The client's rate limiter refuses the listings near the wait's
		// deadline (seen under load): still a late pod to force, not an error.
		{name: "late, listings refused: forced", forceWorks: true, refuseListsUntilForced: true, wantForced: []string{"ambient-code/backend-api-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, dyn := resetCluster()
			var mu sync.Mutex
			deleted, forced, lists := false, false, 0
			client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				d := a.(k8stesting.DeleteActionImpl)
				if d.GetNamespace()+"/"+d.GetName() != "ambient-code/backend-api-1" {
					return false, nil, nil
				}
				if g := d.DeleteOptions.GracePeriodSeconds; g != nil && *g == 0 && tc.forceWorks {
					mu.Lock()
					forced = true
					mu.Unlock()
					return false, nil, nil
				}
				mu.Lock()
				deleted = true // terminating: still listed
				mu.Unlock()
				return true, nil, nil
			})
			terminatingLists := 0
			client.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				mu.Lock()
				defer mu.Unlock()
				if deleted && !forced && tc.refuseListsUntilForced && a.GetNamespace() == "ambient-code" {
					if terminatingLists++; terminatingLists > 3 {
						return true, nil, errors.New("client rate limiter Wait returned an error: rate: Wait(n=1) would exceed context deadline")
					}
				}
				if deleted && tc.listsUntilGone > 0 {
					if lists++; lists == tc.listsUntilGone {
						_ = client.Tracker().Delete(podsGVR, "ambient-code", "backend-api-1")
					}
				}
				return false, nil, nil
			})
			start := time.Now()
			rep, err := Reset(context.Background(), ResetInput{Client: client, Dynamic: dyn, PlatformNamespace: "ambient-code",
				PodsGoneTimeout: 100 * time.Millisecond, Timeout: 300 * time.Millisecond, Interval: 5 * time.Millisecond})
			took := time.Since(start)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if took > 5*time.Second {
					t.Errorf("reset took %s: the waits are not bounded by PodsGoneTimeout and Timeout", took)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rep.ForcedPods, tc.wantForced) {
				t.Errorf("forced pods %v, want %v", rep.ForcedPods, tc.wantForced)
			}
			pods, _ := client.CoreV1().Pods("ambient-code").List(context.Background(), metav1.ListOptions{})
			if len(pods.Items) != 0 {
				t.Errorf("reset returned while pods are still there: %v", pods.Items)
			}
			if len(tc.wantForced) > 0 && rep.PodsTook < 100*time.Millisecond {
				t.Errorf("pods forced after %s, before PodsGoneTimeout", rep.PodsTook)
			}
			if !strings.Contains(rep.String(), "1 session pods (force)") {
				t.Errorf("report line %q does not count the session pods", rep.String())
			}
		})
	}
}
