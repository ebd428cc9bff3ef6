package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

// ProjectNamespaceLabel marks the project namespaces the operator manages (§4).
const ProjectNamespaceLabel = "ambient-code.io/managed"

// ResetInput says what to clean between cells. Client and Dynamic are built
// from Config when nil.
type ResetInput struct {
	Config            *rest.Config
	Client            kubernetes.Interface
	Dynamic           dynamic.Interface
	PlatformNamespace string
	// FinalizerGrace is how long custom resources may take to go away through
	// their controller before their finalizers are removed (default 20s).
	FinalizerGrace time.Duration
	// Timeout bounds the wait until everything is gone (default 3m).
	Timeout time.Duration
	// PodsGoneTimeout bounds the wait for the pods of the deleted namespaces
	// to leave the API (default 15s); pods still there then are force-deleted
	// and waited for until Timeout.
	PodsGoneTimeout time.Duration
	// Interval between polls (default 500ms).
	Interval time.Duration
	Logf     func(format string, args ...any)
}

// ResetReport says what Reset removed and how long it took.
type ResetReport struct {
	CustomResources    []ObjectRef
	StrippedFinalizers []ObjectRef
	Namespaces         []string
	Objects            []ObjectRef
	// SessionPods are the runner pods force-deleted (grace period 0);
	// ForcedPods the other pods force-deleted because they were still there
	// after PodsGoneTimeout (namespace/name).
	SessionPods, ForcedPods []string
	Duration                time.Duration
	// CustomResourcesTook and NamespacesTook split Duration: the wait for the
	// operator to let its custom resources go, and for the namespaces to end.
	// PodsTook (part of NamespacesTook) is the wait for their pods to leave.
	CustomResourcesTook, NamespacesTook, PodsTook time.Duration
}

func (r *ResetReport) String() string {
	forced := ""
	if len(r.ForcedPods) > 0 {
		forced = fmt.Sprintf(", %d more pods force-deleted after %s: %s", len(r.ForcedPods), r.PodsTook.Round(100*time.Millisecond), strings.Join(r.ForcedPods, ","))
	}
	return fmt.Sprintf("reset removed %d custom resources (%d finalizers stripped), %d namespaces (%s), %d session pods (force), %d other objects in %s (custom resources %s, namespaces and the rest %s, their pods %s%s)",
		len(r.CustomResources), len(r.StrippedFinalizers), len(r.Namespaces), strings.Join(r.Namespaces, ","), len(r.SessionPods),
		len(r.Objects), r.Duration.Round(time.Millisecond), r.CustomResourcesTook.Round(100*time.Millisecond), r.NamespacesTook.Round(100*time.Millisecond),
		r.PodsTook.Round(100*time.Millisecond), forced)
}

// Reset removes everything a cell created: the custom resources of managed
// CRDs first (while the operator can still run their finalizers) and, right
// after their deletion, the session (runner) pods with grace period 0; then
// the project namespaces, the platform namespace, their remaining pods and
// every other object with ManagedLabel. It returns once all are gone (pods
// and namespaces fully deleted), so the next cell never meets a terminating
// pod of this one. Reset is the harness's cleanup, never evidence: it does
// not wait for a runner's graceful shutdown (60 s, docs/platform.md §11 item 4).
func Reset(ctx context.Context, in ResetInput) (*ResetReport, error) {
	start := time.Now()
	if in.PlatformNamespace == "" {
		return nil, fault.BadInputErr(errors.New("ResetInput.PlatformNamespace is empty: want e.g. ambient-code"))
	}
	if in.Client == nil || in.Dynamic == nil {
		if in.Config == nil {
			return nil, fault.BadInputErr(errors.New("ResetInput needs Config, or both Client and Dynamic"))
		}
		var err error
		if in.Client == nil {
			if in.Client, err = kubernetes.NewForConfig(in.Config); err != nil {
				return nil, fault.InfraErr(fmt.Errorf("clientset for %s: %w", in.Config.Host, err))
			}
		}
		if in.Dynamic == nil {
			if in.Dynamic, err = dynamic.NewForConfig(in.Config); err != nil {
				return nil, fault.InfraErr(fmt.Errorf("dynamic client for %s: %w", in.Config.Host, err))
			}
		}
	}
	if in.FinalizerGrace <= 0 {
		in.FinalizerGrace = 20 * time.Second
	}
	if in.Timeout <= 0 {
		in.Timeout = 3 * time.Minute
	}
	if in.Interval <= 0 {
		in.Interval = 500 * time.Millisecond
	}
	if in.PodsGoneTimeout <= 0 {
		in.PodsGoneTimeout = 15 * time.Second
	}
	logf := in.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	// Reset is idempotent: an API server too loaded to answer (etcd request
	// timed out, throttling, 5xx) gets the whole reset again rather than
	// making the next cell inconclusive.
	var rep *ResetReport
	attempts := 0
	err := retry.OnError(resetBackoff, transientAPIError, func() error {
		attempts++
		var err error
		rep, err = reset(ctx, in, logf)
		if err != nil && transientAPIError(err) && ctx.Err() == nil {
			logf("reset attempt %d: %v (transient, trying again)", attempts, err)
		}
		return err
	})
	if err != nil && attempts > 1 {
		err = fmt.Errorf("%w (after %d attempts)", err, attempts)
	}
	if rep != nil {
		rep.Duration = time.Since(start)
	}
	if err == nil {
		logf("%s", rep)
	}
	return rep, err
}

