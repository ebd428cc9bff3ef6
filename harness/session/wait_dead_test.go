package session

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

var waitEpoch = time.Date(2026, 5, 12, 10, 0, 0, 0, time.UTC)

// waitResult is what a wait running in the background returned, and the fake
// time it returned at.
type waitResult struct {
	s   Session
	err error
	at  time.Time
}

// runWait runs wait in the background and steps the fake clock by step each
// time the wait sleeps, until it returns. Only fake time passes.
func runWait(t *testing.T, fc *clocktesting.FakeClock, step time.Duration, wait func() (Session, error)) waitResult {
	t.Helper()
	done := make(chan waitResult, 1)
	go func() {
		s, err := wait()
		done <- waitResult{s: s, err: err, at: fc.Now()}
	}()
	for {
		select {
		case r := <-done:
			return r
		default:
		}
		if fc.HasWaiters() {
			fc.Step(step)
		}
		if fc.Since(waitEpoch) > time.Hour {
			t.Fatal("the wait did not end within an hour of fake time")
		}
		runtime.Gosched()
	}
}

func podEvent(name, typ, reason, msg string, at time.Time) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name + "." + reason, Namespace: testRef.Project},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: testRef.Project, Name: name},
		Type:           typ, Reason: reason, Message: msg, LastTimestamp: metav1.NewTime(at),
	}
}

const hookFailure = `PostStartHook failed: rpc error: code = Unknown desc = failed to exec in container: exec: "/bin/sh": stat /bin/sh: no such file or directory`

// TestWaitForRunningEndsAtTheTerminalPhaseWithPodEvents is docs/platform.md §10 item 1:
// a runner image without /bin/sh is killed after its PostStart hook fails, the
// operator sets Completed / Runner finished and deletes the pod. The wait for
// Running must end within 5 s of the session turning Completed and say why
// from the pod's events.
func TestWaitForRunningEndsAtTheTerminalPhaseWithPodEvents(t *testing.T) {
	fc := clocktesting.NewFakeClock(waitEpoch)
	fb := newFakeBackend(t)
	fb.phases["session-1"] = []string{PhasePending, PhaseCreating, PhaseCreating, PhaseCreating, PhaseCompleted}
	fb.ready["session-1"] = platform.Condition{Type: "Ready", Status: "False", Reason: "Completed", Message: "Runner finished"}
	var mu sync.Mutex
	var terminalAt time.Time
	fb.onPhase = func(_, phase string) {
		mu.Lock()
		defer mu.Unlock()
		if phase == PhaseCompleted && terminalAt.IsZero() {
			terminalAt = fc.Now()
		}
	}
	pod := RunnerPodName("session-1")
	kube := kubefake.NewClientset(
		podEvent(pod, "Warning", "FailedPostStartHook", hookFailure, waitEpoch.Add(2*time.Second)),
		podEvent(pod, "Normal", "Killing", "FailedPostStartHook", waitEpoch.Add(2*time.Second)),
		podEvent("other-runner", "Warning", "BackOff", "not this pod", waitEpoch))
	c := fb.client(t, WithKubernetes(kube), WithClock(fc))

	r := runWait(t, fc, time.Second, func() (Session, error) {
		return c.WaitForSessionPhase(context.Background(), WaitForSessionPhaseInput{Session: testRef, Phases: []string{PhaseRunning}})
	})
	var dead *DeadSessionError
	if !errors.As(r.err, &dead) {
		t.Fatalf("err = %v, want a *DeadSessionError", r.err)
	}
	mu.Lock()
	after := r.at.Sub(terminalAt)
	mu.Unlock()
	if terminalAt.IsZero() || after > 5*time.Second {
		t.Errorf("the wait ended %s after the session turned Completed, want within 5 s", after)
	}
	if dead.Phase != PhaseCompleted || r.s.Phase != PhaseCompleted {
		t.Errorf("phase = %s / %s, want Completed", dead.Phase, r.s.Phase)
	}
	msg := r.err.Error()
	for _, want := range []string{
		"session proj-a/session-1 ended in phase Completed", "for Running", `Ready False Completed "Runner finished"`,
		"runner container killed: FailedPostStartHook: " + hookFailure, "runner pod proj-a/session-1-runner is gone",
		"Warning FailedPostStartHook", "Normal Killing: FailedPostStartHook",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not say %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "not this pod") {
		t.Errorf("error names another pod's events:\n%s", msg)
	}
	t.Logf("ended %s after the terminal phase: %s", after, msg)
}

