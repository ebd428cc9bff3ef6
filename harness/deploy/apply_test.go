package deploy

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// staticMapper knows a fixed set of kinds; Reset counts discovery refreshes.
type staticMapper struct {
	*meta.DefaultRESTMapper
	resets int
}

func (m *staticMapper) Reset() { m.resets++ }

var clusterScoped = map[string]bool{crdKind: true, namespaceKind: true, "ClusterRole": true, "ClusterRoleBinding": true}

func mapperFor(objs ...*unstructured.Unstructured) *staticMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for _, o := range objs {
		scope := meta.RESTScopeNamespace
		if clusterScoped[o.GetKind()] {
			scope = meta.RESTScopeRoot
		}
		m.Add(o.GroupVersionKind(), scope)
	}
	return &staticMapper{DefaultRESTMapper: m}
}

func listKinds(objs ...*unstructured.Unstructured) map[schema.GroupVersionResource]string {
	out := map[schema.GroupVersionResource]string{}
	for _, o := range objs {
		gvr, _ := meta.UnsafeGuessKindToResource(o.GroupVersionKind())
		out[gvr] = o.GetKind() + "List"
	}
	return out
}

func TestApplyOrdersCRDsThenNamespacesAndWaitsForEstablished(t *testing.T) {
	r := renderUpstream(t, "v0.2.2")
	// Reverse the render so the order cannot come from the file.
	for i, j := 0, len(r.Objects)-1; i < j; i, j = i+1, j-1 {
		r.Objects[i], r.Objects[j] = r.Objects[j], r.Objects[i]
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds(r.Objects...))
	var order []string
	dyn.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchAction)
		if p.GetPatchType() != "application/apply-patch+yaml" {
			t.Errorf("patch type %s, want server-side apply", p.GetPatchType())
		}
		order = append(order, a.GetResource().Resource+"/"+p.GetNamespace()+"/"+p.GetName())
		obj := &unstructured.Unstructured{}
		return true, obj, obj.UnmarshalJSON(p.GetPatch())
	})
	established := map[string]int{}
	dyn.PrependReactor("get", "customresourcedefinitions", func(a k8stesting.Action) (bool, runtime.Object, error) {
		name := a.(k8stesting.GetAction).GetName()
		established[name]++
		order = append(order, "get-crd/"+name)
		crd := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1", "kind": crdKind, "metadata": map[string]any{"name": name},
			"status": map[string]any{"conditions": []any{map[string]any{"type": "Established", "status": "True"}}},
		}}
		return true, crd, nil
	})
	mapper := mapperFor(r.Objects...)
	res, err := applyWith(context.Background(), &clusterClients{dynamic: dyn, mapper: mapper},
		ApplyInput{Rendered: r, CRDEstablishedTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != len(r.Objects) {
		t.Errorf("applied %d of %d objects", len(res.Applied), len(r.Objects))
	}
	if !strings.HasPrefix(order[0], "customresourcedefinitions/") || !strings.HasPrefix(order[1], "customresourcedefinitions/") ||
		!strings.HasPrefix(order[2], "get-crd/") || !strings.HasPrefix(order[4], "namespaces//ambient-code") {
		t.Errorf("want 2 CRD applies, 2 Established checks, then the namespace; got %v", order[:5])
	}
	if last := order[len(order)-1]; !strings.HasPrefix(last, "deployments/ambient-code/") {
		t.Errorf("Deployments must apply last, got %s", last)
	}
	if mapper.resets == 0 {
		t.Error("the RESTMapper must be reset after the CRDs are established")
	}
	if len(established) != 2 {
		t.Errorf("Established checked for %v, want both CRDs", established)
	}
}

func managedObj(apiVersion, kind, namespace, name string, managed bool) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	if managed {
		u.SetLabels(map[string]string{ManagedLabel: "true"})
	}
	return u
}