// resetBackoff: up to 4 attempts over about 15 s.
var resetBackoff = wait.Backoff{Steps: 4, Duration: 2 * time.Second, Factor: 2, Jitter: 0.1}

// transientAPIError reports an API server that could not answer now (the
// request may well succeed again), as opposed to one that refused it.
func transientAPIError(err error) bool {
	return apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) ||
		strings.Contains(err.Error(), "etcdserver: request timed out")
}

func reset(ctx context.Context, in ResetInput, logf func(string, ...any)) (*ResetReport, error) {
	rep := &ResetReport{}
	managed := metav1.ListOptions{LabelSelector: ManagedLabel + "=true"}

	// Namespaces: project namespaces, the platform namespace, and any other managed one.
	nsSet := map[string]bool{in.PlatformNamespace: true}
	for _, sel := range []string{ProjectNamespaceLabel + "=true", ManagedLabel + "=true"} {
		list, err := in.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return rep, fault.InfraErr(fmt.Errorf("list namespaces with label %s: %w", sel, err))
		}
		for _, ns := range list.Items {
			nsSet[ns.Name] = true
		}
	}
	doomed := slices.Sorted(maps.Keys(nsSet))

	start := time.Now()
	live, err := deleteCustomResources(ctx, in, rep)
	if err != nil {
		return rep, err
	}
	// Their sessions are being deleted, so no operator puts a runner pod
	// back (it only does so for a live session, docs/platform.md §3.5 item 7).
	if err := forceDeleteSessionPods(ctx, in.Client, doomed, rep); err != nil {
		return rep, err
	}
	if err := waitForCustomResourcesGone(ctx, in, live, rep, logf); err != nil {
		return rep, err
	}
	rep.CustomResourcesTook = time.Since(start)
	start = time.Now()

	for _, ns := range doomed {
		err := in.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return rep, fault.InfraErr(fmt.Errorf("delete namespace %s: %w", ns, err))
		}
		rep.Namespaces = append(rep.Namespaces, ns)
	}
	if err := deletePodsQuickly(ctx, in.Client, rep.Namespaces, rep); err != nil {
		return rep, err
	}

	// Everything else with the managed label: cluster-scoped RBAC, CRDs, and
	// namespaced objects outside the namespaces deleted above.
	resources, err := listableResources(in.Client.Discovery())
	if err != nil {
		return rep, fault.InfraErr(err)
	}
	var pending []deletedObject
	for _, r := range resources {
		if r.gvr.Resource == "namespaces" && r.gvr.Group == "" {
			continue
		}
		list, err := in.Dynamic.Resource(r.gvr).List(ctx, managed)
		if err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
				continue
			}
			return rep, fault.InfraErr(fmt.Errorf("list %s with label %s=true: %w", r.gvr.Resource, ManagedLabel, err))
		}
		for _, item := range list.Items {
			if r.namespaced && nsSet[item.GetNamespace()] {
				continue // goes with its namespace
			}
			ref := ObjectRef{Group: r.gvr.Group, Kind: r.kind, Namespace: item.GetNamespace(), Name: item.GetName()}
			var ri dynamic.ResourceInterface = in.Dynamic.Resource(r.gvr)
			if r.namespaced {
				ri = in.Dynamic.Resource(r.gvr).Namespace(item.GetNamespace())
			}
			if err := deleteBackground(ctx, ri, item.GetName()); err != nil {
				return rep, fault.InfraErr(fmt.Errorf("delete %s: %w", ref, err))
			}
			rep.Objects = append(rep.Objects, ref)
			pending = append(pending, deletedObject{ref: ref, client: ri})
		}
	}

	// Wait until the pods are gone, then the namespaces (not Terminating)
	// and the objects too.
	defer func() { rep.NamespacesTook = time.Since(start) }()
	if err := waitForPodsGone(ctx, in, rep.Namespaces, rep, logf); err != nil {
		return rep, err
	}
	remaining := append([]string(nil), rep.Namespaces...)
	err = wait.PollUntilContextTimeout(ctx, in.Interval, in.Timeout, true, func(ctx context.Context) (bool, error) {
		var still []string
		for _, ns := range remaining {
			_, err := in.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return false, err
			default:
				still = append(still, ns)
			}
		}
		remaining = still
		return len(remaining) == 0, nil
	})
	if err != nil {
		return rep, fault.InfraErr(fmt.Errorf("namespaces still present %s after deletion: %s: %w", in.Timeout, describeNamespaces(ctx, in.Client, remaining), err))
	}
	if err := waitForObjectsGone(ctx, pending, in.Timeout); err != nil {
		return rep, err
	}
	return rep, nil
}

