package session

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
)

// TerminalPhases are the session phases a session does not leave by itself
// (docs/platform.md §4): a wait for any other phase ends there.
var TerminalPhases = []string{PhaseCompleted, PhaseFailed, PhaseStopped}

// containerErrorReasons are waiting reasons that do not resolve by themselves
// (the runner pod has restartPolicy Never, images are preloaded).
var containerErrorReasons = map[string]bool{
	"CreateContainerConfigError": true, "CreateContainerError": true, "ErrImagePull": true, "ImagePullBackOff": true,
	"ErrImageNeverPull": true, "InvalidImageName": true, "CrashLoopBackOff": true, "RunContainerError": true,
	"PostStartHookError": true,
}

// RunnerPodName is the runner pod of a session (docs/platform.md §3.3).
func RunnerPodName(session string) string { return session + "-runner" }

// PodDiagnosis is what the cluster says about a session's runner pod.
type PodDiagnosis struct {
	Pod string // namespace/name
	// Gone: the pod does not exist (the operator deletes it when a session ends).
	Gone bool
	// Phase of the pod, its container states and Warning/Normal events, oldest first.
	Phase      corev1.PodPhase
	Containers []string
	Events     []string
	// Dead names why the pod cannot run: a container waiting in an error state,
	// a killed or exited runner, or the scheduler's reason. Empty when none.
	Dead string
	// Unschedulable is the scheduler's message when the pod cannot be placed.
	Unschedulable string
	// Exited: the runner container terminated (killed or exited); the
	// operator turns that into Completed or Failed.
	Exited bool
	// Terminating: the pod is being deleted (a stop), which decides nothing.
	Terminating bool
	// Requests is the pod's effective CPU and memory request (max of init
	// containers, sum of containers), which the scheduler compares with the node.
	Requests string
}

// String renders the diagnosis on one line for an error message.
func (d PodDiagnosis) String() string {
	if d.Pod == "" {
		return "runner pod not inspected"
	}
	var b strings.Builder
	if d.Dead != "" {
		b.WriteString(d.Dead)
		b.WriteString("; ")
	}
	if d.Gone {
		fmt.Fprintf(&b, "runner pod %s is gone", d.Pod)
	} else {
		fmt.Fprintf(&b, "runner pod %s phase %s", d.Pod, d.Phase)
		if d.Terminating {
			b.WriteString(" (terminating)")
		}
		if d.Requests != "" {
			fmt.Fprintf(&b, " (requests %s)", d.Requests)
		}
		if len(d.Containers) > 0 {
			fmt.Fprintf(&b, ", containers: %s", strings.Join(d.Containers, ", "))
		}
	}
	if len(d.Events) > 0 {
		fmt.Fprintf(&b, "; events: %s", strings.Join(d.Events, " | "))
	} else {
		b.WriteString("; no events")
	}
	return b.String()
}

// DiagnoseRunnerPod reads a session's runner pod and its events and says why it
// does not run, if it cannot. Events outlive the pod, so a deleted pod still
// tells why (FailedPostStartHook, Killing, FailedScheduling, …).
func DiagnoseRunnerPod(ctx context.Context, cs kubernetes.Interface, ref SessionRef) (PodDiagnosis, error) {
	name := RunnerPodName(ref.Name)
	d := PodDiagnosis{Pod: ref.Project + "/" + name}
	pod, err := cs.CoreV1().Pods(ref.Project).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		d.Gone, pod = true, nil
	case err != nil:
		return d, fmt.Errorf("get runner pod %s: %w", d.Pod, err)
	default:
		describePod(pod, &d)
	}
	evs, err := cs.CoreV1().Events(ref.Project).List(ctx, metav1.ListOptions{
		FieldSelector: fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.name", name), fields.OneTermEqualSelector("involvedObject.kind", "Pod")).String(),
	})
	if err != nil {
		return d, fmt.Errorf("list events of %s: %w", d.Pod, err)
	}
	items := evs.Items
	sort.SliceStable(items, func(i, j int) bool { return eventTime(items[i]).Time.Before(eventTime(items[j]).Time) })
	for _, e := range items {
		if e.InvolvedObject.Name != name {
			continue
		}
		line := fmt.Sprintf("%s %s: %s", e.Type, e.Reason, strings.TrimSpace(e.Message))
		// Events of an earlier pod of the same name (before a restart) are
		// listed but decide nothing about this one.
		if pod != nil && eventTime(e).Time.Before(pod.CreationTimestamp.Time) {
			d.Events = append(d.Events, line+" (earlier pod)")
			continue
		}
		d.Events = append(d.Events, line)
		// A failed PostStart hook is why the kubelet killed the runner (docs/platform.md §10 item 1).
		if e.Reason == "FailedPostStartHook" && (d.Dead == "" || strings.HasPrefix(d.Dead, "runner container ")) {
			d.Dead = "runner container killed: FailedPostStartHook: " + strings.TrimSpace(e.Message)
			// The kubelet kills it; its status may still say PodInitializing.
			d.Exited = true
		}
		if e.Reason == "FailedScheduling" && d.Unschedulable == "" && !d.Gone && pod != nil && pod.Spec.NodeName == "" {
			d.Unschedulable = strings.TrimSpace(e.Message)
		}
	}
	if d.Dead == "" && d.Unschedulable != "" {
		d.Dead = "runner pod " + d.Pod + " cannot be scheduled: " + d.Unschedulable
	}
	return d, nil
}

