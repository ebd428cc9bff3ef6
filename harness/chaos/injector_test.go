package chaos

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

var podCreated = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func runnerPod(ns, session string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: session + "-runner", UID: types.UID("uid-" + session),
		CreationTimestamp: metav1.NewTime(podCreated),
		Labels:            map[string]string{platform.AppLabel: platform.RunnerAppLabelValue, platform.SessionLabel: session}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: platform.RunnerContainer,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
}

func TestValidateNamesFieldAndValue(t *testing.T) {
	cases := []struct {
		f    Fault
		want string
	}{
		{Fault{Kind: "reboot", At: AtUpgrade}, `fault kind "reboot" is unknown (valid: delete-runner-pod, delete-operator-pod, restart-backend, pause-apiserver)`},
		{Fault{Kind: RestartBackend, At: "later"}, `point "later" is unknown (valid: baseline, upgrade, after-upgrade)`},
		{Fault{Kind: DeleteRunnerPod, At: AtBaseline}, "role is empty"},
		{Fault{Kind: PauseAPIServer, At: AtBaseline, For: 2 * time.Minute}, "for 2m0s is not between 0 and 1m"},
		{Fault{Kind: RestartBackend, At: AtBaseline, Delay: -time.Second}, "delay -1s is negative"},
	}
	for _, c := range cases {
		err := c.f.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.f, err, c.want)
		}
	}
	if err := (Fault{Kind: PauseAPIServer, At: AtUpgrade, For: 5 * time.Second}).Validate(); err != nil {
		t.Errorf("valid fault refused: %v", err)
	}
}

// The runner pod of the session with the role is deleted, the runner's
// termination message (seen before the pod disappears) gives its 401 count,
// and the fault is in the ledger with the pod and session.
func TestDeleteRunnerPodReadsTheRunnersCount(t *testing.T) {
	g := gomega.NewWithT(t)
	kube := fake.NewClientset(runnerPod("uh-cell", "s-before"), runnerPod("uh-cell", "s-after"))
	kube.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		// As the kubelet does: the terminated status (with its message) lands before the pod is removed.
		name := a.(k8stesting.DeleteAction).GetName()
		obj, err := kube.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), "uh-cell", name)
		g.Expect(err).NotTo(gomega.HaveOccurred())
		p := obj.(*corev1.Pod).DeepCopy()
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Message: "7 401 access lines"}}
		g.Expect(kube.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), p, "uh-cell")).To(gomega.Succeed())
		return false, nil, nil
	})
	l := ledger.New()
	l.SetSessionRole("uh-cell", "s-before", ledger.RolePreUpgrade)
	l.SetSessionRole("uh-cell", "s-after", ledger.RolePostUpgrade)
	inj, err := NewInjector(InjectorInput{Kube: kube, Ledger: l, Clock: clocktesting.NewFakeClock(time.Now()),
		Faults: []Fault{{Kind: DeleteRunnerPod, At: AtAfterUpgrade, Role: ledger.RolePostUpgrade}}})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	inj.Fire(context.Background(), AtBaseline) // nothing planned there
	inj.Fire(context.Background(), AtAfterUpgrade)
	got := inj.Wait()
	g.Expect(got).To(gomega.HaveLen(1))
	g.Expect(got[0].Error).To(gomega.BeEmpty())
	g.Expect(got[0].RunnerPod).To(gomega.Equal("uh-cell/s-after-runner"))
	g.Expect(got[0].Runner401Lines).To(gomega.Equal(7))
	// The deleted instance is known by its creation time too: a recreated pod has the same name.
	g.Expect(got[0].RunnerCreated).To(gomega.BeTemporally("==", podCreated))
	_, err = kube.CoreV1().Pods("uh-cell").Get(context.Background(), "s-after-runner", metav1.GetOptions{})
	g.Expect(err).To(gomega.HaveOccurred())
	_, err = kube.CoreV1().Pods("uh-cell").Get(context.Background(), "s-before-runner", metav1.GetOptions{})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	faults := l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalFault })
	g.Expect(faults).To(gomega.HaveLen(1))
	g.Expect(faults[0].Session).To(gomega.Equal("s-after"))
	g.Expect(faults[0].Role).To(gomega.Equal(ledger.RolePostUpgrade))
	g.Expect(faults[0].Detail).To(gomega.ContainSubstring("the runner logged 7 401 access lines"))
}