// SessionPodGracePeriod is the grace period Reset deletes session (runner)
// pods with (label platform.SessionLabel, docs/platform.md §3.3): 0, force.
// A runner waits out its 60 s grace period while a client holds a stream to
// it (docs/platform.md §11 item 4), and the namespace controller waits for it. Forcing is safe for these pods: the cell is over
// and nothing of it is read anymore, their Services go with the namespace, no
// controller starts them again (their sessions are being deleted, their
// namespace terminating), and a container the kubelet has not stopped yet is
// unreachable and holds no address the next cell can get.
const SessionPodGracePeriod int64 = 0

// ResetPodGracePeriod is the grace period Reset gives the other pods of the
// namespaces it deletes (operator, backend). The namespace controller looks
// at a doomed namespace 5 s after its deletion and, while pods are still
// terminating, only again 5 s after its next status update: pods that are
// gone by its first look save those 5 s on every reset. These pods are not
// forced: the platform of the next cell starts in the same namespace, so the
// old one must really be stopped, not merely gone from the API; they stop
// within this grace period (backend and operator hold SIGTERM for up to 30 s,
// docs/platform.md §10 item 5, and the kubelet shortens that to this).
const ResetPodGracePeriod int64 = 1

// forceDeleteSessionPods deletes the session pods of namespaces with
// SessionPodGracePeriod.
func forceDeleteSessionPods(ctx context.Context, client kubernetes.Interface, namespaces []string, rep *ResetReport) error {
	for _, ns := range namespaces {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: platform.SessionLabel})
		if err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fault.InfraErr(fmt.Errorf("list session pods (label %s) of namespace %s: %w", platform.SessionLabel, ns, err))
		}
		for _, p := range pods.Items {
			if err := deletePod(ctx, client, ns, p.Name, SessionPodGracePeriod); err != nil {
				return err
			}
			rep.SessionPods = appendOnce(rep.SessionPods, ns+"/"+p.Name)
		}
	}
	return nil
}