func eventTime(e corev1.Event) metav1.Time {
	for _, t := range []metav1.Time{e.LastTimestamp, e.FirstTimestamp, {Time: e.EventTime.Time}, e.CreationTimestamp} {
		if !t.IsZero() {
			return t
		}
	}
	return metav1.Time{}
}

func describePod(pod *corev1.Pod, d *PodDiagnosis) {
	d.Phase = pod.Status.Phase
	d.Requests = podRequests(pod)
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			d.Unschedulable = strings.TrimSpace(c.Message)
		}
	}
	for _, group := range []struct {
		kind     string
		statuses []corev1.ContainerStatus
	}{{"init container", pod.Status.InitContainerStatuses}, {"container", pod.Status.ContainerStatuses}} {
		for _, st := range group.statuses {
			d.Containers = append(d.Containers, st.Name+" "+stateString(st.State))
			switch s := st.State; {
			case s.Waiting != nil && containerErrorReasons[s.Waiting.Reason]:
				if d.Dead == "" {
					d.Dead = fmt.Sprintf("%s %s waiting: %s: %s", group.kind, st.Name, s.Waiting.Reason, strings.TrimSpace(s.Waiting.Message))
				}
			case s.Terminated != nil && st.Name == "ambient-code-runner":
				d.Exited = true
				if d.Dead == "" {
					d.Dead = fmt.Sprintf("runner container terminated: exit %d %s %s", s.Terminated.ExitCode, s.Terminated.Reason, strings.TrimSpace(s.Terminated.Message))
				}
			case s.Terminated != nil && group.kind == "init container" && s.Terminated.ExitCode != 0:
				if d.Dead == "" {
					d.Dead = fmt.Sprintf("init container %s failed: exit %d %s", st.Name, s.Terminated.ExitCode, s.Terminated.Reason)
				}
			}
		}
	}
	if d.Dead == "" && d.Unschedulable != "" {
		d.Dead = "runner pod " + d.Pod + " cannot be scheduled: " + d.Unschedulable
	}
	d.Terminating = pod.DeletionTimestamp != nil
}

func stateString(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Waiting != nil:
		return strings.TrimSpace("waiting " + s.Waiting.Reason + " " + s.Waiting.Message)
	case s.Terminated != nil:
		return strings.TrimSpace(fmt.Sprintf("terminated exit %d %s %s", s.Terminated.ExitCode, s.Terminated.Reason, s.Terminated.Message))
	}
	return "unknown"
}

// podRequests is the request the scheduler uses: the larger of the largest init
// container and the sum of the containers, per resource.
func podRequests(pod *corev1.Pod) string {
	out := make([]string, 0, 2)
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		sum := resource.Quantity{}
		for _, c := range pod.Spec.Containers {
			if q, ok := c.Resources.Requests[name]; ok {
				sum.Add(q)
			}
		}
		for _, c := range pod.Spec.InitContainers {
			if q, ok := c.Resources.Requests[name]; ok && q.Cmp(sum) > 0 {
				sum = q.DeepCopy()
			}
		}
		out = append(out, fmt.Sprintf("%s %s", name, sum.String()))
	}
	return strings.Join(out, ", ")
}

// capacityMayFree reports whether a pod somewhere is terminating, whose
// resources the scheduler gets back once it is gone: only then can an
// unschedulable runner pod still start on its own.
func capacityMayFree(ctx context.Context, cs kubernetes.Interface) bool {
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return true // cannot tell: keep waiting rather than guess dead
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			return true
		}
	}
	return false
}
