package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// DefaultFieldManager owns the fields the harness applies.
const DefaultFieldManager = "upgrade-harness"

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// ApplyInput says what to server-side apply where.
type ApplyInput struct {
	Config       *rest.Config
	Rendered     *Rendered
	FieldManager string
	// CRDEstablishedTimeout bounds the wait for applied CRDs (default 60s).
	CRDEstablishedTimeout time.Duration
	// Logf prints progress; nil is silent.
	Logf func(format string, args ...any)
}

// ApplyResult reports what was applied.
type ApplyResult struct {
	Applied  []ObjectRef
	Duration time.Duration
}

// clusterClients bundles the dynamic client and a resettable discovery mapper.
type clusterClients struct {
	dynamic dynamic.Interface
	mapper  resettableMapper
}

// resettableMapper is a RESTMapper whose discovery cache can be dropped after CRDs change.
type resettableMapper interface {
	meta.RESTMapper
	Reset()
}

func newClusterClients(cfg *rest.Config) (*clusterClients, error) {
	if cfg == nil {
		return nil, fault.BadInputErr(errors.New("Config is nil: want the *rest.Config of the kind cluster"))
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fault.InfraErr(fmt.Errorf("dynamic client for %s: %w", cfg.Host, err))
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fault.InfraErr(fmt.Errorf("discovery client for %s: %w", cfg.Host, err))
	}
	return &clusterClients{dynamic: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))}, nil
}

// resourceFor maps an object to its resource client; a miss resets the cached
// discovery once, because a CRD applied a moment ago may not be cached yet.
func (c *clusterClients) resourceFor(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	ref := RefOf(obj)
	gvk := obj.GroupVersionKind()
	m, err := c.mapping(gvk)
	if err != nil {
		return nil, fmt.Errorf("%s: the API server serves no resource for %s: %w", ref, gvk, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace && obj.GetNamespace() == "" {
		return nil, fmt.Errorf("%s: kind %s is namespaced but metadata.namespace is empty", ref, gvk.Kind)
	}
	return c.resourceForRef(ref, gvk)
}

func (c *clusterClients) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.mapper.Reset()
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

// resourceOf maps a kind to its resource, for listing across namespaces.
func (c *clusterClients) resourceOf(gvk schema.GroupVersionKind) (schema.GroupVersionResource, error) {
	m, err := c.mapping(gvk)
	if err != nil {
		return schema.GroupVersionResource{}, fmt.Errorf("the API server serves no resource for %s: %w", gvk, err)
	}
	return m.Resource, nil
}

// resourceForRef returns the client of one named object of kind gvk.
func (c *clusterClients) resourceForRef(ref ObjectRef, gvk schema.GroupVersionKind) (dynamic.ResourceInterface, error) {
	m, err := c.mapping(gvk)
	if err != nil {
		return nil, fmt.Errorf("%s: the API server serves no resource for %s: %w", ref, gvk, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.dynamic.Resource(m.Resource).Namespace(ref.Namespace), nil
	}
	return c.dynamic.Resource(m.Resource), nil
}

func isNoMatch(err error) bool { return meta.IsNoMatchError(err) }

// applyOrder ranks kinds so that dependencies exist before what uses them.
var applyOrder = map[string]int{
	crdKind: 0, namespaceKind: 1, "ServiceAccount": 2, "ClusterRole": 3, "ClusterRoleBinding": 4,
	"Role": 5, "RoleBinding": 6, configMapKind: 7, secretKind: 8, pvcKind: 9, "Service": 10,
}

func applyRank(kind string) int {
	if r, ok := applyOrder[kind]; ok {
		return r
	}
	if kind == deploymentKind {
		return 100 // last: pods start with their ConfigMaps and Secrets present
	}
	return 50
}

// sortForApply returns the objects in dependency order, stable within a kind.
func sortForApply(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := append([]*unstructured.Unstructured(nil), objs...)
	sort.SliceStable(out, func(i, j int) bool { return applyRank(out[i].GetKind()) < applyRank(out[j].GetKind()) })
	return out
}

// Apply server-side applies a render: CRDs first (and waits until they are
// Established), then namespaces, then everything else.
func Apply(ctx context.Context, in ApplyInput) (*ApplyResult, error) {
	if in.Rendered == nil {
		return nil, fault.BadInputErr(errors.New("ApplyInput.Rendered is nil"))
	}
	c, err := newClusterClients(in.Config)
	if err != nil {
		return nil, err
	}
	return applyWith(ctx, c, in)
}

func applyWith(ctx context.Context, c *clusterClients, in ApplyInput) (*ApplyResult, error) {
	start := time.Now()
	manager := in.FieldManager
	if manager == "" {
		manager = DefaultFieldManager
	}
	logf := in.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	res := &ApplyResult{}
	var crds, rest []*unstructured.Unstructured
	for _, o := range sortForApply(in.Rendered.Objects) {
		if o.GetKind() == crdKind {
			crds = append(crds, o)
		} else {
			rest = append(rest, o)
		}
	}
	for _, o := range crds {
		if err := applyOne(ctx, c, o, manager); err != nil {
			return res, err
		}
		res.Applied = append(res.Applied, RefOf(o))
	}
	if len(crds) > 0 {
		if err := waitForCRDsEstablished(ctx, c.dynamic, crds, in.CRDEstablishedTimeout, logf); err != nil {
			return res, err
		}
		c.mapper.Reset() // the new kinds must be discoverable before their objects apply
	}
	// Namespaces rank right after CRDs, so they exist before anything namespaced.
	for _, o := range rest {
		if err := applyOne(ctx, c, o, manager); err != nil {
			return res, err
		}
		res.Applied = append(res.Applied, RefOf(o))
	}
	res.Duration = time.Since(start)
	logf("applied %d objects of release %s in %s", len(res.Applied), in.Rendered.Release, res.Duration.Round(time.Millisecond))
	return res, nil
}

func applyOne(ctx context.Context, c *clusterClients, o *unstructured.Unstructured, manager string) error {
	ri, err := c.resourceFor(o)
	if err != nil {
		return fault.InfraErr(err)
	}
	obj := o.DeepCopy()
	// Server-side apply rejects these when set; a render never needs them.
	for _, f := range []string{"resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"} {
		unstructured.RemoveNestedField(obj.Object, "metadata", f)
	}
	if _, err := ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: manager, Force: true}); err != nil {
		return fault.InfraErr(fmt.Errorf("server-side apply %s: %w", RefOf(o), err))
	}
	return nil
}

func waitForCRDsEstablished(ctx context.Context, dyn dynamic.Interface, crds []*unstructured.Unstructured, timeout time.Duration, logf func(string, ...any)) error {
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	pending := map[string]bool{}
	for _, crd := range crds {
		pending[crd.GetName()] = true
	}
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		for name := range pending {
			live, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return false, err
			}
			if crdEstablished(live) {
				delete(pending, name)
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		return fault.InfraErr(fmt.Errorf("CRDs %v not Established after %s: %w", slices.Sorted(maps.Keys(pending)), timeout, err))
	}
	logf("CRDs established: %d", len(crds))
	return nil
}

func crdEstablished(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, ci := range conds {
		c, _ := ci.(map[string]any)
		if c["type"] == "Established" && c["status"] == "True" {
			return true
		}
	}
	return false
}