// deletePodsQuickly deletes every pod of the given namespaces, which are
// already terminating (no controller can start a new pod there): session pods
// with SessionPodGracePeriod, the others with ResetPodGracePeriod.
func deletePodsQuickly(ctx context.Context, client kubernetes.Interface, namespaces []string, rep *ResetReport) error {
	for _, ns := range namespaces {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fault.InfraErr(fmt.Errorf("list pods of namespace %s: %w", ns, err))
		}
		for _, p := range pods.Items {
			grace := ResetPodGracePeriod
			if _, ok := p.Labels[platform.SessionLabel]; ok {
				grace = SessionPodGracePeriod
				rep.SessionPods = appendOnce(rep.SessionPods, ns+"/"+p.Name)
			}
			if err := deletePod(ctx, client, ns, p.Name, grace); err != nil {
				return err
			}
		}
	}
	return nil
}

func deletePod(ctx context.Context, client kubernetes.Interface, ns, name string, grace int64) error {
	err := client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	if err != nil && !apierrors.IsNotFound(err) {
		return fault.InfraErr(fmt.Errorf("delete pod %s/%s (grace period %d s): %w", ns, name, grace, err))
	}
	return nil
}

func appendOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// waitForPodsGone waits until the namespaces hold no pod. Pods still there
// after PodsGoneTimeout (a kubelet that does not shorten a grace period) are
// force-deleted and waited for until Timeout.
func waitForPodsGone(ctx context.Context, in ResetInput, namespaces []string, rep *ResetReport, logf func(string, ...any)) error {
	start := time.Now()
	defer func() { rep.PodsTook = time.Since(start) }()
	var left []corev1.Pod // as the last listing that succeeded saw them
	podsLeft := func(ctx context.Context) (bool, error) {
		var now []corev1.Pod
		for _, ns := range namespaces {
			pods, err := in.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return false, err
			}
			if err == nil {
				now = append(now, pods.Items...)
			}
		}
		left = now
		return len(left) == 0, nil
	}
	// Until PodsGoneTimeout a failed listing is one more "not yet": near the
	// poll's deadline the client's rate limiter refuses a call the deadline
	// would cut (seen under load, which ended a reset that only had to force
	// a late pod), and an API error that lasts fails the wait after the force.
	err := wait.PollUntilContextTimeout(ctx, in.Interval, in.PodsGoneTimeout, true, func(ctx context.Context) (bool, error) {
		gone, err := podsLeft(ctx)
		return gone && err == nil, nil
	})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil || !wait.Interrupted(err) {
		return fault.InfraErr(fmt.Errorf("wait for the pods of namespaces %s to go: %w", strings.Join(namespaces, ","), err))
	}
	for _, p := range left {
		if err := deletePod(ctx, in.Client, p.Namespace, p.Name, 0); err != nil {
			return err
		}
		rep.ForcedPods = appendOnce(rep.ForcedPods, p.Namespace+"/"+p.Name)
	}
	logf("force-deleted %d pods still present %s after their deletion: %s", len(left), in.PodsGoneTimeout, strings.Join(rep.ForcedPods, ","))
	if err := wait.PollUntilContextTimeout(ctx, in.Interval, in.Timeout, true, podsLeft); err != nil {
		names := make([]string, 0, len(left))
		for _, p := range left {
			names = append(names, p.Namespace+"/"+p.Name)
		}
		return fault.InfraErr(fmt.Errorf("pods still present %s after being force-deleted: %s: %w", in.Timeout, strings.Join(names, ","), err))
	}
	return nil
}

// deleteCustomResources deletes every object of every CRD that carries
// ManagedLabel and returns them; waitForCustomResourcesGone waits for them.
func deleteCustomResources(ctx context.Context, in ResetInput, rep *ResetReport) ([]deletedObject, error) {
	crds, err := in.Dynamic.Resource(crdGVR).List(ctx, metav1.ListOptions{LabelSelector: ManagedLabel + "=true"})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fault.InfraErr(fmt.Errorf("list CustomResourceDefinitions with label %s=true: %w", ManagedLabel, err))
	}
	var live []deletedObject
	for i := range crds.Items {
		gvr, kind, namespaced, ok := crdResource(&crds.Items[i])
		if !ok {
			continue
		}
		list, err := in.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, fault.InfraErr(fmt.Errorf("list %s: %w", gvr.Resource, err))
		}
		for _, item := range list.Items {
			ri := in.Dynamic.Resource(gvr)
			var client dynamic.ResourceInterface = ri
			if namespaced {
				client = ri.Namespace(item.GetNamespace())
			}
			ref := ObjectRef{Group: gvr.Group, Kind: kind, Namespace: item.GetNamespace(), Name: item.GetName()}
			if err := deleteBackground(ctx, client, item.GetName()); err != nil {
				return nil, fault.InfraErr(fmt.Errorf("delete %s: %w", ref, err))
			}
			rep.CustomResources = append(rep.CustomResources, ref)
			live = append(live, deletedObject{ref: ref, client: client})
		}
	}
	return live, nil
}

