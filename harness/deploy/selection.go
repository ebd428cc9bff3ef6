package deploy

import (
	"fmt"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ObjectPattern matches objects by kind, namespace and name with shell-style
// wildcards (path.Match: *, ?, [..]). An empty field matches anything.
type ObjectPattern struct {
	Kind      string
	Namespace string
	Name      string
}

// ParseObjectPattern reads "Kind/name" or "Kind/namespace/name", e.g.
// "ClusterRole/*" or "ConfigMap/ambient-code/ldap-*".
func ParseObjectPattern(s string) (ObjectPattern, error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	var p ObjectPattern
	switch len(parts) {
	case 2:
		p = ObjectPattern{Kind: parts[0], Name: parts[1]}
	case 3:
		p = ObjectPattern{Kind: parts[0], Namespace: parts[1], Name: parts[2]}
	default:
		return ObjectPattern{}, fmt.Errorf("object pattern %q: want Kind/name or Kind/namespace/name (wildcards allowed, e.g. ClusterRole/*)", s)
	}
	for _, f := range []string{p.Kind, p.Namespace, p.Name} {
		if _, err := path.Match(f, ""); err != nil {
			return ObjectPattern{}, fmt.Errorf("object pattern %q: bad wildcard %q: %w", s, f, err)
		}
	}
	if p.Kind == "" || p.Name == "" {
		return ObjectPattern{}, fmt.Errorf("object pattern %q: kind and name must not be empty (use * for any)", s)
	}
	return p, nil
}

// MustObjectPatterns parses patterns known at compile time; it panics on a typo.
func MustObjectPatterns(specs ...string) []ObjectPattern {
	out := make([]ObjectPattern, 0, len(specs))
	for _, s := range specs {
		p, err := ParseObjectPattern(s)
		if err != nil {
			panic(err)
		}
		out = append(out, p)
	}
	return out
}

func (p ObjectPattern) String() string {
	if p.Namespace == "" {
		return p.Kind + "/" + p.Name
	}
	return p.Kind + "/" + p.Namespace + "/" + p.Name
}

// Matches reports whether ref matches the pattern.
func (p ObjectPattern) Matches(ref ObjectRef) bool {
	return globMatch(p.Kind, ref.Kind) && globMatch(p.Namespace, ref.Namespace) && globMatch(p.Name, ref.Name)
}

func globMatch(pattern, value string) bool {
	if pattern == "" || pattern == "*" {
		return true
	}
	ok, err := path.Match(pattern, value)
	return err == nil && ok
}

// Selection keeps part of a large overlay, as data.
type Selection struct {
	// Keep lists the objects to keep.
	Keep []ObjectPattern
	// Drop wins over Keep and over references.
	Drop []ObjectPattern
	// KeepReferenced also keeps every ConfigMap, Secret and PVC that a kept
	// workload references (env, envFrom, volumes, projected volumes, imagePullSecrets).
	KeepReferenced bool
	// ReplacePVCs turns every PVC volume of kept workloads into an emptyDir and
	// drops the claim: no StorageClass binds offline (§9).
	ReplacePVCs bool
}

// DefaultUpstreamSelection keeps what upstream's operator and backend need in
// kind (§9): namespace, CRDs, RBAC, service accounts, the two Deployments, the
// backend Service, the harness identity Secret and whatever the Deployments
// reference, except LDAP config (it makes the backend call an external host).
func DefaultUpstreamSelection() *Selection {
	return &Selection{
		Keep: MustObjectPatterns(
			"Namespace/*",
			"CustomResourceDefinition/*",
			"ServiceAccount/*/*",
			"ClusterRole/*", "ClusterRoleBinding/*", "Role/*/*", "RoleBinding/*/*",
			"Deployment/*/"+OperatorDeployment, "Deployment/*/"+BackendDeployment,
			"Service/*/backend-service",
			"Secret/*/test-user-token", // the harness authenticates as SA test-user (§5)
		),
		Drop:           MustObjectPatterns("ConfigMap/*/ldap-*", "Secret/*/ldap-*"),
		KeepReferenced: true,
		ReplacePVCs:    true,
	}
}

// Reasons recorded in Rendered.LeftOut.
const (
	LeftOutNotSelected = "not selected"
	LeftOutDropRule    = "drop rule"
	LeftOutPVCReplaced = "PVC replaced by emptyDir"
)

func (s *Selection) apply(r *Rendered) error {
	keep := make([]bool, len(r.Objects))
	for i, o := range r.Objects {
		keep[i] = s.matchesAny(s.Keep, RefOf(o))
	}
	replaced := map[ObjectRef]bool{}
	if s.ReplacePVCs {
		for i, o := range r.Objects {
			if !keep[i] {
				continue
			}
			claims, err := replacePVCVolumes(o)
			if err != nil {
				return err
			}
			for _, c := range claims {
				replaced[ObjectRef{Kind: pvcKind, Namespace: o.GetNamespace(), Name: c}] = true
			}
		}
	}
	if s.KeepReferenced {
		refs := map[ObjectRef]bool{}
		for i, o := range r.Objects {
			if keep[i] && !s.matchesAny(s.Drop, RefOf(o)) {
				for _, ref := range referencedObjects(o) {
					refs[ref] = true
				}
			}
		}
		for i, o := range r.Objects {
			ref := RefOf(o)
			if refs[ObjectRef{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}] {
				keep[i] = true
			}
		}
	}
	var kept []*unstructured.Unstructured
	for i, o := range r.Objects {
		ref := RefOf(o)
		bare := ObjectRef{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}
		switch {
		case s.matchesAny(s.Drop, ref):
			r.LeftOut = append(r.LeftOut, LeftOutObject{ObjectRef: ref, Reason: LeftOutDropRule})
		case ref.Kind == pvcKind && replaced[bare]:
			r.LeftOut = append(r.LeftOut, LeftOutObject{ObjectRef: ref, Reason: LeftOutPVCReplaced})
		case !keep[i]:
			r.LeftOut = append(r.LeftOut, LeftOutObject{ObjectRef: ref, Reason: LeftOutNotSelected})
		default:
			kept = append(kept, o)
		}
	}
	if len(kept) == 0 {
		return fmt.Errorf("selection kept no object of %d (Keep patterns: %v)", len(r.Objects), s.Keep)
	}
	r.Objects = kept
	return nil
}

func (s *Selection) matchesAny(ps []ObjectPattern, ref ObjectRef) bool {
	for _, p := range ps {
		if p.Matches(ref) {
			return true
		}
	}
	return false
}

func podSpec(o *unstructured.Unstructured) map[string]any {
	p := podSpecPath(o.GetKind())
	if p == nil {
		return nil
	}
	m, _, _ := unstructured.NestedMap(o.Object, p...)
	return m
}

// referencedObjects lists the ConfigMaps, Secrets and PVCs a workload's pod spec names.
func referencedObjects(o *unstructured.Unstructured) []ObjectRef {
	spec := podSpec(o)
	if spec == nil {
		return nil
	}
	ns := o.GetNamespace()
	var out []ObjectRef
	add := func(kind string, name any) {
		if s, ok := name.(string); ok && s != "" {
			out = append(out, ObjectRef{Kind: kind, Namespace: ns, Name: s})
		}
	}
	for _, field := range []string{"initContainers", "containers"} {
		cs, _ := spec[field].([]any)
		for _, ci := range cs {
			c, _ := ci.(map[string]any)
			envs, _ := c["env"].([]any)
			for _, ei := range envs {
				e, _ := ei.(map[string]any)
				vf, _ := e["valueFrom"].(map[string]any)
				if ref, ok := vf["configMapKeyRef"].(map[string]any); ok {
					add(configMapKind, ref["name"])
				}
				if ref, ok := vf["secretKeyRef"].(map[string]any); ok {
					add(secretKind, ref["name"])
				}
			}
			froms, _ := c["envFrom"].([]any)
			for _, fi := range froms {
				f, _ := fi.(map[string]any)
				if ref, ok := f["configMapRef"].(map[string]any); ok {
					add(configMapKind, ref["name"])
				}
				if ref, ok := f["secretRef"].(map[string]any); ok {
					add(secretKind, ref["name"])
				}
			}
		}
	}
	vols, _ := spec["volumes"].([]any)
	for _, vi := range vols {
		v, _ := vi.(map[string]any)
		if cm, ok := v["configMap"].(map[string]any); ok {
			add(configMapKind, cm["name"])
		}
		if sec, ok := v["secret"].(map[string]any); ok {
			add(secretKind, sec["secretName"])
		}
		if pvc, ok := v["persistentVolumeClaim"].(map[string]any); ok {
			add(pvcKind, pvc["claimName"])
		}
		if proj, ok := v["projected"].(map[string]any); ok {
			srcs, _ := proj["sources"].([]any)
			for _, si := range srcs {
				src, _ := si.(map[string]any)
				if cm, ok := src["configMap"].(map[string]any); ok {
					add(configMapKind, cm["name"])
				}
				if sec, ok := src["secret"].(map[string]any); ok {
					add(secretKind, sec["name"])
				}
			}
		}
	}
	pulls, _ := spec["imagePullSecrets"].([]any)
	for _, pi := range pulls {
		p, _ := pi.(map[string]any)
		add(secretKind, p["name"])
	}
	return out
}

// replacePVCVolumes turns persistentVolumeClaim volumes into emptyDirs and
// returns the claim names it replaced.
func replacePVCVolumes(o *unstructured.Unstructured) ([]string, error) {
	p := podSpecPath(o.GetKind())
	if p == nil {
		return nil, nil
	}
	full := append(append([]string(nil), p...), "volumes")
	vols, found, err := unstructured.NestedSlice(o.Object, full...)
	if err != nil || !found {
		return nil, err
	}
	var claims []string
	for _, vi := range vols {
		v, _ := vi.(map[string]any)
		pvc, ok := v["persistentVolumeClaim"].(map[string]any)
		if !ok {
			continue
		}
		if name, _ := pvc["claimName"].(string); name != "" {
			claims = append(claims, name)
		}
		delete(v, "persistentVolumeClaim")
		v["emptyDir"] = map[string]any{}
	}
	if len(claims) == 0 {
		return nil, nil
	}
	return claims, unstructured.SetNestedSlice(o.Object, vols, full...)
}
