package deploy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
)

const (
	ns       = "ambient-code"
	oldImage = "localhost/ambient-sim/vteam_backend:v0.2.0"
	newImage = "localhost/ambient-sim/vteam_backend:v0.2.2"
)

var (
	isController = true
	one          = int32(1)
	labels       = map[string]string{"app": "backend-api"}
)

func deployment(generation, observed int64) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: BackendDeployment, Namespace: ns, UID: "dep", Generation: generation},
		Spec:       appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels}},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: observed},
	}
}

func replicaSet(name string, uid types.UID, revision int, image string, available int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, UID: uid, Labels: labels,
			Annotations:     map[string]string{revisionAnnotation: fmt.Sprint(revision)},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: BackendDeployment, UID: "dep", Controller: &isController}},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &one, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "backend-api", Image: image}},
		}}},
		Status: appsv1.ReplicaSetStatus{Replicas: 1, AvailableReplicas: available, ReadyReplicas: available},
	}
}

type podOpt func(*corev1.Pod)

func terminating(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }
func notReady(p *corev1.Pod)    { p.Status.Conditions[0].Status = corev1.ConditionFalse }
func runs(image string) podOpt {
	return func(p *corev1.Pod) { p.Status.ContainerStatuses[0].Image = image }
}

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }

// node is a node whose image list holds one image per names list.
func node(name string, images ...[]string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, names := range images {
		n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: names})
	}
	return n
}

func pod(name string, rs types.UID, specImage string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: string(rs), UID: rs, Controller: &isController}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "backend-api", Image: specImage}}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "backend-api", Image: specImage, ImageID: "sha256:" + strings.Repeat("ab", 32), Ready: true,
			}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func TestCheckRollout(t *testing.T) {
	oldRS := replicaSet("backend-api-old", "rs-old", 1, oldImage, 0)
	newRS := replicaSet("backend-api-new", "rs-new", 2, newImage, 1)
	newPod := pod("backend-api-new-x", "rs-new", newImage)
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		image   string
		waiting string // substring of the joined waiting reasons; empty = done
	}{
		{"done", []runtime.Object{deployment(2, 2), oldRS, newRS, newPod}, newImage, ""},
		{"done with docker.io form reported", []runtime.Object{deployment(2, 2), oldRS, newRS,
			pod("backend-api-new-x", "rs-new", newImage, runs("docker.io/ambient-sim/vteam_backend:v0.2.2"))}, newImage, ""},
		{"generation not observed", []runtime.Object{deployment(3, 2), oldRS, newRS, newPod}, newImage,
			"controller has not observed generation 3 yet (observed 2)"},
		{"old pod terminating", []runtime.Object{deployment(2, 2), oldRS, newRS, newPod,
			pod("backend-api-old-y", "rs-old", oldImage, terminating)}, newImage,
			"1 old pod left (backend-api-old-y localhost/ambient-sim/vteam_backend:v0.2.0 terminating)"},
		{"new ReplicaSet not available", []runtime.Object{deployment(2, 2), oldRS,
			replicaSet("backend-api-new", "rs-new", 2, newImage, 0), pod("backend-api-new-x", "rs-new", newImage, notReady)}, newImage,
			"0/1 new pods available"},
		{"runtime reports another image", []runtime.Object{deployment(2, 2), oldRS, newRS,
			pod("backend-api-new-x", "rs-new", newImage, runs(oldImage))}, newImage,
			"pod backend-api-new-x container backend-api runs " + oldImage + ", want " + newImage},
		{"runtime reports another tag of the same image", []runtime.Object{deployment(2, 2), oldRS, newRS,
			pod("backend-api-new-x", "rs-new", newImage, runs(oldImage), onNode("n1")),
			node("n1", []string{"docker.io/ambient-sim/vteam_backend:v0.2.0", newImage, "localhost/ambient-sim/vteam_backend@sha256:" + strings.Repeat("cd", 32)})}, newImage, ""},
		{"runtime reports another image the node holds apart", []runtime.Object{deployment(2, 2), oldRS, newRS,
			pod("backend-api-new-x", "rs-new", newImage, runs(oldImage), onNode("n1")), node("n1", []string{oldImage}, []string{newImage})}, newImage,
			"pod backend-api-new-x container backend-api runs " + oldImage + ", want " + newImage},
		{"template not pinned", []runtime.Object{deployment(2, 2), oldRS, newRS, newPod}, "localhost/ambient-sim/vteam_backend:v0.2.7",
			"newest ReplicaSet backend-api-new (revision 2) runs " + newImage},
		{"missing Deployment", nil, newImage, "does not exist"},
		{"no ReplicaSet yet", []runtime.Object{deployment(1, 1)}, newImage, "no ReplicaSet yet"},
		{"pod of another controller ignored", []runtime.Object{deployment(2, 2), oldRS, newRS, newPod, func() *corev1.Pod {
			p := pod("debug", "x", oldImage)
			p.OwnerReferences = nil
			return p
		}()}, newImage, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewSimpleClientset(tc.objects...)
			st, err := CheckRollout(context.Background(), client, ns, BackendDeployment, tc.image)
			if err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(st.Waiting, "; ")
			if tc.waiting == "" {
				if !st.Done() {
					t.Fatalf("not done: %s", joined)
				}
				if len(st.Pods) != 1 || st.Pods[0].ImageID == "" || st.Pods[0].Container != "backend-api" {
					t.Errorf("done status must record the running pod and its imageID: %+v", st.Pods)
				}
				return
			}
			if !strings.Contains(joined, tc.waiting) {
				t.Errorf("waiting = %q, want it to contain %q", joined, tc.waiting)
			}
		})
	}
}