// TestWaitNamesAnUnschedulablePodAtOnce: the fourth session on 2 cores under
// the LimitRange (docs/platform.md §10 item 3) is named with the scheduler's reason as
// soon as it is reported, with the pod's requests.
func TestWaitNamesAnUnschedulablePodAtOnce(t *testing.T) {
	fc := clocktesting.NewFakeClock(waitEpoch)
	fb := newFakeBackend(t)
	fb.phases["session-1"] = []string{PhaseCreating}
	msg := "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
	kube := kubefake.NewClientset(pendingPod(msg, nil))
	c := fb.client(t, WithKubernetes(kube), WithClock(fc))
	r := runWait(t, fc, time.Second, func() (Session, error) {
		return c.WaitForSessionPhase(context.Background(), WaitForSessionPhaseInput{Session: testRef, Phases: []string{PhaseRunning, PhaseFailed}})
	})
	var dead *DeadSessionError
	if !errors.As(r.err, &dead) {
		t.Fatalf("err = %v, want a *DeadSessionError", r.err)
	}
	if el := r.at.Sub(waitEpoch); el != 0 {
		t.Errorf("ended after %s of fake time, want at the first look", el)
	}
	for _, want := range []string{"cannot run (phase Creating)", "cannot be scheduled: " + msg, "requests cpu 250m, memory 320Mi"} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("error does not say %q:\n%s", want, r.err)
		}
	}
}

// An unschedulable pod while another pod is terminating may still start: the
// wait goes on and ends Running once the scheduler placed it.
func TestWaitKeepsWaitingWhileCapacityMayFree(t *testing.T) {
	fc := clocktesting.NewFakeClock(waitEpoch)
	fb := newFakeBackend(t)
	fb.phases["session-1"] = []string{PhaseCreating, PhaseCreating, PhaseCreating, PhaseRunning}
	now := metav1.NewTime(waitEpoch)
	leaving := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "old-runner", Namespace: "proj-a", DeletionTimestamp: &now, Finalizers: []string{"x"}}}
	kube := kubefake.NewClientset(pendingPod("0/1 nodes are available: 1 Insufficient cpu.", nil), leaving)
	c := fb.client(t, WithKubernetes(kube), WithClock(fc))
	r := runWait(t, fc, time.Second, func() (Session, error) {
		return c.WaitForSessionPhase(context.Background(), WaitForSessionPhaseInput{Session: testRef, Phases: []string{PhaseRunning}})
	})
	if r.err != nil || r.s.Phase != PhaseRunning {
		t.Fatalf("phase %s err %v, want Running", r.s.Phase, r.err)
	}
}

