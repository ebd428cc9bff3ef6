package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/ambient-e2e/upgrade-harness/harness/ledger"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/poll"
	"github.com/ambient-e2e/upgrade-harness/harness/proc"
)

// Exec runs a command on the host (docker exec into the kind node) and
// returns its combined output.
type Exec func(ctx context.Context, name string, args ...string) ([]byte, error)

// InjectorInput configures NewInjector.
type InjectorInput struct {
	Kube   kubernetes.Interface
	Ledger *ledger.Ledger
	Faults []Fault
	// NodeContainer is the kind node's container, for PauseAPIServer ("" when
	// the cluster is no kind cluster: that fault then fails, recorded).
	NodeContainer string
	// Exec defaults to running the command with proc.Command.
	Exec  Exec
	Clock clock.Clock
	// Logf reports each fault as it is injected.
	Logf func(format string, a ...any)
	// PodGoneTimeout bounds the wait for a deleted pod to disappear (default 90 s).
	PodGoneTimeout time.Duration
	// ReadyTimeout bounds the wait for a restarted backend (default 2 min).
	ReadyTimeout time.Duration
}

// Injector fires the faults of one cell at their points.
type Injector struct {
	in InjectorInput

	mu    sync.Mutex
	wg    sync.WaitGroup
	fired map[Point]bool
	done  []Injected
}

// NewInjector checks every fault and returns an injector for them.
func NewInjector(in InjectorInput) (*Injector, error) {
	for _, f := range in.Faults {
		if err := f.Validate(); err != nil {
			return nil, err
		}
	}
	if in.Kube == nil || in.Ledger == nil {
		return nil, fmt.Errorf("chaos: need a clientset and a ledger")
	}
	if in.Exec == nil {
		in.Exec = func(ctx context.Context, name string, args ...string) ([]byte, error) {
			return proc.Command(ctx, name, args...).CombinedOutput()
		}
	}
	if in.Clock == nil {
		in.Clock = clock.RealClock{}
	}
	if in.Logf == nil {
		in.Logf = func(string, ...any) {}
	}
	if in.PodGoneTimeout <= 0 {
		in.PodGoneTimeout = 90 * time.Second
	}
	if in.ReadyTimeout <= 0 {
		in.ReadyTimeout = 2 * time.Minute
	}
	return &Injector{in: in, fired: map[Point]bool{}}, nil
}

// Fire starts, in the background, every fault planned at p (each after its
// delay). A point fires once; a nil injector does nothing.
func (i *Injector) Fire(ctx context.Context, p Point) {
	if i == nil {
		return
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.fired[p] {
		return
	}
	i.fired[p] = true
	for _, f := range i.in.Faults {
		if f.At != p {
			continue
		}
		i.wg.Add(1)
		go func(f Fault) {
			defer i.wg.Done()
			if err := poll.Sleep(ctx, i.in.Clock, f.Delay); err != nil {
				i.record(Injected{Fault: f, Start: i.in.Clock.Now(), End: i.in.Clock.Now(), Runner401Lines: -1,
					Error: fmt.Sprintf("not injected: the cell ended first (%v)", err)})
				return
			}
			i.record(i.inject(ctx, f))
		}(f)
	}
}

// Wait waits for every fired fault to finish and returns what each did, in
// the order they started.
func (i *Injector) Wait() []Injected {
	if i == nil {
		return nil
	}
	i.wg.Wait()
	i.mu.Lock()
	defer i.mu.Unlock()
	out := append([]Injected(nil), i.done...)
	sort.SliceStable(out, func(a, b int) bool { return out[a].Start.Before(out[b].Start) })
	return out
}

func (i *Injector) record(r Injected) {
	i.in.Logf("fault %s", r)
	o := ledger.Observation{Time: r.Start, Signal: ledger.SignalFault, Source: "chaos:" + string(r.Fault.Kind), Detail: r.String()}
	if r.RunnerPod != "" {
		o.RunnerPod = r.RunnerPod
		o.Namespace, o.Session = strings.SplitN(r.RunnerPod, "/", 2)[0], r.Session
	}
	i.in.Ledger.Add(o)
	i.mu.Lock()
	i.done = append(i.done, r)
	i.mu.Unlock()
}

func (i *Injector) inject(ctx context.Context, f Fault) Injected {
	r := Injected{Fault: f, Start: i.in.Clock.Now(), Runner401Lines: -1}
	var err error
	switch f.Kind {
	case DeleteRunnerPod:
		err = i.deleteRunnerPod(ctx, f, &r)
	case DeleteOperatorPod:
		err = i.deleteOperatorPods(ctx, &r)
	case RestartBackend:
		err = i.restartBackend(ctx, &r)
	case PauseAPIServer:
		err = i.pauseAPIServer(ctx, f, &r)
	}
	if err != nil {
		r.Error = err.Error()
	}
	r.End = i.in.Clock.Now()
	return r
}

// deleteRunnerPod deletes the runner pod of the first session with f.Role
// and follows the pod until it is gone, keeping the runner container's
// termination message: the simulated runner's count of its 401 lines.
func (i *Injector) deleteRunnerPod(ctx context.Context, f Fault, r *Injected) error {
	pods, err := i.in.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: platform.AppLabel + "=" + platform.RunnerAppLabelValue})
	if err != nil {
		return fmt.Errorf("list runner pods: %w", err)
	}
	var pod *corev1.Pod
	sort.Slice(pods.Items, func(a, b int) bool {
		return pods.Items[a].Namespace+"/"+pods.Items[a].Name < pods.Items[b].Namespace+"/"+pods.Items[b].Name
	})
	for k := range pods.Items {
		p := &pods.Items[k]
		if p.DeletionTimestamp == nil && i.in.Ledger.SessionRole(p.Namespace, p.Labels[platform.SessionLabel]) == f.Role {
			pod = p
			break
		}
	}
	if pod == nil {
		return fmt.Errorf("no runner pod of a %s session among %d runner pods", f.Role, len(pods.Items))
	}
	r.RunnerPod, r.Session, r.Target = pod.Namespace+"/"+pod.Name, pod.Labels[platform.SessionLabel], "runner pod "+pod.Namespace+"/"+pod.Name
	r.RunnerCreated = pod.CreationTimestamp.Time
	// Watch from the pod's own version, so the runner's last status (its
	// termination message) is seen before the pod disappears.
	w, err := i.in.Kube.CoreV1().Pods(pod.Namespace).Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", pod.Name).String(), ResourceVersion: pod.ResourceVersion})
	if err != nil {
		return fmt.Errorf("watch %s: %w", r.RunnerPod, err)
	}
	defer w.Stop()
	uid := pod.UID
	if err := i.in.Kube.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil {
		return fmt.Errorf("delete %s: %w", r.RunnerPod, err)
	}
	gone := i.in.Clock.NewTimer(i.in.PodGoneTimeout)
	defer gone.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-gone.C():
			return fmt.Errorf("%s still there %s after its deletion", r.RunnerPod, i.in.PodGoneTimeout)
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("watch of %s ended before the pod was gone", r.RunnerPod)
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod || p.UID != uid {
				continue
			}
			if n, ok := Runner401Lines(p); ok {
				r.Runner401Lines = n
			}
			if ev.Type == watch.Deleted {
				return nil
			}
		}
	}
}