// waitForCustomResourcesGone waits FinalizerGrace for the deleted custom
// resources to go through their controller, then strips the finalizers of
// whatever is left, so no namespace or CRD deletion can hang on them.
func waitForCustomResourcesGone(ctx context.Context, in ResetInput, live []deletedObject, rep *ResetReport, logf func(string, ...any)) error {
	if len(live) == 0 {
		return nil
	}
	graceErr := waitForObjectsGone(ctx, live, in.FinalizerGrace)
	if graceErr == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fault.InfraErr(ctx.Err())
	}
	for _, o := range live {
		_, err := o.client.Patch(ctx, o.ref.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fault.InfraErr(fmt.Errorf("strip finalizers of %s: %w", o.ref, err))
		}
		rep.StrippedFinalizers = append(rep.StrippedFinalizers, o.ref)
		logf("stripped finalizers of %s (still present %s after delete)", o.ref, in.FinalizerGrace)
	}
	return waitForObjectsGone(ctx, live, in.Timeout)
}

// crdResource reads the storage (or first served) version, plural and scope of a CRD.
func crdResource(crd *unstructured.Unstructured) (schema.GroupVersionResource, string, bool, bool) {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	scope, _, _ := unstructured.NestedString(crd.Object, "spec", "scope")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	version := ""
	for _, vi := range versions {
		v, _ := vi.(map[string]any)
		name, _ := v["name"].(string)
		if storage, _ := v["storage"].(bool); storage {
			version = name
			break
		}
		if served, _ := v["served"].(bool); served && version == "" {
			version = name
		}
	}
	if group == "" || plural == "" || version == "" {
		return schema.GroupVersionResource{}, "", false, false
	}
	return schema.GroupVersionResource{Group: group, Version: version, Resource: plural}, kind, scope != "Cluster", true
}

type apiResource struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
}

// listableResources returns one version of every resource that supports list
// and delete. Partial discovery failures (an unavailable aggregated API) are
// tolerated: such a group cannot hold harness objects.
func listableResources(d discovery.DiscoveryInterface) ([]apiResource, error) {
	_, lists, err := d.ServerGroupsAndResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("discover API resources: %w", err)
	}
	seen := map[schema.GroupResource]bool{}
	var out []apiResource
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") || !hasVerbs(r.Verbs, "list", "delete") {
				continue
			}
			gr := schema.GroupResource{Group: gv.Group, Resource: r.Name}
			if seen[gr] {
				continue
			}
			seen[gr] = true
			out = append(out, apiResource{gvr: gv.WithResource(r.Name), kind: r.Kind, namespaced: r.Namespaced})
		}
	}
	sort.Slice(out, func(i, j int) bool { return applyRank(out[i].kind) > applyRank(out[j].kind) })
	return out, nil
}

func hasVerbs(verbs metav1.Verbs, want ...string) bool {
	for _, w := range want {
		found := false
		for _, v := range verbs {
			if v == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// describeNamespaces says why namespaces are stuck (phase and False/True conditions).
func describeNamespaces(ctx context.Context, client kubernetes.Interface, names []string) string {
	var parts []string
	for _, n := range names {
		ns, err := client.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			parts = append(parts, n+" ("+err.Error()+")")
			continue
		}
		desc := n + " " + string(ns.Status.Phase)
		for _, c := range ns.Status.Conditions {
			if c.Status == corev1.ConditionTrue {
				desc += fmt.Sprintf(" [%s: %s]", c.Type, c.Message)
			}
		}
		parts = append(parts, desc)
	}
	return strings.Join(parts, "; ")
}