// A runner container that cannot start ends a wait for Running at once; a
// caller that accepts Failed (a restart) gets the Failed phase the operator
// reports within OperatorGrace instead.
func TestWaitOnAContainerWaitingInAnErrorState(t *testing.T) {
	ccce := corev1.ContainerStatus{Name: "ambient-code-runner", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "CreateContainerConfigError", Message: "couldn't find key agui-token in Secret proj-a/ambient-runner-token-session-1"}}}
	t.Run("waiting for Running", func(t *testing.T) {
		fc := clocktesting.NewFakeClock(waitEpoch)
		fb := newFakeBackend(t)
		fb.phases["session-1"] = []string{PhaseCreating}
		c := fb.client(t, WithKubernetes(kubefake.NewClientset(pendingPod("", &ccce))), WithClock(fc))
		r := runWait(t, fc, time.Second, func() (Session, error) {
			return c.WaitForSessionPhase(context.Background(), WaitForSessionPhaseInput{Session: testRef, Phases: []string{PhaseRunning}})
		})
		want := "container ambient-code-runner waiting: CreateContainerConfigError: couldn't find key agui-token"
		if r.err == nil || !strings.Contains(r.err.Error(), want) || r.at != waitEpoch {
			t.Fatalf("err %v at +%s, want at once: %s", r.err, r.at.Sub(waitEpoch), want)
		}
	})
	t.Run("waiting for Running or Failed", func(t *testing.T) {
		fc := clocktesting.NewFakeClock(waitEpoch)
		fb := newFakeBackend(t)
		fb.phases["session-1"] = []string{PhaseStopped, PhasePending, PhaseCreating, PhaseCreating, PhaseFailed}
		c := fb.client(t, WithKubernetes(kubefake.NewClientset(pendingPod("", &ccce))), WithClock(fc))
		r := runWait(t, fc, time.Second, func() (Session, error) {
			return c.WaitForSessionPhase(context.Background(), WaitForSessionPhaseInput{Session: testRef,
				Phases: []string{PhaseRunning, PhaseFailed}, StartPhases: []string{PhaseStopped}})
		})
		if r.err != nil || r.s.Phase != PhaseFailed {
			t.Fatalf("phase %s err %v, want the Failed the operator reported", r.s.Phase, r.err)
		}
	})
	t.Run("the operator never reports it", func(t *testing.T) {
		fc := clocktesting.NewFakeClock(waitEpoch)
		fb := newFakeBackend(t)
		fb.phases["session-1"] = []string{PhaseCreating}
		c := fb.client(t, WithKubernetes(kubefake.NewClientset(pendingPod("", &ccce))), WithClock(fc))
		r := runWait(t, fc, time.Second, func() (Session, error) {
			return c.WaitForSessionPhase(context.Background(), WaitForSessionPhaseInput{Session: testRef,
				Phases: []string{PhaseRunning, PhaseFailed}, OperatorGrace: 5 * time.Second})
		})
		var dead *DeadSessionError
		if !errors.As(r.err, &dead) || r.at.Sub(waitEpoch) != 5*time.Second {
			t.Fatalf("err %v at +%s, want a dead session after the 5 s grace", r.err, r.at.Sub(waitEpoch))
		}
	})
}

// A timeout names the pod's state too.
func TestWaitTimeoutDescribesThePod(t *testing.T) {
	fc := clocktesting.NewFakeClock(waitEpoch)
	fb := newFakeBackend(t)
	fb.phases["session-1"] = []string{PhaseCreating}
	creating := corev1.ContainerStatus{Name: "ambient-code-runner", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	c := fb.client(t, WithKubernetes(kubefake.NewClientset(pendingPod("", &creating))), WithClock(fc))
	r := runWait(t, fc, time.Second, func() (Session, error) {
		return c.WaitForSessionPhase(context.Background(), WaitForSessionPhaseInput{Session: testRef, Phases: []string{PhaseRunning}, Timeout: 4 * time.Second})
	})
	if r.err == nil || !strings.Contains(r.err.Error(), "did not reach phase Running within 4s") ||
		!strings.Contains(r.err.Error(), "ambient-code-runner waiting ContainerCreating") || r.at.Sub(waitEpoch) != 4*time.Second {
		t.Fatalf("err %v at +%s", r.err, r.at.Sub(waitEpoch))
	}
}

// pendingPod is the runner pod of testRef: unschedulable with msg when msg is
// set, else scheduled with status st. Its init container has no requests and
// got the LimitRange default of 250m/256Mi.
func pendingPod(msg string, st *corev1.ContainerStatus) kruntime.Object {
	req := func(cpu, mem string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: RunnerPodName("session-1"), Namespace: "proj-a", CreationTimestamp: metav1.NewTime(waitEpoch)},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init-hydrate", Resources: req("250m", "256Mi")}},
			Containers:     []corev1.Container{{Name: "ambient-code-runner", Resources: req("50m", "64Mi")}, {Name: "state-sync", Resources: req("100m", "256Mi")}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	if msg != "" {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: msg}}
	} else {
		p.Spec.NodeName = "uh-control-plane"
		p.Status.ContainerStatuses = []corev1.ContainerStatus{*st}
	}
	return p
}

