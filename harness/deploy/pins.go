package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

func (r Resources) validate() error {
	for _, f := range []struct{ name, value string }{
		{"CPURequest", r.CPURequest}, {"MemoryRequest", r.MemoryRequest},
		{"CPULimit", r.CPULimit}, {"MemoryLimit", r.MemoryLimit},
	} {
		if f.value == "" {
			continue
		}
		if _, err := resource.ParseQuantity(f.value); err != nil {
			return fmt.Errorf("Lower.%s %q is not a Kubernetes quantity (e.g. 50m, 64Mi): %w", f.name, f.value, err)
		}
	}
	return nil
}

// podSpecPath returns where a workload kind keeps its pod spec.
func podSpecPath(kind string) []string {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		return []string{"spec", "template", "spec"}
	case "CronJob":
		return []string{"spec", "jobTemplate", "spec", "template", "spec"}
	case "Pod":
		return []string{"spec"}
	}
	return nil
}

// eachContainer calls fn for every container and init container of a workload
// and writes the (possibly modified) containers back.
func eachContainer(obj *unstructured.Unstructured, fn func(c map[string]any) error) error {
	path := podSpecPath(obj.GetKind())
	if path == nil {
		return nil
	}
	for _, field := range []string{"initContainers", "containers"} {
		full := append(append([]string(nil), path...), field)
		list, found, err := unstructured.NestedSlice(obj.Object, full...)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", RefOf(obj), strings.Join(full, "."), err)
		}
		if !found {
			continue
		}
		for i, item := range list {
			c, ok := item.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: %s[%d] is not an object", RefOf(obj), strings.Join(full, "."), i)
			}
			if err := fn(c); err != nil {
				return fmt.Errorf("%s: container %v: %w", RefOf(obj), c["name"], err)
			}
		}
		if err := unstructured.SetNestedSlice(obj.Object, list, full...); err != nil {
			return fmt.Errorf("%s: %s: %w", RefOf(obj), strings.Join(full, "."), err)
		}
	}
	return nil
}

// imageRepo strips tag and digest: "quay.io/a/vteam_operator:latest" →
// "quay.io/a/vteam_operator" (Docker Hub names in their familiar form). A
// string that is no image reference is returned as it is.
func imageRepo(ref string) string {
	named, err := reference.ParseNormalizedNamed(strings.TrimSpace(ref))
	if err != nil {
		return ref
	}
	return reference.FamiliarName(named)
}

// repoEndsIn reports whether the last path segment of the image repository is name.
func repoEndsIn(ref, name string) bool {
	repo := imageRepo(ref)
	return repo == name || strings.HasSuffix(repo, "/"+name)
}

