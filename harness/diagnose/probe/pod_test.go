package probe

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestNewPodIsRestrictedAndCarriesTargets(t *testing.T) {
	in := PodInput{Namespace: "ambient-code", ServiceAccount: "backend-api", Image: "localhost/ambient-sim/uh_runner_probe:v1",
		Targets: []Target{NewTarget("proj", "s1", "s1-runner", "10.244.0.9", 8001)}}
	p, err := NewPod(in)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Spec.Containers[0]
	if p.Namespace != "ambient-code" || p.Spec.ServiceAccountName != "backend-api" || !*p.Spec.AutomountServiceAccountToken ||
		p.Spec.RestartPolicy != corev1.RestartPolicyNever || *p.Spec.ActiveDeadlineSeconds < 30 {
		t.Errorf("pod spec = %+v", p.Spec)
	}
	if !*c.SecurityContext.ReadOnlyRootFilesystem || *c.SecurityContext.AllowPrivilegeEscalation || !*p.Spec.SecurityContext.RunAsNonRoot {
		t.Errorf("container security = %+v", c.SecurityContext)
	}
	ts, err := DecodeTargets(c.Args[1])
	if c.Args[0] != "-targets" || err != nil || len(ts) != 1 || ts[0].Secret != "ambient-runner-token-s1" {
		t.Errorf("args %v: %v %v", c.Args, ts, err)
	}
}

func TestPodDone(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  corev1.PodStatus
		done    bool
		wantErr string
	}{
		{"pending", corev1.PodStatus{Phase: corev1.PodPending}, false, ""},
		{"succeeded", corev1.PodStatus{Phase: corev1.PodSucceeded}, true, ""},
		{"failed", corev1.PodStatus{Phase: corev1.PodFailed}, true, ""},
		{"image missing", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: "not present"}}}}}, false, "ErrImageNeverPull: not present"},
	} {
		done, err := podDone(&corev1.Pod{Status: tc.status})
		if done != tc.done || (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: podDone = %v, %v", tc.name, done, err)
		}
	}
}

func TestBackendServiceAccount(t *testing.T) {
	kube := fake.NewClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "backend-api", Namespace: "ambient-code"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{ServiceAccountName: "backend-api"}}}})
	if sa, err := backendServiceAccount(context.Background(), kube, "ambient-code"); err != nil || sa != "backend-api" {
		t.Fatalf("sa = %q, %v", sa, err)
	}
	if _, err := backendServiceAccount(context.Background(), kube, "elsewhere"); err == nil || !strings.Contains(err.Error(), "backend-api") {
		t.Fatalf("missing Deployment: %v", err)
	}
	if _, _, err := RunPod(context.Background(), PodInput{Kube: kube}); err == nil {
		t.Fatal("RunPod without image and targets must fail")
	}
}