// A killed runner whose pod the operator has not handled yet: the wait gives
// the operator its grace to report the phase, which then ends it.
func TestWaitLetsTheOperatorReportAnExitedRunner(t *testing.T) {
	exited := corev1.ContainerStatus{Name: "ambient-code-runner", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}}
	fc := clocktesting.NewFakeClock(waitEpoch)
	fb := newFakeBackend(t)
	fb.phases["session-1"] = []string{PhaseCreating, PhaseCreating, PhaseCompleted}
	pod := RunnerPodName("session-1")
	kube := kubefake.NewClientset(pendingPod("", &exited), podEvent(pod, "Warning", "FailedPostStartHook", hookFailure, waitEpoch.Add(time.Second)))
	c := fb.client(t, WithKubernetes(kube), WithClock(fc))
	r := runWait(t, fc, time.Second, func() (Session, error) {
		return c.WaitForSessionPhase(context.Background(), WaitForSessionPhaseInput{Session: testRef, Phases: []string{PhaseRunning}})
	})
	var dead *DeadSessionError
	if !errors.As(r.err, &dead) || dead.Phase != PhaseCompleted || !strings.Contains(r.err.Error(), "runner container killed: FailedPostStartHook") {
		t.Fatalf("err %v, want a dead session in phase Completed naming the hook", r.err)
	}
	if el := r.at.Sub(waitEpoch); el != 2*time.Second {
		t.Errorf("ended after %s, want at the Completed poll (2 s)", el)
	}
}

// The kubelet reports the failed hook before the container status shows the
// kill (seen in kind: runner still "waiting PodInitializing"): that is an
// exited runner too, and the wait lets the operator report it.
func TestWaitTreatsAFailedHookEventAsAnExitedRunner(t *testing.T) {
	initializing := corev1.ContainerStatus{Name: "ambient-code-runner", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}
	fc := clocktesting.NewFakeClock(waitEpoch)
	fb := newFakeBackend(t)
	fb.phases["session-1"] = []string{PhaseCreating, PhaseCreating, PhaseCreating, PhaseCompleted}
	kube := kubefake.NewClientset(pendingPod("", &initializing), podEvent(RunnerPodName("session-1"), "Warning", "FailedPostStartHook", "PostStartHook failed", waitEpoch.Add(time.Second)))
	c := fb.client(t, WithKubernetes(kube), WithClock(fc))
	r := runWait(t, fc, time.Second, func() (Session, error) {
		return c.WaitForSessionPhase(context.Background(), WaitForSessionPhaseInput{Session: testRef, Phases: []string{PhaseRunning}})
	})
	var dead *DeadSessionError
	if !errors.As(r.err, &dead) || dead.Phase != PhaseCompleted || !strings.Contains(r.err.Error(), "runner container killed: FailedPostStartHook: PostStartHook failed") {
		t.Fatalf("err %v, want a dead session in phase Completed naming the hook", r.err)
	}
}

// A stop deletes the runner pod; what its containers show then decides nothing
// (here the restart break's CreateContainerConfigError, being cleaned up).
func TestWaitIgnoresAPodBeingDeleted(t *testing.T) {
	ccce := corev1.ContainerStatus{Name: "ambient-code-runner", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError"}}}
	p := pendingPod("", &ccce).(*corev1.Pod)
	now := metav1.NewTime(waitEpoch)
	p.DeletionTimestamp, p.Finalizers = &now, []string{"x"}
	fc := clocktesting.NewFakeClock(waitEpoch)
	fb := newFakeBackend(t)
	fb.phases["session-1"] = []string{PhaseRunning, PhaseStopping, PhaseStopping, PhaseStopped}
	c := fb.client(t, WithKubernetes(kubefake.NewClientset(p)), WithClock(fc))
	r := runWait(t, fc, time.Second, func() (Session, error) {
		return c.WaitForSessionPhase(context.Background(), WaitForSessionPhaseInput{Session: testRef, Phases: []string{PhaseStopped}})
	})
	if r.err != nil || r.s.Phase != PhaseStopped {
		t.Fatalf("phase %s err %v, want Stopped", r.s.Phase, r.err)
	}
}
