package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

const revisionAnnotation = "deployment.kubernetes.io/revision"

// WaitForRolloutInput says which Deployments must run which image.
type WaitForRolloutInput struct {
	Client    kubernetes.Interface
	Namespace string
	// Deployments maps a Deployment name to the image its pods must run.
	Deployments map[string]string
	Timeout     time.Duration // default 3m
	Interval    time.Duration // default 500ms, as the other waits of this package
	// Logf prints a progress line whenever what a Deployment waits for changes; nil is silent.
	Logf func(format string, args ...any)
}

// RolloutPod is a ready pod of the newest ReplicaSet and the image it really runs.
type RolloutPod struct {
	Name      string
	Container string
	Image     string
	ImageID   string
}

// RolloutStatus is one evaluation of the rollout-done predicate.
type RolloutStatus struct {
	Deployment string
	Image      string
	// Waiting lists what is still wrong; empty means done.
	Waiting []string
	Pods    []RolloutPod
	// DoneAt is when WaitForRollout first saw the rollout done (zero from CheckRollout).
	DoneAt time.Time
	// Replaced are the pods the Deployment ran before the change that the
	// rollout replaced (set by Upgrade, which lists them before it applies).
	Replaced []RolloutPod
}

// Done reports whether nothing is left to wait for.
func (s RolloutStatus) Done() bool { return len(s.Waiting) == 0 }

func (s RolloutStatus) String() string {
	if s.Done() {
		return s.Deployment + ": rolled out to " + s.Image
	}
	return "waiting for " + s.Deployment + ": " + strings.Join(s.Waiting, "; ")
}

// CheckRollout evaluates once whether Deployment name in namespace has rolled
// out image: observedGeneration ≥ generation, the newest ReplicaSet (by
// revision) is fully available, no pod of an older ReplicaSet is left (not even
// terminating), and every ready pod's container really runs the image.
func CheckRollout(ctx context.Context, client kubernetes.Interface, namespace, name, image string) (RolloutStatus, error) {
	st := RolloutStatus{Deployment: name, Image: image}
	wait := func(format string, args ...any) { st.Waiting = append(st.Waiting, fmt.Sprintf(format, args...)) }
	d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		wait("Deployment %s/%s does not exist", namespace, name)
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if d.Status.ObservedGeneration < d.Generation {
		wait("controller has not observed generation %d yet (observed %d)", d.Generation, d.Status.ObservedGeneration)
	}
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return st, fmt.Errorf("Deployment %s/%s: spec.selector: %w", namespace, name, err)
	}
	rsList, err := client.AppsV1().ReplicaSets(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return st, err
	}
	var newest *appsv1.ReplicaSet
	newestRev := int64(-1)
	for i := range rsList.Items {
		rs := &rsList.Items[i]
		if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID {
			continue
		}
		rev, _ := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
		if rev > newestRev {
			newest, newestRev = rs, rev
		}
	}
	if newest == nil {
		wait("no ReplicaSet yet")
		return st, nil
	}
	container := ""
	var templateImages []string
	for _, c := range newest.Spec.Template.Spec.Containers {
		templateImages = append(templateImages, c.Image)
		if container == "" && SameImage(c.Image, image) {
			container = c.Name
		}
	}
	if container == "" {
		wait("newest ReplicaSet %s (revision %d) runs %s, not %s", newest.Name, newestRev, strings.Join(templateImages, ","), image)
	}
	available := newest.Status.AvailableReplicas
	if available < desired {
		wait("%d/%d new pods available", available, desired)
	}
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return st, err
	}
	var old []string
	ready := int32(0)
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	for i := range pods.Items {
		p := &pods.Items[i]
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.Kind != "ReplicaSet" {
			continue // not a Deployment's pod, though it matches the selector
		}
		if ref.UID != newest.UID {
			old = append(old, describeOldPod(p))
			continue
		}
		if p.DeletionTimestamp != nil || !podReady(p) || container == "" {
			continue
		}
		ready++
		cs := containerStatus(p, container)
		if cs == nil {
			wait("pod %s reports no status for container %s", p.Name, container)
			continue
		}
		// When several tags share one image the runtime reports a bare image ID
		// or any of the tags (a PR build retagged from a release): the spec
		// image was matched above, and the node's image list shows the tag
		// reported is the same image.
		if !SameImage(cs.Image, image) && !strings.HasPrefix(cs.Image, "sha256:") {
			alias, err := sameImageOnNode(ctx, client, p.Spec.NodeName, cs.Image, image)
			if err != nil {
				wait("pod %s container %s runs %s, want %s (node %s: %v)", p.Name, container, cs.Image, image, p.Spec.NodeName, err)
				continue
			}
			if !alias {
				wait("pod %s container %s runs %s, want %s", p.Name, container, cs.Image, image)
				continue
			}
		}
		st.Pods = append(st.Pods, RolloutPod{Name: p.Name, Container: container, Image: cs.Image, ImageID: cs.ImageID})
	}
	if len(old) > 0 {
		wait("%d old pod%s left (%s)", len(old), plural(len(old)), strings.Join(old, ", "))
	}
	if container != "" && ready < desired {
		wait("%d/%d new pods ready", ready, desired)
	}
	return st, nil
}

