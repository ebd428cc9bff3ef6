package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
)

// Labels, annotations and well-known names shared with the rest of the harness.
const (
	// ManagedLabel marks every object a render produced, so Reset and Prune find it.
	ManagedLabel = "upgrade-harness.ambient-e2e/managed"
	// ReleaseAnnotation records which release rendered an object.
	ReleaseAnnotation = "upgrade-harness.ambient-e2e/release"

	OperatorDeployment = platform.OperatorDeployment
	BackendDeployment  = platform.BackendDeployment
	RegistryConfigMap  = platform.RegistryConfigMap

	runnerImageEnv     = platform.OperatorRunnerImageEnv
	stateSyncImageEnv  = platform.OperatorStateSyncImageEnv
	defaultPullPolicy  = "IfNotPresent"
	alwaysPullPolicy   = "Always"
	crdKind            = "CustomResourceDefinition"
	namespaceKind      = "Namespace"
	deploymentKind     = "Deployment"
	configMapKind      = "ConfigMap"
	secretKind         = "Secret"
	pvcKind            = "PersistentVolumeClaim"
	kustomizationFiles = "kustomization.yaml,kustomization.yml,Kustomization"
)

// validateImages reports every empty pin; an empty pin would silently keep
// upstream's :latest reference, which cannot be pulled offline.
func validateImages(i platform.Images) error {
	missing := i.Missing()
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, len(missing))
	for j, c := range missing {
		names[j] = "Images." + strings.ToUpper(string(c[:1])) + string(c[1:])
	}
	return fmt.Errorf("%s is empty: every image must be pinned to a full reference such as localhost/ambient-sim/vteam_operator:v0.2.2", strings.Join(names, ", "))
}

// Resources are CPU/memory requests and limits (Kubernetes quantities). Empty
// fields are left as the manifest has them.
type Resources struct {
	CPURequest    string
	MemoryRequest string
	CPULimit      string
	MemoryLimit   string
}

// IsZero reports whether no field is set.
func (r Resources) IsZero() bool { return r == Resources{} }

// DefaultLowResources fits several runner pods (plus their fixed 100m sidecar)
// on a 2-core kind node; upstream's 500m/512Mi request fits one or two (§9).
func DefaultLowResources() Resources {
	return Resources{CPURequest: "50m", MemoryRequest: "64Mi", CPULimit: "500m", MemoryLimit: "512Mi"}
}

// DefaultPlatformRequests caps the CPU request of the operator and backend
// containers. Upstream's kind overlay asks 100m (operator; 50m at v0.2.0) and
// 200m (backend); under the operator's LimitRange every runner pod asks at least
// 250m (init-hydrate has no requests, docs/platform.md §10 item 3), so on a 2-core node
// with 850m of control plane and CoreDNS only three sessions would fit, and a
// cell runs four. 10m each leaves 1130m: four sessions (1000m) and 130m spare.
func DefaultPlatformRequests() Resources { return Resources{CPURequest: "10m"} }

// RenderInput says what to render and how to pin it.
type RenderInput struct {
	// Source is a kustomize directory, a single YAML file, or a directory of YAML files.
	Source string
	// Release is recorded in ReleaseAnnotation on every object (e.g. "v0.2.2").
	Release string
	Images  platform.Images
	// Selection keeps only some objects (nil keeps everything).
	Selection *Selection
	// Lower replaces the runner's container.resources in the agent registry.
	Lower Resources
	// LowerPlatform caps the requests of the operator and backend Deployments'
	// containers: a higher or missing request is set to it, a lower one kept.
	// Limits are left as the manifest has them. Only requests are read.
	LowerPlatform Resources
}

// ObjectRef names one object.
type ObjectRef struct {
	Group     string
	Kind      string
	Namespace string
	Name      string
}