func TestWaitForRolloutReportsWhatIsLeftOnTimeout(t *testing.T) {
	client := fake.NewSimpleClientset(deployment(2, 2),
		replicaSet("backend-api-old", "rs-old", 1, oldImage, 0), replicaSet("backend-api-new", "rs-new", 2, newImage, 1),
		pod("backend-api-new-x", "rs-new", newImage), pod("backend-api-old-y", "rs-old", oldImage, terminating))
	var lines []string
	_, err := WaitForRollout(context.Background(), WaitForRolloutInput{
		Client: client, Namespace: ns, Deployments: map[string]string{BackendDeployment: newImage},
		Timeout: 50 * time.Millisecond, Interval: 10 * time.Millisecond,
		Logf: func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) },
	})
	if err == nil || !strings.Contains(err.Error(), "backend-api-old-y") || exitcode.Of(err) != exitcode.Infrastructure {
		t.Fatalf("err = %v, want an infrastructure error naming the old pod", err)
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "waiting for backend-api: 1 old pod left") {
		t.Errorf("progress lines = %q, want exactly one (printed only when it changes)", lines)
	}
}

func TestWaitForRolloutSucceedsOnceOldPodIsGone(t *testing.T) {
	client := fake.NewSimpleClientset(deployment(2, 2),
		replicaSet("backend-api-old", "rs-old", 1, oldImage, 0), replicaSet("backend-api-new", "rs-new", 2, newImage, 1),
		pod("backend-api-new-x", "rs-new", newImage), pod("backend-api-old-y", "rs-old", oldImage, terminating))
	polls := 0
	st, err := WaitForRollout(context.Background(), WaitForRolloutInput{
		Client: client, Namespace: ns, Deployments: map[string]string{BackendDeployment: newImage},
		Timeout: 5 * time.Second, Interval: 10 * time.Millisecond,
		// The first check reports the old pod; it goes away before the next.
		Logf: func(string, ...any) {
			if polls++; polls == 1 {
				_ = client.CoreV1().Pods(ns).Delete(context.Background(), "backend-api-old-y", metav1.DeleteOptions{})
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if polls != 2 {
		t.Errorf("%d progress lines, want 2 (old pod left, then done)", polls)
	}
	if len(st) != 1 || !st[0].Done() || st[0].Pods[0].Name != "backend-api-new-x" {
		t.Errorf("statuses = %+v", st)
	}
}

func TestWaitForRolloutRejectsEmptyImage(t *testing.T) {
	_, err := WaitForRollout(context.Background(), WaitForRolloutInput{
		Client: fake.NewSimpleClientset(), Namespace: ns, Deployments: map[string]string{BackendDeployment: ""},
	})
	if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "Deployments[backend-api]") {
		t.Errorf("err = %v, want BadInput naming the Deployment", err)
	}
}

func TestWaitForRolloutRecordsWhenItWasDone(t *testing.T) {
	client := fake.NewSimpleClientset(deployment(2, 2), replicaSet("backend-api-new", "rs-new", 2, newImage, 1), pod("backend-api-new-x", "rs-new", newImage))
	before := time.Now()
	st, err := WaitForRollout(context.Background(), WaitForRolloutInput{
		Client: client, Namespace: ns, Deployments: map[string]string{BackendDeployment: newImage}, Interval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].DoneAt.Before(before) {
		t.Errorf("DoneAt = %v, want a time after the wait began (%v)", st[0].DoneAt, before)
	}
}

func TestListDeploymentPodsAndReplacedPods(t *testing.T) {
	client := fake.NewSimpleClientset(deployment(1, 1), replicaSet("backend-api-old", "rs-old", 1, oldImage, 1),
		pod("backend-api-old-y", "rs-old", oldImage), pod("backend-api-old-b", "rs-old", oldImage), func() *corev1.Pod {
			p := pod("debug", "x", oldImage)
			p.OwnerReferences = nil
			return p
		}())
	pods, err := ListDeploymentPods(context.Background(), client, ns, BackendDeployment)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 2 || pods[0].Name != "backend-api-old-b" || pods[1].Image != oldImage || pods[1].Container != "backend-api" {
		t.Fatalf("pods = %+v, want the two ReplicaSet pods sorted by name with their image", pods)
	}
	none, err := ListDeploymentPods(context.Background(), client, ns, "missing")
	if err != nil || none != nil {
		t.Errorf("missing Deployment: %v, %v; want no pods and no error", none, err)
	}
	// A pod kept across the change (same template) is not replaced.
	after := []RolloutPod{{Name: "backend-api-old-b", Image: oldImage}, {Name: "backend-api-new-x", Image: newImage}}
	got := replacedPods(pods, after)
	if len(got) != 1 || got[0].Name != "backend-api-old-y" {
		t.Errorf("replaced = %+v, want only backend-api-old-y", got)
	}
}