func TestPruneDeletesManagedObjectsTheNextRenderDropped(t *testing.T) {
	keep := managedObj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "agentic-operator", true)
	stale := managedObj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "ambient-control-plane", true)
	foreign := managedObj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "cluster-admin", false)
	gone := managedObj("v1", "ServiceAccount", "ambient-code", "ambient-control-plane", true)
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds(keep, gone),
		keep.DeepCopy(), stale.DeepCopy(), foreign.DeepCopy(), gone.DeepCopy())
	previous := &Rendered{Objects: []*unstructured.Unstructured{keep, gone}}
	next := &Rendered{Objects: []*unstructured.Unstructured{keep}}
	res, err := pruneWith(context.Background(), &clusterClients{dynamic: dyn, mapper: mapperFor(keep, gone)},
		PruneInput{Previous: previous, Next: next, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := refStrings(res.Deleted)
	want := []string{"ClusterRole/ambient-control-plane", "ServiceAccount/ambient-code/ambient-control-plane"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pruned %v, want %v (the diff plus the live labelled stray, never the unlabelled one)", got, want)
	}
	crs, _ := dyn.Resource(schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}).List(context.Background(), metav1.ListOptions{})
	var left []string
	for _, i := range crs.Items {
		left = append(left, i.GetName())
	}
	sort.Strings(left)
	if strings.Join(left, ",") != "agentic-operator,cluster-admin" {
		t.Errorf("ClusterRoles left %v", left)
	}
}

func TestResetRemovesSessionsNamespacesAndManagedClusterObjects(t *testing.T) {
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": crdKind,
		"metadata": map[string]any{"name": "agenticsessions.vteam.ambient-code", "labels": map[string]any{ManagedLabel: "true"}},
		"spec": map[string]any{"group": "vteam.ambient-code", "scope": "Namespaced",
			"names":    map[string]any{"plural": "agenticsessions", "kind": "AgenticSession"},
			"versions": []any{map[string]any{"name": "v1alpha1", "served": true, "storage": true}}},
	}}
	session := managedObj("vteam.ambient-code/v1alpha1", "AgenticSession", "proj-a", "s1", false)
	session.SetFinalizers([]string{"vteam.ambient-code/cleanup"})
	role := managedObj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "agentic-operator", true)
	foreignRole := managedObj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "view", false)
	sa := managedObj("v1", "ServiceAccount", "ambient-code", "backend-api", true)
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		crdGVR: "CustomResourceDefinitionList",
		{Group: "vteam.ambient-code", Version: "v1alpha1", Resource: "agenticsessions"}: "AgenticSessionList",
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}:   "ClusterRoleList",
		{Version: "v1", Resource: "serviceaccounts"}:                                    "ServiceAccountList",
	}, crd, session, role, foreignRole, sa)
	client := fake.NewSimpleClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ambient-code", Labels: map[string]string{ProjectNamespaceLabel: "true", ManagedLabel: "true"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "proj-a", Labels: map[string]string{ProjectNamespaceLabel: "true"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
	)
	client.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "namespaces", Kind: namespaceKind, Verbs: metav1.Verbs{"list", "delete"}},
			{Name: "serviceaccounts", Kind: "ServiceAccount", Namespaced: true, Verbs: metav1.Verbs{"list", "delete"}},
			{Name: "pods/log", Kind: "Pod", Namespaced: true, Verbs: metav1.Verbs{"get"}},
		}},
		{GroupVersion: "rbac.authorization.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "clusterroles", Kind: "ClusterRole", Verbs: metav1.Verbs{"list", "delete", "get"}},
		}},
		{GroupVersion: "apiextensions.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "customresourcedefinitions", Kind: crdKind, Verbs: metav1.Verbs{"list", "delete"}},
		}},
	}
	rep, err := Reset(context.Background(), ResetInput{Client: client, Dynamic: dyn, PlatformNamespace: "ambient-code",
		Timeout: 2 * time.Second, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got := refStrings(rep.CustomResources); strings.Join(got, ",") != "AgenticSession/proj-a/s1" {
		t.Errorf("custom resources removed %v, want the session first", got)
	}
	if strings.Join(rep.Namespaces, ",") != "ambient-code,proj-a" {
		t.Errorf("namespaces removed %v, want ambient-code and proj-a only", rep.Namespaces)
	}
	if got := refStrings(rep.Objects); strings.Join(got, ",") != "ClusterRole/agentic-operator,CustomResourceDefinition/agenticsessions.vteam.ambient-code" {
		t.Errorf("objects removed %v (the ServiceAccount goes with its namespace, the unlabelled ClusterRole stays)", got)
	}
	nsList, _ := client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	if len(nsList.Items) != 1 || nsList.Items[0].Name != "default" {
		t.Errorf("namespaces left: %v", nsList.Items)
	}
	if !strings.Contains(rep.String(), "2 namespaces") {
		t.Errorf("report %q", rep)
	}
}