// Runner401Lines reads the simulated runner's termination message ("<n> 401
// access lines") from pod's runner container; false while it has none.
func Runner401Lines(pod *corev1.Pod) (int, bool) {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != platform.RunnerContainer || cs.State.Terminated == nil {
			continue
		}
		var n int
		if _, err := fmt.Sscanf(cs.State.Terminated.Message, "%d 401 access lines", &n); err == nil {
			return n, true
		}
	}
	return 0, false
}

func (i *Injector) deleteOperatorPods(ctx context.Context, r *Injected) error {
	pods, err := i.in.Kube.CoreV1().Pods(platform.Namespace).List(ctx, metav1.ListOptions{LabelSelector: platform.AppLabel + "=" + platform.OperatorAppLabelValue})
	if err != nil {
		return fmt.Errorf("list operator pods: %w", err)
	}
	var names []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		if err := i.in.Kube.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("delete operator pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		names = append(names, p.Namespace+"/"+p.Name)
	}
	if len(names) == 0 {
		return fmt.Errorf("no operator pod in %s", platform.Namespace)
	}
	r.Target = fmt.Sprintf("operator pods %v", names)
	return nil
}

// restartBackend does what `kubectl rollout restart` does (a new template
// annotation) and waits until the Deployment has rolled out again.
func (i *Injector) restartBackend(ctx context.Context, r *Injected) error {
	name := platform.BackendDeployment
	r.Target = "deployment " + platform.Namespace + "/" + name
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{"kubectl.kubernetes.io/restartedAt": i.in.Clock.Now().UTC().Format(time.RFC3339)}}}}})
	d, err := i.in.Kube.AppsV1().Deployments(platform.Namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("restart %s: %w", r.Target, err)
	}
	gen := d.Generation
	wctx, cancel := context.WithTimeout(ctx, i.in.ReadyTimeout)
	defer cancel()
	err = poll.Until(wctx, i.in.Clock, time.Second, func(ctx context.Context) (bool, error) {
		d, err := i.in.Kube.AppsV1().Deployments(platform.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil // the API server may be paused by another fault
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		s := d.Status
		return s.ObservedGeneration >= gen && s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want, nil
	})
	if err != nil {
		return fmt.Errorf("%s not rolled out again within %s: %w", r.Target, i.in.ReadyTimeout, err)
	}
	return nil
}

// pauseAPIServer stops kube-apiserver inside the node container by its exact
// process name and always continues it, even when ctx ends meanwhile.
func (i *Injector) pauseAPIServer(ctx context.Context, f Fault, r *Injected) error {
	if i.in.NodeContainer == "" {
		return fmt.Errorf("no kind node container to pause the API server in (not a kind cluster)")
	}
	r.Target = "kube-apiserver in node container " + i.in.NodeContainer
	if out, err := i.in.Exec(ctx, "docker", "exec", i.in.NodeContainer, "pkill", "-STOP", "-x", "kube-apiserver"); err != nil {
		return fmt.Errorf("stop kube-apiserver in %s: %v: %s", i.in.NodeContainer, err, out)
	}
	r.Start = i.in.Clock.Now()
	_ = poll.Sleep(ctx, i.in.Clock, f.For)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if out, err := i.in.Exec(cctx, "docker", "exec", i.in.NodeContainer, "pkill", "-CONT", "-x", "kube-apiserver"); err != nil {
		return fmt.Errorf("continue kube-apiserver in %s: %v: %s", i.in.NodeContainer, err, out)
	}
	return nil
}