// sameImageOnNode reports whether node lists a and b as names of one image.
func sameImageOnNode(ctx context.Context, client kubernetes.Interface, node, a, b string) (bool, error) {
	if node == "" {
		return false, nil
	}
	n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	for _, img := range n.Status.Images {
		hasA, hasB := false, false
		for _, name := range img.Names {
			hasA = hasA || SameImage(name, a)
			hasB = hasB || SameImage(name, b)
		}
		if hasA && hasB {
			return true, nil
		}
	}
	return false, nil
}

func describeOldPod(p *corev1.Pod) string {
	images := make([]string, 0, len(p.Spec.Containers))
	for _, c := range p.Spec.Containers {
		images = append(images, c.Image)
	}
	state := string(p.Status.Phase)
	if p.DeletionTimestamp != nil {
		state = "terminating"
	}
	return fmt.Sprintf("%s %s %s", p.Name, strings.Join(images, ","), state)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// WaitForRollout waits until every Deployment of the input has rolled out its
// image (see CheckRollout) and returns the final status of each, with the
// imageIDs the pods really run. On timeout the error says what is still wrong.
func WaitForRollout(ctx context.Context, in WaitForRolloutInput) ([]RolloutStatus, error) {
	if in.Client == nil {
		return nil, fault.BadInputErr(errors.New("WaitForRolloutInput.Client is nil"))
	}
	if in.Namespace == "" {
		return nil, fault.BadInputErr(errors.New("WaitForRolloutInput.Namespace is empty: want the platform namespace, e.g. ambient-code"))
	}
	names := make([]string, 0, len(in.Deployments))
	for name, image := range in.Deployments {
		if strings.TrimSpace(image) == "" {
			return nil, fault.BadInputErr(fmt.Errorf("WaitForRolloutInput.Deployments[%s] has an empty image: want the pinned reference", name))
		}
		names = append(names, name)
	}
	sort.Strings(names)
	timeout, interval := in.Timeout, in.Interval
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	logf := in.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	last := map[string]string{}
	doneAt := map[string]time.Time{}
	var statuses []RolloutStatus
	err := wait.PollUntilContextTimeout(ctx, interval, timeout, true, func(pctx context.Context) (bool, error) {
		statuses = make([]RolloutStatus, 0, len(names))
		done := true
		for _, name := range names {
			st, err := CheckRollout(pctx, in.Client, in.Namespace, name, in.Deployments[name])
			if err != nil {
				if ctx.Err() != nil {
					return false, fmt.Errorf("rollout of %s: %w", name, ctx.Err())
				}
				st.Waiting = []string{"API error: " + err.Error()}
			}
			if msg := st.String(); msg != last[name] {
				logf("%s", msg)
				last[name] = msg
			}
			if st.Done() && doneAt[name].IsZero() {
				doneAt[name] = time.Now()
			}
			st.DoneAt = doneAt[name]
			done = done && st.Done()
			statuses = append(statuses, st)
		}
		return done, nil
	})
	switch {
	case err == nil:
		return statuses, nil
	case ctx.Err() != nil:
		return statuses, fault.InfraErr(fmt.Errorf("rollout in %s: %w", in.Namespace, ctx.Err()))
	case !wait.Interrupted(err):
		return statuses, fault.InfraErr(err)
	}
	var still []string
	for _, st := range statuses {
		if !st.Done() {
			still = append(still, st.String())
		}
	}
	return statuses, fault.InfraErr(fmt.Errorf("rollout in %s not done after %s: %s", in.Namespace, timeout, strings.Join(still, " | ")))
}

// ListDeploymentPods returns the pods Deployment name in namespace runs now
// (those of any of its ReplicaSets), sorted by name, with each pod's first
// container and its image. A missing Deployment has none.
func ListDeploymentPods(ctx context.Context, client kubernetes.Interface, namespace, name string) ([]RolloutPod, error) {
	d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("Deployment %s/%s: spec.selector: %w", namespace, name, err)
	}
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, err
	}
	var out []RolloutPod
	for i := range pods.Items {
		p := &pods.Items[i]
		if ref := metav1.GetControllerOf(p); ref == nil || ref.Kind != "ReplicaSet" || len(p.Spec.Containers) == 0 {
			continue
		}
		rp := RolloutPod{Name: p.Name, Container: p.Spec.Containers[0].Name, Image: p.Spec.Containers[0].Image}
		if cs := containerStatus(p, rp.Container); cs != nil {
			rp.ImageID = cs.ImageID
		}
		out = append(out, rp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// replacedPods are the pods of before that are not among the rollout's pods.
func replacedPods(before, after []RolloutPod) []RolloutPod {
	var out []RolloutPod
	for _, b := range before {
		if !slices.ContainsFunc(after, func(a RolloutPod) bool { return a.Name == b.Name }) {
			out = append(out, b)
		}
	}
	return out
}
