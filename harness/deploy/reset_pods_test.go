package deploy

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// Reset deletes the pods of the namespaces it deletes with
// ResetPodGracePeriod, after those namespaces (so no controller can start a
// new pod there), not force-deleted, and leaves every other pod alone.
func TestResetDeletesThePodsOfDoomedNamespacesWithAShortGracePeriod(t *testing.T) {
	pod := func(ns, name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	client := fake.NewSimpleClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ambient-code"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "uh-cell", Labels: map[string]string{ProjectNamespaceLabel: "true"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}},
		pod("ambient-code", "backend-api-1"), pod("ambient-code", "agentic-operator-1"),
		pod("uh-cell", "session-1-runner"), pod("kube-system", "coredns-1"))
	var events []string
	grace := map[string]*int64{}
	client.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		d := a.(k8stesting.DeleteActionImpl)
		key := d.GetResource().Resource + " " + d.GetNamespace() + "/" + d.GetName()
		events = append(events, key)
		if d.GetResource().Resource == "pods" {
			grace[d.GetNamespace()+"/"+d.GetName()] = d.DeleteOptions.GracePeriodSeconds
		}
		return false, nil, nil
	})
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{crdGVR: "CustomResourceDefinitionList"})
	rep, err := Reset(context.Background(), ResetInput{Client: client, Dynamic: dyn, PlatformNamespace: "ambient-code",
		Timeout: time.Second, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ambient-code", "uh-cell"}; !slices.Equal(rep.Namespaces, want) {
		t.Errorf("namespaces deleted %v, want %v", rep.Namespaces, want)
	}
	wantPods := []string{"ambient-code/agentic-operator-1", "ambient-code/backend-api-1", "uh-cell/session-1-runner"}
	var gotPods []string
	for name, g := range grace {
		gotPods = append(gotPods, name)
		if g == nil || *g != ResetPodGracePeriod {
			t.Errorf("pod %s deleted with grace period %v, want %d s (and not 0: no force deletion)", name, g, ResetPodGracePeriod)
		}
	}
	slices.Sort(gotPods)
	if !slices.Equal(gotPods, wantPods) {
		t.Errorf("pods deleted %v, want %v", gotPods, wantPods)
	}
	firstPod := slices.IndexFunc(events, func(e string) bool { return strings.HasPrefix(e, "pods ") })
	lastNamespace := -1
	for i, e := range events {
		if strings.HasPrefix(e, "namespaces ") {
			lastNamespace = i
		}
	}
	if firstPod < lastNamespace {
		t.Errorf("a pod was deleted before its namespace was (a controller could start a new one): %v", events)
	}
	if ResetPodGracePeriod <= 0 {
		t.Errorf("ResetPodGracePeriod %d force-deletes: a pod would be gone from the API while its containers still answer", ResetPodGracePeriod)
	}
}