// String renders Kind/namespace/name (Kind/name when cluster-scoped).
func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// RefOf returns the reference of obj.
func RefOf(obj *unstructured.Unstructured) ObjectRef {
	gvk := obj.GroupVersionKind()
	return ObjectRef{Group: gvk.Group, Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// LeftOutObject is an object the selection dropped and why.
type LeftOutObject struct {
	ObjectRef
	Reason string
}

// Rendered is the object set of one release, ready to apply.
type Rendered struct {
	Release string
	Source  string
	Images  platform.Images
	Objects []*unstructured.Unstructured
	// LeftOut lists what the selection dropped, for the cell report.
	LeftOut []LeftOutObject
	// RegistryPinned is false when the render has no agent registry ConfigMap, so
	// only the operator env carries the runner pin.
	RegistryPinned bool
	// Lowered says which platform requests LowerPlatform changed, e.g.
	// "Deployment/ambient-code/backend-api container backend-api: cpu request 200m → 10m".
	Lowered []string
}

// Refs lists the references of every object, in render order.
func (r *Rendered) Refs() []ObjectRef {
	out := make([]ObjectRef, 0, len(r.Objects))
	for _, o := range r.Objects {
		out = append(out, RefOf(o))
	}
	return out
}

// Find returns the object of this kind, namespace and name, or nil.
func (r *Rendered) Find(kind, namespace, name string) *unstructured.Unstructured {
	for _, o := range r.Objects {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	return nil
}

// findByName returns the only object of this kind and name in any namespace.
func (r *Rendered) findByName(kind, name string) *unstructured.Unstructured {
	for _, o := range r.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// DeepCopy copies the render so plans can change objects without touching the original.
func (r *Rendered) DeepCopy() *Rendered {
	out := *r
	out.Objects = make([]*unstructured.Unstructured, len(r.Objects))
	for i, o := range r.Objects {
		out.Objects[i] = o.DeepCopy()
	}
	out.LeftOut = append([]LeftOutObject(nil), r.LeftOut...)
	return &out
}

// YAML serialises the objects as one multi-document stream for dumps and
// reports. Secret values are replaced by a fingerprint so no token reaches a file.
func (r *Rendered) YAML() ([]byte, error) { return r.marshal(true) }

// ApplyableYAML is the render with Secret values intact, for `kubectl apply`
// (the bench's floor). Never write it to artifacts.
func (r *Rendered) ApplyableYAML() ([]byte, error) { return r.marshal(false) }

func (r *Rendered) marshal(redact bool) ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range r.Objects {
		if redact && o.GetKind() == secretKind {
			o = redactSecret(o)
		}
		b, err := sigsyaml.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("marshal %s: %w", RefOf(o), err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// Render builds the object set of a release: decode or kustomize, select, pin,
// label. Input errors are *fault.BadInput.
func Render(in RenderInput) (*Rendered, error) {
	if strings.TrimSpace(in.Source) == "" {
		return nil, fault.BadInputErr(errors.New("RenderInput.Source is empty: want a kustomize directory, a YAML file or a directory of YAML files"))
	}
	if strings.TrimSpace(in.Release) == "" {
		return nil, fault.BadInputErr(fmt.Errorf("RenderInput.Release is empty for source %s: want the release version, e.g. v0.2.2", in.Source))
	}
	if err := validateImages(in.Images); err != nil {
		return nil, fault.BadInputErr(fmt.Errorf("render %s: %w", in.Source, err))
	}
	if err := in.Lower.validate(); err != nil {
		return nil, fault.BadInputErr(fmt.Errorf("render %s: %w", in.Source, err))
	}
	if err := in.LowerPlatform.validate(); err != nil {
		return nil, fault.BadInputErr(fmt.Errorf("render %s: LowerPlatform: %w", in.Source, err))
	}
	objs, err := loadSource(in.Source)
	if err != nil {
		return nil, fault.BadInputErr(err)
	}
	r := &Rendered{Release: in.Release, Source: in.Source, Images: in.Images, Objects: objs}
	if in.Selection != nil {
		if err := in.Selection.apply(r); err != nil {
			return nil, fault.BadInputErr(fmt.Errorf("select from %s: %w", in.Source, err))
		}
	}
	if err := pinImages(r, in.Images, in.Lower); err != nil {
		return nil, fault.BadInputErr(fmt.Errorf("pin images in %s: %w", in.Source, err))
	}
	if err := lowerPlatformRequests(r, in.LowerPlatform); err != nil {
		return nil, fault.BadInputErr(fmt.Errorf("lower platform requests in %s: %w", in.Source, err))
	}
	for _, o := range r.Objects {
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[ManagedLabel] = "true"
		o.SetLabels(labels)
		ann := o.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[ReleaseAnnotation] = in.Release
		o.SetAnnotations(ann)
	}
	return r, nil
}

// loadSource decodes a file, a directory of YAML files, or runs kustomize on a
// directory that has a kustomization file.
func loadSource(source string) ([]*unstructured.Unstructured, error) {
	info, err := os.Stat(source)
	if err != nil {
		return nil, fmt.Errorf("manifest source %s: %w", source, err)
	}
	if !info.IsDir() {
		data, err := readManifestFile(source)
		if err != nil {
			return nil, err
		}
		return decodeObjects(source, data)
	}
	for _, name := range strings.Split(kustomizationFiles, ",") {
		if _, err := os.Stat(filepath.Join(source, name)); err == nil {
			return kustomizeBuild(source)
		}
	}
	entries, err := os.ReadDir(source)
	if err != nil {
		return nil, fmt.Errorf("read manifest directory %s: %w", source, err)
	}
	var files []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if !e.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
			files = append(files, filepath.Join(source, e.Name()))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("manifest directory %s has neither a kustomization.yaml nor any *.yaml/*.yml/*.json file", source)
	}
	var out []*unstructured.Unstructured
	for _, f := range files {
		data, err := readManifestFile(f)
		if err != nil {
			return nil, err
		}
		objs, err := decodeObjects(f, data)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

func kustomizeBuild(dir string) ([]*unstructured.Unstructured, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(boundedFS{filesys.MakeFsOnDisk()}, abs)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	data, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: serialise: %w", dir, err)
	}
	return decodeObjects(dir+" (kustomize)", data)
}

// decodeObjects splits a multi-document YAML/JSON stream; List kinds are flattened.
func decodeObjects(origin string, data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for doc := 1; ; doc++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "), "yaml: ")
			return nil, fmt.Errorf("%s document %d is not YAML or JSON: %s (want Kubernetes objects, e.g. kustomize build output)", origin, doc, msg)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return nil, fmt.Errorf("decode %s document %d (%s): %w", origin, doc, u.GetKind(), err)
			}
			for i := range list.Items {
				item := list.Items[i]
				if err := checkObject(origin, doc, &item); err != nil {
					return nil, err
				}
				out = append(out, &item)
			}
			continue
		}
		if err := checkObject(origin, doc, u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func checkObject(origin string, doc int, u *unstructured.Unstructured) error {
	if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
		return fmt.Errorf("decode %s document %d: apiVersion %q, kind %q and metadata.name %q must all be set",
			origin, doc, u.GetAPIVersion(), u.GetKind(), u.GetName())
	}
	return nil
}

func redactSecret(o *unstructured.Unstructured) *unstructured.Unstructured {
	c := o.DeepCopy()
	for _, field := range []string{"data", "stringData"} {
		m, found, _ := unstructured.NestedMap(c.Object, field)
		if !found {
			continue
		}
		for k, v := range m {
			m[k] = secrets.Fingerprint(fmt.Sprint(v))
		}
		_ = unstructured.SetNestedMap(c.Object, m, field)
	}
	return c
}
