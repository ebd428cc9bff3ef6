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

	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
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
	Duration           time.Duration
	// CustomResourcesTook and NamespacesTook split Duration: the wait for the
	// operator to let its custom resources go, and for the namespaces to end.
	CustomResourcesTook, NamespacesTook time.Duration
}

func (r *ResetReport) String() string {
	return fmt.Sprintf("reset removed %d custom resources (%d finalizers stripped), %d namespaces (%s), %d other objects in %s (custom resources %s, namespaces and the rest %s)",
		len(r.CustomResources), len(r.StrippedFinalizers), len(r.Namespaces), strings.Join(r.Namespaces, ","),
		len(r.Objects), r.Duration.Round(time.Millisecond), r.CustomResourcesTook.Round(100*time.Millisecond), r.NamespacesTook.Round(100*time.Millisecond))
}

// Reset removes everything a cell created: the custom resources of managed
// CRDs first (while the operator can still run their finalizers), then the
// project namespaces, the platform namespace, and every other object with
// ManagedLabel; it returns once all are gone (namespaces fully deleted).
func Reset(ctx context.Context, in ResetInput) (*ResetReport, error) {
	start := time.Now()
	if in.PlatformNamespace == "" {
		return nil, exitcode.BadInputErr(errors.New("ResetInput.PlatformNamespace is empty: want e.g. ambient-code"))
	}
	if in.Client == nil || in.Dynamic == nil {
		if in.Config == nil {
			return nil, exitcode.BadInputErr(errors.New("ResetInput needs Config, or both Client and Dynamic"))
		}
		var err error
		if in.Client == nil {
			if in.Client, err = kubernetes.NewForConfig(in.Config); err != nil {
				return nil, exitcode.InfraErr(fmt.Errorf("clientset for %s: %w", in.Config.Host, err))
			}
		}
		if in.Dynamic == nil {
			if in.Dynamic, err = dynamic.NewForConfig(in.Config); err != nil {
				return nil, exitcode.InfraErr(fmt.Errorf("dynamic client for %s: %w", in.Config.Host, err))
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

	start := time.Now()
	if err := deleteCustomResources(ctx, in, rep, logf); err != nil {
		return rep, err
	}
	rep.CustomResourcesTook = time.Since(start)
	start = time.Now()

	// Namespaces: project namespaces, the platform namespace, and any other managed one.
	nsSet := map[string]bool{in.PlatformNamespace: true}
	for _, sel := range []string{ProjectNamespaceLabel + "=true", ManagedLabel + "=true"} {
		list, err := in.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return rep, exitcode.InfraErr(fmt.Errorf("list namespaces with label %s: %w", sel, err))
		}
		for _, ns := range list.Items {
			nsSet[ns.Name] = true
		}
	}
	for _, ns := range slices.Sorted(maps.Keys(nsSet)) {
		err := in.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return rep, exitcode.InfraErr(fmt.Errorf("delete namespace %s: %w", ns, err))
		}
		rep.Namespaces = append(rep.Namespaces, ns)
	}
	if err := deletePodsQuickly(ctx, in.Client, rep.Namespaces); err != nil {
		return rep, err
	}

	// Everything else with the managed label: cluster-scoped RBAC, CRDs, and
	// namespaced objects outside the namespaces deleted above.
	resources, err := listableResources(in.Client.Discovery())
	if err != nil {
		return rep, exitcode.InfraErr(err)
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
			return rep, exitcode.InfraErr(fmt.Errorf("list %s with label %s=true: %w", r.gvr.Resource, ManagedLabel, err))
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
				return rep, exitcode.InfraErr(fmt.Errorf("delete %s: %w", ref, err))
			}
			rep.Objects = append(rep.Objects, ref)
			pending = append(pending, deletedObject{ref: ref, client: ri})
		}
	}

	// Wait until the namespaces are gone (not Terminating) and the objects too.
	defer func() { rep.NamespacesTook = time.Since(start) }()
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
		return rep, exitcode.InfraErr(fmt.Errorf("namespaces still present %s after deletion: %s: %w", in.Timeout, describeNamespaces(ctx, in.Client, remaining), err))
	}
	if err := waitForObjectsGone(ctx, pending, in.Timeout); err != nil {
		return rep, err
	}
	return rep, nil
}

// ResetPodGracePeriod is the grace period Reset gives the pods of the
// namespaces it deletes. The namespace controller looks at a doomed namespace
// 5 s after its deletion and, while pods are still terminating (runner pods
// have 60 s), only again 5 s after its next status update: pods that are gone
// by its first look save those 5 s on every reset. Nothing of the cell is read
// anymore; the pods are not force-deleted, so each one disappears only once
// the kubelet has stopped its containers, and the namespaces Reset waits for
// are gone only when their pods are.
const ResetPodGracePeriod int64 = 1

// deletePodsQuickly deletes every pod of the given namespaces, which are
// already terminating (no controller can start a new pod there), with
// ResetPodGracePeriod.
func deletePodsQuickly(ctx context.Context, client kubernetes.Interface, namespaces []string) error {
	grace := ResetPodGracePeriod
	for _, ns := range namespaces {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return exitcode.InfraErr(fmt.Errorf("list pods of namespace %s: %w", ns, err))
		}
		for _, p := range pods.Items {
			err := client.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
			if err != nil && !apierrors.IsNotFound(err) {
				return exitcode.InfraErr(fmt.Errorf("delete pod %s/%s: %w", ns, p.Name, err))
			}
		}
	}
	return nil
}

// deleteCustomResources deletes every object of every CRD that carries
// ManagedLabel, then strips the finalizers of whatever is left after the grace
// period, so no namespace or CRD deletion can hang on them.
func deleteCustomResources(ctx context.Context, in ResetInput, rep *ResetReport, logf func(string, ...any)) error {
	crds, err := in.Dynamic.Resource(crdGVR).List(ctx, metav1.ListOptions{LabelSelector: ManagedLabel + "=true"})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return exitcode.InfraErr(fmt.Errorf("list CustomResourceDefinitions with label %s=true: %w", ManagedLabel, err))
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
			return exitcode.InfraErr(fmt.Errorf("list %s: %w", gvr.Resource, err))
		}
		for _, item := range list.Items {
			ri := in.Dynamic.Resource(gvr)
			var client dynamic.ResourceInterface = ri
			if namespaced {
				client = ri.Namespace(item.GetNamespace())
			}
			ref := ObjectRef{Group: gvr.Group, Kind: kind, Namespace: item.GetNamespace(), Name: item.GetName()}
			if err := deleteBackground(ctx, client, item.GetName()); err != nil {
				return exitcode.InfraErr(fmt.Errorf("delete %s: %w", ref, err))
			}
			rep.CustomResources = append(rep.CustomResources, ref)
			live = append(live, deletedObject{ref: ref, client: client})
		}
	}
	if len(live) == 0 {
		return nil
	}
	graceErr := waitForObjectsGone(ctx, live, in.FinalizerGrace)
	if graceErr == nil {
		return nil
	}
	if ctx.Err() != nil {
		return exitcode.InfraErr(ctx.Err())
	}
	for _, o := range live {
		_, err := o.client.Patch(ctx, o.ref.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return exitcode.InfraErr(fmt.Errorf("strip finalizers of %s: %w", o.ref, err))
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