// A fault with nothing to hit fails, and the failure is recorded, never dropped.
func TestFaultWithoutTargetIsRecordedAsFailed(t *testing.T) {
	g := gomega.NewWithT(t)
	l := ledger.New()
	inj, err := NewInjector(InjectorInput{Kube: fake.NewClientset(), Ledger: l,
		Faults: []Fault{{Kind: DeleteOperatorPod, At: AtUpgrade}, {Kind: PauseAPIServer, At: AtUpgrade, For: time.Second}}})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	inj.Fire(context.Background(), AtUpgrade)
	got := inj.Wait()
	g.Expect(got).To(gomega.HaveLen(2))
	for _, r := range got {
		g.Expect(r.Error).NotTo(gomega.BeEmpty(), r.String())
	}
	g.Expect(l.Filter(func(o ledger.Observation) bool { return o.Signal == ledger.SignalFault })).To(gomega.HaveLen(2))
}

// The pause stops kube-apiserver by its exact name in the node container and
// continues it after For on the injected clock.
func TestPauseAPIServerStopsAndContinues(t *testing.T) {
	g := gomega.NewWithT(t)
	clk := clocktesting.NewFakeClock(time.Now())
	var mu sync.Mutex
	var cmds []string
	exec := func(_ context.Context, name string, args ...string) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		cmds = append(cmds, name+" "+strings.Join(args, " "))
		return nil, nil
	}
	inj, err := NewInjector(InjectorInput{Kube: fake.NewClientset(), Ledger: ledger.New(), Clock: clk, Exec: exec, NodeContainer: "uh-x-control-plane",
		Faults: []Fault{{Kind: PauseAPIServer, At: AtBaseline, For: 4 * time.Second}}})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	inj.Fire(context.Background(), AtBaseline)
	g.Eventually(clk.HasWaiters).Should(gomega.BeTrue())
	mu.Lock()
	g.Expect(cmds).To(gomega.Equal([]string{"docker exec uh-x-control-plane pkill -STOP -x kube-apiserver"}))
	mu.Unlock()
	clk.Step(4 * time.Second)
	got := inj.Wait()
	g.Expect(got[0].Error).To(gomega.BeEmpty())
	g.Expect(got[0].End.Sub(got[0].Start)).To(gomega.Equal(4 * time.Second))
	g.Expect(cmds).To(gomega.Equal([]string{"docker exec uh-x-control-plane pkill -STOP -x kube-apiserver",
		"docker exec uh-x-control-plane pkill -CONT -x kube-apiserver"}))
}

// The backend restart sets the rollout-restart annotation and waits for the
// Deployment to be available again.
func TestRestartBackendAnnotatesTheTemplate(t *testing.T) {
	g := gomega.NewWithT(t)
	one := int32(1)
	kube := fake.NewClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: platform.Namespace, Name: platform.BackendDeployment},
		Spec:   appsv1.DeploymentSpec{Replicas: &one},
		Status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}})
	inj, err := NewInjector(InjectorInput{Kube: kube, Ledger: ledger.New(), Clock: clocktesting.NewFakeClock(time.Now()),
		Faults: []Fault{{Kind: RestartBackend, At: AtAfterUpgrade}}})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	inj.Fire(context.Background(), AtAfterUpgrade)
	got := inj.Wait()
	g.Expect(got[0].Error).To(gomega.BeEmpty())
	d, err := kube.AppsV1().Deployments(platform.Namespace).Get(context.Background(), platform.BackendDeployment, metav1.GetOptions{})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(d.Spec.Template.Annotations).To(gomega.HaveKey("kubectl.kubernetes.io/restartedAt"))
}
