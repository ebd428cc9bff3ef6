package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
)

// lastAppliedAnnotation holds a full copy of an applied object, Secret data included.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// publicSecretKeys are Secret keys whose values are not credentials; learning
// them would redact the cluster CA from every ConfigMap.
var publicSecretKeys = map[string]bool{"ca.crt": true, "namespace": true}

func (c *collector) collectNamespaces(ctx context.Context) []string {
	set := map[string]bool{c.in.PlatformNamespace: true}
	var items []runtime.Object
	if nsPlatform, err := c.in.Client.CoreV1().Namespaces().Get(ctx, c.in.PlatformNamespace, metav1.GetOptions{}); err != nil {
		c.fail("namespace "+c.in.PlatformNamespace, err)
	} else {
		items = append(items, nsPlatform)
	}
	list, err := c.in.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: c.in.ProjectSelector})
	if err != nil {
		c.fail(fmt.Sprintf("project namespaces (selector %q)", c.in.ProjectSelector), err)
	} else {
		for i := range list.Items {
			ns := &list.Items[i]
			if !set[ns.Name] {
				set[ns.Name] = true
				items = append(items, ns)
			}
		}
	}
	c.writeList(filepath.ToSlash(filepath.Join(ResourcesDir, NamespacesFile)), "v1", "Namespace", items)
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// secretSummary is all a bundle shows of a Secret.
type secretSummary struct {
	Name        string            `json:"name"`
	Type        corev1.SecretType `json:"type"`
	Created     metav1.Time       `json:"created"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owners      []string          `json:"owners,omitempty"`
	// Keys maps each data key to the fingerprint of its value.
	Keys map[string]string `json:"keys"`
	// Lengths maps each data key to its value's length (agui-token is 36).
	Lengths map[string]int `json:"lengths"`
}

func (c *collector) collectSecrets(ctx context.Context, ns string) {
	item := filepath.ToSlash(filepath.Join(ResourcesDir, ns, SecretsFile))
	if c.stopped(ctx, item) {
		return
	}
	list, err := c.in.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		c.fail(item, fmt.Errorf("list secrets in %s: %w (their values cannot be redacted from logs)", ns, err))
		return
	}
	out := make([]secretSummary, 0, len(list.Items))
	for _, s := range list.Items {
		sum := secretSummary{Name: s.Name, Type: s.Type, Created: s.CreationTimestamp, Labels: s.Labels,
			Keys: map[string]string{}, Lengths: map[string]int{}}
		for k, v := range s.Annotations {
			if k == lastAppliedAnnotation {
				continue
			}
			if sum.Annotations == nil {
				sum.Annotations = map[string]string{}
			}
			sum.Annotations[k] = v
		}
		for _, o := range s.OwnerReferences {
			sum.Owners = append(sum.Owners, o.Kind+"/"+o.Name)
		}
		values := map[string]string{}
		for k, v := range s.Data {
			values[k] = string(v)
		}
		for k, v := range s.StringData { // set only on objects not yet stored, e.g. fakes
			values[k] = v
		}
		for k, v := range values {
			sum.Keys[k] = secrets.Fingerprint(v)
			sum.Lengths[k] = len(v)
			if !publicSecretKeys[k] && len(v) >= secrets.MinSecretLen {
				c.red.Add(ns+"/"+s.Name+"/"+k, v)
				c.summary.SecretsLearned++
			}
		}
		out = append(out, sum)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	data, err := yaml.Marshal(out)
	if err != nil {
		c.fail(item, err)
		return
	}
	c.write(item, data)
}

// objectKind lists one kind of namespaced object.
type objectKind struct {
	file, apiVersion, kind string
	list                   func(ctx context.Context, ns string) ([]runtime.Object, error)
}

func (c *collector) objectKinds() []objectKind {
	cs := c.in.Client
	lo := metav1.ListOptions{}
	return []objectKind{
		{"deployments.yaml", "apps/v1", "Deployment", func(ctx context.Context, ns string) ([]runtime.Object, error) {
			l, err := cs.AppsV1().Deployments(ns).List(ctx, lo)
			if err != nil {
				return nil, err
			}
			return toObjects(l.Items), nil
		}},
		{"replicasets.yaml", "apps/v1", "ReplicaSet", func(ctx context.Context, ns string) ([]runtime.Object, error) {
			l, err := cs.AppsV1().ReplicaSets(ns).List(ctx, lo)
			if err != nil {
				return nil, err
			}
			return toObjects(l.Items), nil
		}},
		{"pods.yaml", "v1", "Pod", func(ctx context.Context, ns string) ([]runtime.Object, error) {
			l, err := cs.CoreV1().Pods(ns).List(ctx, lo)
			if err != nil {
				return nil, err
			}
			return toObjects(l.Items), nil
		}},
		{"services.yaml", "v1", "Service", func(ctx context.Context, ns string) ([]runtime.Object, error) {
			l, err := cs.CoreV1().Services(ns).List(ctx, lo)
			if err != nil {
				return nil, err
			}
			return toObjects(l.Items), nil
		}},
		{"configmaps.yaml", "v1", "ConfigMap", func(ctx context.Context, ns string) ([]runtime.Object, error) {
			l, err := cs.CoreV1().ConfigMaps(ns).List(ctx, lo)
			if err != nil {
				return nil, err
			}
			return toObjects(l.Items), nil
		}},
		{"serviceaccounts.yaml", "v1", "ServiceAccount", func(ctx context.Context, ns string) ([]runtime.Object, error) {
			l, err := cs.CoreV1().ServiceAccounts(ns).List(ctx, lo)
			if err != nil {
				return nil, err
			}
			return toObjects(l.Items), nil
		}},
		{"networkpolicies.yaml", "networking.k8s.io/v1", "NetworkPolicy", func(ctx context.Context, ns string) ([]runtime.Object, error) {
			l, err := cs.NetworkingV1().NetworkPolicies(ns).List(ctx, lo)
			if err != nil {
				return nil, err
			}
			return toObjects(l.Items), nil
		}},
	}
}

// toObjects turns a typed item slice into objects; T's pointer must be a runtime.Object.
func toObjects[T any, PT interface {
	*T
	runtime.Object
}](items []T) []runtime.Object {
	out := make([]runtime.Object, len(items))
	for i := range items {
		out[i] = PT(&items[i])
	}
	return out
}

func (c *collector) collectObjects(ctx context.Context, ns string) {
	for _, k := range c.objectKinds() {
		item := filepath.ToSlash(filepath.Join(ResourcesDir, ns, k.file))
		if c.stopped(ctx, item) {
			return
		}
		objs, err := k.list(ctx, ns)
		if err != nil {
			c.fail(item, fmt.Errorf("list %s in %s: %w", k.kind, ns, err))
			continue
		}
		c.writeList(item, k.apiVersion, k.kind, objs)
	}
}

func (c *collector) collectEvents(ctx context.Context, ns string) {
	item := filepath.ToSlash(filepath.Join(ResourcesDir, ns, EventsFile))
	if c.stopped(ctx, item) {
		return
	}
	l, err := c.in.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		c.fail(item, fmt.Errorf("list events in %s: %w", ns, err))
		return
	}
	events := l.Items
	// Time order reads as a story; name order (writeList's default) would not.
	sort.SliceStable(events, func(i, j int) bool { return eventTime(events[i]).Time.Before(eventTime(events[j]).Time) })
	objs := make([]runtime.Object, len(events))
	for i := range events {
		objs[i] = &events[i]
	}
	c.writeListOrdered(item, "v1", "Event", objs)
}

func eventTime(e corev1.Event) metav1.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.EventTime.IsZero():
		return metav1.NewTime(e.EventTime.Time)
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp
	}
	return e.CreationTimestamp
}

func (c *collector) collectSessions(ctx context.Context, namespaces []string) {
	if c.in.Dynamic == nil {
		c.fail(SessionsFile, fmt.Errorf("no dynamic client given: %s not collected", platform.AgenticSessionGVR.String()))
		return
	}
	for _, ns := range namespaces {
		item := filepath.ToSlash(filepath.Join(ResourcesDir, ns, SessionsFile))
		if c.stopped(ctx, item) {
			return
		}
		l, err := c.in.Dynamic.Resource(platform.AgenticSessionGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			c.fail(item, fmt.Errorf("list %s in %s: %w", platform.AgenticSessionGVR.String(), ns, err))
			continue
		}
		objs := make([]runtime.Object, len(l.Items))
		for i := range l.Items {
			objs[i] = &l.Items[i]
		}
		c.writeList(item, platform.AgenticSessionGVR.GroupVersion().String(), "AgenticSession", objs)
	}
}

func (c *collector) writeList(rel, apiVersion, kind string, objs []runtime.Object) {
	sorted := append([]runtime.Object(nil), objs...)
	sort.SliceStable(sorted, func(i, j int) bool { return objectName(sorted[i]) < objectName(sorted[j]) })
	c.writeListOrdered(rel, apiVersion, kind, sorted)
}

// writeListOrdered writes objs as a kubectl-style List, with apiVersion and
// kind filled in (typed lists leave them empty) and managedFields dropped.
func (c *collector) writeListOrdered(rel, apiVersion, kind string, objs []runtime.Object) {
	items := make([]any, 0, len(objs))
	for _, o := range objs {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			c.fail(rel, fmt.Errorf("convert %s %s: %w", kind, objectName(o), err))
			continue
		}
		obj := &unstructured.Unstructured{Object: u}
		if obj.GetAPIVersion() == "" {
			obj.SetAPIVersion(apiVersion)
		}
		if obj.GetKind() == "" {
			obj.SetKind(kind)
		}
		obj.SetManagedFields(nil)
		if ann := obj.GetAnnotations(); ann[lastAppliedAnnotation] != "" {
			delete(ann, lastAppliedAnnotation)
			obj.SetAnnotations(ann)
		}
		items = append(items, obj.Object)
	}
	doc := map[string]any{"apiVersion": "v1", "kind": "List", "items": items}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		c.fail(rel, err)
		return
	}
	data, err := yaml.JSONToYAML(buf.Bytes())
	if err != nil {
		c.fail(rel, err)
		return
	}
	c.write(rel, data)
}

func objectName(o runtime.Object) string {
	if m, ok := o.(metav1.Object); ok {
		return m.GetName()
	}
	return ""
}

func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "<redacted:…>" readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