// pinDeploymentImage sets image on the containers of Deployment name whose
// image repository ends in repo. It fails when the Deployment or such a
// container is missing, because then the pin would silently not take effect.
func pinDeploymentImage(r *Rendered, name, repo, image string) (*unstructured.Unstructured, error) {
	d := r.findByName(deploymentKind, name)
	if d == nil {
		return nil, fmt.Errorf("no Deployment %s in the render (it must exist to run image %s)", name, image)
	}
	pinned := 0
	err := eachContainer(d, func(c map[string]any) error {
		current, _ := c["image"].(string)
		if !repoEndsIn(current, repo) {
			return nil
		}
		c["image"] = image
		// A pinned :latest tag would default to Always, which cannot pull offline.
		if p, _ := c["imagePullPolicy"].(string); p == "" || p == alwaysPullPolicy {
			c["imagePullPolicy"] = defaultPullPolicy
		}
		pinned++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if pinned == 0 {
		return nil, fmt.Errorf("Deployment %s has no container whose image repository ends in %s (want one to pin to %s)", name, repo, image)
	}
	return d, nil
}

// pinEnv sets the literal value of env var name in every container of d that declares it.
func pinEnv(d *unstructured.Unstructured, name, value string) (int, error) {
	n := 0
	err := eachContainer(d, func(c map[string]any) error {
		env, _ := c["env"].([]any)
		for _, e := range env {
			m, ok := e.(map[string]any)
			if !ok || m["name"] != name {
				continue
			}
			m["value"] = value
			delete(m, "valueFrom")
			n++
		}
		return nil
	})
	return n, err
}

// pinImages applies every pin of the render: operator and backend Deployment
// images, the operator's runner/state-sync env, the agent registry JSON, and
// Always → IfNotPresent everywhere (as upstream deploy.sh does with overrides).
func pinImages(r *Rendered, images platform.Images, lower Resources) error {
	op, err := pinDeploymentImage(r, OperatorDeployment, platform.Operator.ImageRepo(), images.Operator)
	if err != nil {
		return err
	}
	if _, err := pinDeploymentImage(r, BackendDeployment, platform.Backend.ImageRepo(), images.Backend); err != nil {
		return err
	}
	runnerEnv, err := pinEnv(op, runnerImageEnv, images.Runner)
	if err != nil {
		return err
	}
	if _, err := pinEnv(op, stateSyncImageEnv, images.StateSync); err != nil {
		return err
	}
	if reg := r.findByName(configMapKind, RegistryConfigMap); reg != nil {
		if err := pinRegistry(reg, images.Runner, images.StateSync, lower); err != nil {
			return err
		}
		r.RegistryPinned = true
	} else if runnerEnv == 0 {
		return fmt.Errorf("neither ConfigMap %s nor env %s in Deployment %s exists, so runner image %s could not be pinned anywhere",
			RegistryConfigMap, runnerImageEnv, OperatorDeployment, images.Runner)
	}
	for _, o := range r.Objects {
		if err := eachContainer(o, func(c map[string]any) error {
			if c["imagePullPolicy"] == alwaysPullPolicy {
				c["imagePullPolicy"] = defaultPullPolicy
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// pinRegistry rewrites every runtime entry of every *.json key of the registry
// ConfigMap: container.image, sandbox.stateSyncImage and container.resources.
func pinRegistry(cm *unstructured.Unstructured, runner, stateSync string, lower Resources) error {
	data, _, err := unstructured.NestedStringMap(cm.Object, "data")
	if err != nil {
		return fmt.Errorf("%s: data: %w", RefOf(cm), err)
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		if strings.HasSuffix(k, ".json") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return fmt.Errorf("%s has no *.json data key (want agent-registry.json holding the runtime entries)", RefOf(cm))
	}
	for _, k := range keys {
		out, err := pinRegistryJSON([]byte(data[k]), runner, stateSync, lower)
		if err != nil {
			return fmt.Errorf("%s data[%s]: %w", RefOf(cm), k, err)
		}
		data[k] = string(out)
	}
	return unstructured.SetNestedStringMap(cm.Object, data, "data")
}

func decodeRegistry(raw []byte) ([]map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep ports and sizes byte-for-byte
	var entries []map[string]any
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("not a JSON array of runtime entries: %w", err)
	}
	return entries, nil
}

func pinRegistryJSON(raw []byte, runner, stateSync string, lower Resources) ([]byte, error) {
	entries, err := decodeRegistry(raw)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("registry has no runtime entries, so runner image %s would not be used", runner)
	}
	for i, e := range entries {
		container, _ := e["container"].(map[string]any)
		if container == nil {
			// Without container.image the operator falls back to its env, which is pinned too;
			// adding the block keeps the registry the single source for runner pods.
			container = map[string]any{}
			e["container"] = container
		}
		container["image"] = runner
		if !lower.IsZero() {
			container["resources"] = lowerResources(container["resources"], lower)
		}
		if sandbox, ok := e["sandbox"].(map[string]any); ok {
			sandbox["stateSyncImage"] = stateSync
		} else if e["sandbox"] != nil {
			return nil, fmt.Errorf("entry %d (%v): sandbox is not an object", i, e["id"])
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(entries); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func lowerResources(existing any, lower Resources) map[string]any {
	res, _ := existing.(map[string]any)
	if res == nil {
		res = map[string]any{}
	}
	set := func(section, key, value string) {
		if value == "" {
			return
		}
		m, _ := res[section].(map[string]any)
		if m == nil {
			m = map[string]any{}
			res[section] = m
		}
		m[key] = value
	}
	set("requests", "cpu", lower.CPURequest)
	set("requests", "memory", lower.MemoryRequest)
	set("limits", "cpu", lower.CPULimit)
	set("limits", "memory", lower.MemoryLimit)
	return res
}

// RegistryImages returns the runner and state-sync images named by the
// registry ConfigMap of r (one per runtime entry, deduplicated, sorted).
func RegistryImages(r *Rendered) (runners, stateSyncs []string, err error) {
	cm := r.findByName(configMapKind, RegistryConfigMap)
	if cm == nil {
		return nil, nil, nil
	}
	data, _, err := unstructured.NestedStringMap(cm.Object, "data")
	if err != nil {
		return nil, nil, fmt.Errorf("%s: data: %w", RefOf(cm), err)
	}
	rs, ss := map[string]bool{}, map[string]bool{}
	for k, v := range data {
		if !strings.HasSuffix(k, ".json") {
			continue
		}
		entries, err := decodeRegistry([]byte(v))
		if err != nil {
			return nil, nil, fmt.Errorf("%s data[%s]: %w", RefOf(cm), k, err)
		}
		for _, e := range entries {
			if c, ok := e["container"].(map[string]any); ok {
				if img, _ := c["image"].(string); img != "" {
					rs[img] = true
				}
			}
			if s, ok := e["sandbox"].(map[string]any); ok {
				if img, _ := s["stateSyncImage"].(string); img != "" {
					ss[img] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(rs)), slices.Sorted(maps.Keys(ss)), nil
}

// ListImages returns every image the renders run: workload containers plus
// the runner and state-sync images of the agent registry, for preloading into
// kind; sorted, each once.
func ListImages(renders ...*Rendered) []string {
	set := map[string]bool{}
	for _, r := range renders {
		addImages(set, r)
	}
	return slices.Sorted(maps.Keys(set))
}

func addImages(set map[string]bool, r *Rendered) {
	for _, o := range r.Objects {
		_ = eachContainer(o, func(c map[string]any) error {
			if img, _ := c["image"].(string); img != "" {
				set[img] = true
			}
			return nil
		})
	}
	runners, stateSyncs, _ := RegistryImages(r)
	for _, img := range append(runners, stateSyncs...) {
		set[img] = true
	}
	if !r.RegistryPinned {
		// Only the operator env names the runner images then.
		for _, img := range []string{r.Images.Runner, r.Images.StateSync} {
			if img != "" {
				set[img] = true
			}
		}
	}
}

// NormalizeImage maps the forms a container runtime reports for one image to a
// single form: docker.io/library/x, docker.io/x, index.docker.io/… and
// localhost/x all become x, and a missing tag becomes :latest. A string that is
// no image reference (e.g. an image ID) is only trimmed.
func NormalizeImage(ref string) string {
	ref = strings.TrimSpace(ref)
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	// Images imported without a registry are listed under localhost/.
	return strings.TrimPrefix(reference.FamiliarString(reference.TagNameOnly(named)), "localhost/")
}

// SameImage reports whether two references name the same image after NormalizeImage.
func SameImage(a, b string) bool { return NormalizeImage(a) == NormalizeImage(b) }

// lowerPlatformRequests caps the requests of the operator and backend
// containers at cap (a missing request is set), and records each change.
func lowerPlatformRequests(r *Rendered, limit Resources) error {
	if limit.CPURequest == "" && limit.MemoryRequest == "" {
		return nil
	}
	for _, name := range []string{OperatorDeployment, BackendDeployment} {
		d := r.findByName(deploymentKind, name)
		if d == nil {
			continue // pinImages already required both
		}
		if err := eachContainer(d, func(c map[string]any) error {
			res, _ := c["resources"].(map[string]any)
			if res == nil {
				res = map[string]any{}
			}
			req, _ := res["requests"].(map[string]any)
			if req == nil {
				req = map[string]any{}
			}
			for _, f := range []struct{ key, value string }{{"cpu", limit.CPURequest}, {"memory", limit.MemoryRequest}} {
				if f.value == "" {
					continue
				}
				want := resource.MustParse(f.value)
				cur, had := req[f.key]
				if had {
					q, err := resource.ParseQuantity(fmt.Sprint(cur))
					if err != nil {
						return fmt.Errorf("resources.requests.%s %q is not a quantity: %w", f.key, cur, err)
					}
					if q.Cmp(want) <= 0 {
						continue
					}
				}
				from := "none"
				if had {
					from = fmt.Sprint(cur)
				}
				req[f.key] = want.String()
				r.Lowered = append(r.Lowered, fmt.Sprintf("%s container %v: %s request %s → %s", RefOf(d), c["name"], f.key, from, want.String()))
			}
			res["requests"] = req
			c["resources"] = res
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}
