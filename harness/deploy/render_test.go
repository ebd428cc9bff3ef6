package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/secrets"
	"github.com/ambient-e2e/upgrade-harness/tests/support/testsupport"
)

// upstreamManifest returns upstream's rendered kind overlay of version from
// the shared directory, or skips the test naming the missing file.
func upstreamManifest(t *testing.T, version string) string {
	t.Helper()
	return testsupport.RequireShared(t, testsupport.UpstreamManifests, "kind-"+version+".yaml")
}

func simImages(v string) platform.Images {
	return platform.Images{
		Operator:  "localhost/ambient-sim/vteam_operator:" + v,
		Backend:   "localhost/ambient-sim/vteam_backend:" + v,
		Runner:    "localhost/ambient-sim/vteam_claude_runner:" + v,
		StateSync: "localhost/ambient-sim/vteam_state_sync:" + v,
	}
}

func renderUpstream(t *testing.T, v string) *Rendered {
	t.Helper()
	r, err := Render(RenderInput{
		Source: upstreamManifest(t, v), Release: v, Images: simImages(v),
		Selection: DefaultUpstreamSelection(), Lower: DefaultLowResources(),
	})
	if err != nil {
		t.Fatalf("Render %s: %v", v, err)
	}
	return r
}

func refStrings(refs []ObjectRef) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.String())
	}
	sort.Strings(out)
	return out
}

func TestRenderUpstreamKeepsExactlyWhatOperatorAndBackendNeed(t *testing.T) {
	r := renderUpstream(t, "v0.2.2")
	want := []string{
		"ClusterRole/agentic-operator", "ClusterRole/agenticsessions-aggregate-to-admin", "ClusterRole/ambient-control-plane",
		"ClusterRole/ambient-frontend-auth", "ClusterRole/ambient-namespace-viewer", "ClusterRole/ambient-project-admin",
		"ClusterRole/ambient-project-edit", "ClusterRole/ambient-project-view", "ClusterRole/backend-api",
		"ClusterRole/projectsettings-aggregate-to-admin",
		"ClusterRoleBinding/agentic-operator", "ClusterRoleBinding/ambient-control-plane", "ClusterRoleBinding/ambient-frontend-auth",
		"ClusterRoleBinding/ambient-users-can-list-projects", "ClusterRoleBinding/backend-api", "ClusterRoleBinding/test-user-admin",
		"ConfigMap/ambient-code/ambient-agent-registry", "ConfigMap/ambient-code/ambient-flags",
		"ConfigMap/ambient-code/ambient-models", "ConfigMap/ambient-code/operator-config",
		"CustomResourceDefinition/agenticsessions.vteam.ambient-code", "CustomResourceDefinition/projectsettings.vteam.ambient-code",
		"Deployment/ambient-code/agentic-operator", "Deployment/ambient-code/backend-api",
		"Namespace/ambient-code",
		"Secret/ambient-code/github-app-secret", "Secret/ambient-code/test-user-token", "Secret/ambient-code/unleash-credentials",
		"Service/ambient-code/backend-service",
		"ServiceAccount/ambient-code/agentic-operator", "ServiceAccount/ambient-code/ambient-api-server",
		"ServiceAccount/ambient-code/ambient-control-plane", "ServiceAccount/ambient-code/backend-api",
		"ServiceAccount/ambient-code/frontend", "ServiceAccount/ambient-code/public-api", "ServiceAccount/ambient-code/test-user",
	}
	got := refStrings(r.Refs())
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("kept objects differ\n got: %v\nwant: %v", got, want)
	}
	leftOut := map[string]string{}
	for _, l := range r.LeftOut {
		leftOut[l.ObjectRef.String()] = l.Reason
	}
	for ref, reason := range map[string]string{
		"ConfigMap/ambient-code/ldap-config":                            LeftOutDropRule,
		"Secret/ambient-code/ldap-credentials":                          LeftOutDropRule,
		"Deployment/ambient-code/frontend":                              LeftOutNotSelected,
		"Deployment/ambient-code/minio":                                 LeftOutNotSelected,
		"Deployment/ambient-code/postgresql":                            LeftOutNotSelected,
		"Deployment/ambient-code/unleash":                               LeftOutNotSelected,
		"Deployment/ambient-code/ambient-control-plane":                 LeftOutNotSelected,
		"Service/ambient-code/frontend-service":                         LeftOutNotSelected,
		"PersistentVolumeClaim/ambient-code/backend-state-pvc":          LeftOutPVCReplaced,
		"PersistentVolumeClaim/ambient-code/minio-data":                 LeftOutNotSelected,
		"Secret/ambient-code/ambient-control-plane-token":               LeftOutNotSelected,
		"PodDisruptionBudget/ambient-code/public-api-pdb":               LeftOutNotSelected,
		"LimitRange/ambient-code/ambient-default-limits":                LeftOutNotSelected,
		"Secret/ambient-code/minio-credentials":                         LeftOutNotSelected,
		"ConfigMap/ambient-code/postgresql-init-scripts":                LeftOutNotSelected,
		"Deployment/ambient-code/observability-dashboard":               LeftOutNotSelected,
		"Service/ambient-code/observability-dashboard-service":          LeftOutNotSelected,
		"PersistentVolumeClaim/ambient-code/postgresql-data":            LeftOutNotSelected,
		"Deployment/ambient-code/public-api":                            LeftOutNotSelected,
		"Deployment/ambient-code/ambient-api-server":                    LeftOutNotSelected,
		"ConfigMap/ambient-code/ambient-api-server-auth":                LeftOutNotSelected,
		"PersistentVolumeClaim/ambient-code/ambient-api-server-db-data": LeftOutNotSelected,
	} {
		if leftOut[ref] != reason {
			t.Errorf("LeftOut[%s] = %q, want %q", ref, leftOut[ref], reason)
		}
	}
	if len(r.Objects)+len(r.LeftOut) != 69 {
		t.Errorf("kept %d + left out %d != 69 objects in kind-v0.2.2.yaml", len(r.Objects), len(r.LeftOut))
	}
}

func deploymentContainer(t *testing.T, r *Rendered, name string) map[string]any {
	t.Helper()
	d := r.findByName(deploymentKind, name)
	if d == nil {
		t.Fatalf("Deployment %s missing", name)
	}
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	return cs[0].(map[string]any)
}

func envValue(c map[string]any, name string) (string, bool) {
	for _, e := range c["env"].([]any) {
		m := e.(map[string]any)
		if m["name"] == name {
			v, _ := m["value"].(string)
			return v, true
		}
	}
	return "", false
}

func registryEntries(t *testing.T, r *Rendered) []map[string]any {
	t.Helper()
	cm := r.findByName(configMapKind, RegistryConfigMap)
	if cm == nil {
		t.Fatal("registry ConfigMap missing")
	}
	raw, _, _ := unstructured.NestedString(cm.Object, "data", "agent-registry.json")
	var entries []map[string]any
	if err := json.Unmarshal([]byte(raw), &entries); err != nil {
		t.Fatalf("registry JSON after pinning: %v\n%s", err, raw)
	}
	return entries
}

func TestRenderUpstreamPinsEveryImage(t *testing.T) {
	for _, v := range []string{"v0.2.0", "v0.2.2", "v0.2.7"} {
		t.Run(v, func(t *testing.T) {
			r := renderUpstream(t, v)
			want := simImages(v)
			op := deploymentContainer(t, r, OperatorDeployment)
			if op["image"] != want.Operator || op["imagePullPolicy"] != "IfNotPresent" {
				t.Errorf("operator image %v policy %v, want %s IfNotPresent", op["image"], op["imagePullPolicy"], want.Operator)
			}
			be := deploymentContainer(t, r, BackendDeployment)
			if be["image"] != want.Backend || be["imagePullPolicy"] != "IfNotPresent" {
				t.Errorf("backend image %v policy %v, want %s IfNotPresent", be["image"], be["imagePullPolicy"], want.Backend)
			}
			if got, _ := envValue(op, runnerImageEnv); got != want.Runner {
				t.Errorf("operator env %s = %q, want %q", runnerImageEnv, got, want.Runner)
			}
			if got, _ := envValue(op, stateSyncImageEnv); got != want.StateSync {
				t.Errorf("operator env %s = %q, want %q", stateSyncImageEnv, got, want.StateSync)
			}
			entries := registryEntries(t, r)
			if len(entries) != 2 {
				t.Fatalf("registry has %d entries, want 2 (claude-agent-sdk, gemini-cli)", len(entries))
			}
			for _, e := range entries {
				c := e["container"].(map[string]any)
				if c["image"] != want.Runner {
					t.Errorf("registry %v container.image = %v, want %s", e["id"], c["image"], want.Runner)
				}
				if c["port"] != float64(8001) {
					t.Errorf("registry %v container.port = %v, want 8001 kept", e["id"], c["port"])
				}
				res := c["resources"].(map[string]any)
				req, lim := res["requests"].(map[string]any), res["limits"].(map[string]any)
				if req["cpu"] != "50m" || req["memory"] != "64Mi" || lim["cpu"] != "500m" || lim["memory"] != "512Mi" {
					t.Errorf("registry %v resources = %v, want lowered 50m/64Mi, 500m/512Mi", e["id"], res)
				}
				if s := e["sandbox"].(map[string]any); s["stateSyncImage"] != want.StateSync {
					t.Errorf("registry %v sandbox.stateSyncImage = %v, want %s", e["id"], s["stateSyncImage"], want.StateSync)
				}
			}
			if got := ListImages(r); strings.Join(got, ",") != strings.Join(slices.Sorted(maps.Keys(map[string]bool{
				want.Operator: true, want.Backend: true, want.Runner: true, want.StateSync: true})), ",") {
				t.Errorf("ListImages = %v, want exactly the four pins", got)
			}
			for _, o := range r.Objects {
				if o.GetLabels()[ManagedLabel] != "true" || o.GetAnnotations()[ReleaseAnnotation] != v {
					t.Errorf("%s lacks %s=true or %s=%s", RefOf(o), ManagedLabel, ReleaseAnnotation, v)
				}
				_ = eachContainer(o, func(c map[string]any) error {
					if c["imagePullPolicy"] == "Always" {
						t.Errorf("%s container %v still pulls Always", RefOf(o), c["name"])
					}
					return nil
				})
			}
			if strings.Contains(mustYAML(t, r), "quay.io/") {
				t.Errorf("a quay.io reference survived the pins")
			}
		})
	}
}

func mustYAML(t *testing.T, r *Rendered) string {
	t.Helper()
	b, err := r.YAML()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRenderReplacesBackendPVCWithEmptyDir(t *testing.T) {
	r := renderUpstream(t, "v0.2.2")
	d := r.findByName(deploymentKind, BackendDeployment)
	vols, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "volumes")
	found := false
	for _, vi := range vols {
		v := vi.(map[string]any)
		if _, ok := v["persistentVolumeClaim"]; ok {
			t.Errorf("volume %v still uses a PVC", v["name"])
		}
		if v["name"] == "backend-state" {
			found = true
			if _, ok := v["emptyDir"]; !ok {
				t.Errorf("volume backend-state = %v, want emptyDir", v)
			}
		}
	}
	if !found {
		t.Error("volume backend-state missing from backend-api")
	}
	if r.Find(pvcKind, "ambient-code", "backend-state-pvc") != nil {
		t.Error("PVC backend-state-pvc kept although ReplacePVCs is set")
	}

	sel := DefaultUpstreamSelection()
	sel.ReplacePVCs = false
	kept, err := Render(RenderInput{Source: upstreamManifest(t, "v0.2.2"), Release: "v0.2.2", Images: simImages("v0.2.2"), Selection: sel})
	if err != nil {
		t.Fatal(err)
	}
	if kept.Find(pvcKind, "ambient-code", "backend-state-pvc") == nil {
		t.Error("without ReplacePVCs the referenced PVC backend-state-pvc must be kept")
	}
}

func TestRenderV027LeavesOutBaseNetworkPolicy(t *testing.T) {
	r := renderUpstream(t, "v0.2.7")
	for _, l := range r.LeftOut {
		if l.Kind == "NetworkPolicy" && l.Name == "allow-from-runner-namespaces" {
			return
		}
	}
	t.Error("NetworkPolicy allow-from-runner-namespaces not listed in LeftOut")
}

func TestRenderKustomizeDirWithPins(t *testing.T) {
	imgs := simImages("v0.2.3")
	r, err := Render(RenderInput{Source: "testdata/kustomize", Release: "v0.2.3", Images: imgs, Lower: Resources{CPURequest: "10m"}})
	if err != nil {
		t.Fatal(err)
	}
	op := r.Find(deploymentKind, "sim-platform", OperatorDeployment)
	if op == nil {
		t.Fatalf("kustomize namespace transform not applied: %v", r.Refs())
	}
	if op.GetLabels()["overlay"] != "testdata" {
		t.Errorf("kustomize labels not applied: %v", op.GetLabels())
	}
	c := deploymentContainer(t, r, OperatorDeployment)
	if c["image"] != imgs.Operator || c["imagePullPolicy"] != "IfNotPresent" {
		t.Errorf("operator container %v/%v, want %s/IfNotPresent", c["image"], c["imagePullPolicy"], imgs.Operator)
	}
	if v, _ := envValue(c, runnerImageEnv); v != imgs.Runner {
		t.Errorf("runner env = %s, want %s", v, imgs.Runner)
	}
	e := registryEntries(t, r)[0]
	res := e["container"].(map[string]any)["resources"].(map[string]any)
	if res["requests"].(map[string]any)["cpu"] != "10m" || res["requests"].(map[string]any)["memory"] != "512Mi" {
		t.Errorf("only the set field is lowered: resources = %v", res)
	}
	if e["sandbox"].(map[string]any)["terminationGracePeriod"] != float64(60) {
		t.Errorf("unrelated sandbox fields must survive: %v", e["sandbox"])
	}
	if !r.RegistryPinned {
		t.Error("RegistryPinned = false")
	}
}

func TestRenderPlainDirWithoutRegistry(t *testing.T) {
	imgs := simImages("v0.2.1")
	r, err := Render(RenderInput{Source: "testdata/plain", Release: "v0.2.1", Images: imgs})
	if err != nil {
		t.Fatal(err)
	}
	if got := refStrings(r.Refs()); strings.Join(got, ",") != "Deployment/sim-platform/agentic-operator,Deployment/sim-platform/backend-api" {
		t.Errorf("objects = %v (List must be flattened, README.txt ignored)", got)
	}
	if r.RegistryPinned {
		t.Error("RegistryPinned = true without a registry ConfigMap")
	}
	if v, _ := envValue(deploymentContainer(t, r, OperatorDeployment), runnerImageEnv); v != imgs.Runner {
		t.Errorf("runner env = %s, want %s", v, imgs.Runner)
	}
	if got := ListImages(r); !slices.Contains(got, imgs.Runner) || !slices.Contains(got, imgs.StateSync) {
		t.Errorf("ListImages = %v must include runner and state-sync pins when only the env carries them", got)
	}
}

func TestRenderRejectsBadInput(t *testing.T) {
	good := simImages("v0.2.2")
	noRunner := good
	noRunner.Runner = " "
	for _, tc := range []struct {
		name string
		in   RenderInput
		want string
	}{
		{"empty source", RenderInput{Release: "v0.2.2", Images: good}, "Source is empty"},
		{"missing source", RenderInput{Source: "testdata/nope", Release: "v0.2.2", Images: good}, "testdata/nope"},
		{"no release", RenderInput{Source: "testdata/plain", Images: good}, "Release is empty"},
		{"empty runner pin", RenderInput{Source: "testdata/plain", Release: "v0.2.2", Images: noRunner}, "Images.Runner is empty"},
		{"bad quantity", RenderInput{Source: "testdata/plain", Release: "v0.2.2", Images: good, Lower: Resources{CPULimit: "lots"}}, "Lower.CPULimit"},
		{"selection keeps no operator", RenderInput{Source: "testdata/plain", Release: "v0.2.2", Images: good,
			Selection: &Selection{Keep: MustObjectPatterns("Deployment/*/backend-api")}}, "no Deployment agentic-operator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if exitcode.Of(err) != exitcode.BadInput {
				t.Errorf("exit code %d, want BadInput", exitcode.Of(err))
			}
		})
	}
}

func TestParseObjectPattern(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    ObjectPattern
		wantErr bool
	}{
		{"ClusterRole/*", ObjectPattern{Kind: "ClusterRole", Name: "*"}, false},
		{"ConfigMap/ambient-code/ldap-*", ObjectPattern{Kind: "ConfigMap", Namespace: "ambient-code", Name: "ldap-*"}, false},
		{"ConfigMap", ObjectPattern{}, true},
		{"a/b/c/d", ObjectPattern{}, true},
		{"ConfigMap/[", ObjectPattern{}, true},
		{"/x", ObjectPattern{}, true},
	} {
		got, err := ParseObjectPattern(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseObjectPattern(%q) = %+v, %v; want %+v, err=%v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	p := MustObjectPatterns("ConfigMap/*/ldap-*")[0]
	if !p.Matches(ObjectRef{Kind: "ConfigMap", Namespace: "ambient-code", Name: "ldap-config"}) ||
		p.Matches(ObjectRef{Kind: "Secret", Namespace: "ambient-code", Name: "ldap-config"}) ||
		p.Matches(ObjectRef{Kind: "ConfigMap", Namespace: "ambient-code", Name: "operator-config"}) {
		t.Error("ConfigMap/*/ldap-* matches the wrong objects")
	}
}

func TestNormalizeImage(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"docker.io/library/vteam_backend:v0.2.2", "vteam_backend:v0.2.2"},
		{"localhost/ambient-sim/vteam_backend:v0.2.2", "ambient-sim/vteam_backend:v0.2.2"},
		{"docker.io/ambient-sim/vteam_backend:v0.2.2", "localhost/ambient-sim/vteam_backend:v0.2.2"},
		{"vteam_claude_runner", "docker.io/library/vteam_claude_runner:latest"},
		{"index.docker.io/library/busybox:1", "busybox:1"},
		{"localhost:5000/x/y:1", "localhost:5000/x/y:1"},
		{"busybox@sha256:" + strings.Repeat("a", 64), "docker.io/library/busybox@sha256:" + strings.Repeat("a", 64)},
		{" quay.io/x/y:1 ", "quay.io/x/y:1"},
	} {
		if !SameImage(tc.a, tc.b) {
			t.Errorf("SameImage(%q, %q) = false (%q vs %q)", tc.a, tc.b, NormalizeImage(tc.a), NormalizeImage(tc.b))
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"localhost/ambient-sim/vteam_backend:v0.2.0", "localhost/ambient-sim/vteam_backend:v0.2.2"},
		{"quay.io/ambient_code/vteam_backend:v0.2.2", "vteam_backend:v0.2.2"},
		{"localhost:5000/x/y:1", "x/y:1"},
		{"busybox@sha256:" + strings.Repeat("a", 64), "busybox:latest"},
	} {
		if SameImage(tc.a, tc.b) {
			t.Errorf("SameImage(%q, %q) = true, want false", tc.a, tc.b)
		}
	}
}

func TestNormalizeImageLeavesImageIDsAlone(t *testing.T) {
	id := "sha256:" + strings.Repeat("b", 64)
	if got := NormalizeImage(id); got != id {
		t.Errorf("NormalizeImage(%q) = %q, want it unchanged", id, got)
	}
}

func TestYAMLRedactsSecretValues(t *testing.T) {
	s := managedObj("v1", "Secret", "ambient-code", "runner", false)
	s.Object["stringData"] = map[string]any{"agui-token": "0f3c2a5e-secret-value"}
	out, err := (&Rendered{Objects: []*unstructured.Unstructured{s}}).YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "secret-value") || !strings.Contains(string(out), secrets.Fingerprint("0f3c2a5e-secret-value")) {
		t.Errorf("YAML must show only a fingerprint of secret values:\n%s", out)
	}
	if s.Object["stringData"].(map[string]any)["agui-token"] != "0f3c2a5e-secret-value" {
		t.Error("YAML must not modify the render")
	}
}

func TestLowerPlatformCapsOperatorAndBackendRequests(t *testing.T) {
	imgs := simImages("v0.2.2")
	r, err := Render(RenderInput{Source: "testdata/plain", Release: "v0.2.2", Images: imgs, LowerPlatform: DefaultPlatformRequests()})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{OperatorDeployment, BackendDeployment} {
		if got := containerField(t, r, name, "resources", "requests", "cpu"); got != "10m" {
			t.Errorf("%s cpu request = %q, want 10m set where the manifest has none", name, got)
		}
	}
	if len(r.Lowered) != 2 || !strings.Contains(r.Lowered[0], "cpu request none → 10m") {
		t.Errorf("Lowered = %q", r.Lowered)
	}

	if _, err := Render(RenderInput{Source: "testdata/plain", Release: "v0.2.2", Images: imgs, LowerPlatform: Resources{CPURequest: "a lot"}}); err == nil ||
		!strings.Contains(err.Error(), "LowerPlatform") || !strings.Contains(err.Error(), `"a lot"`) {
		t.Errorf("bad LowerPlatform: err %v", err)
	}
}

// Upstream's overlay: operator 100m, backend 200m are lowered; memory and limits stay.
func TestLowerPlatformOnUpstreamManifests(t *testing.T) {
	imgs := simImages("v0.2.2")
	up, err := Render(RenderInput{Source: upstreamManifest(t, "v0.2.2"), Release: "v0.2.2", Images: imgs,
		Selection: DefaultUpstreamSelection(), Lower: DefaultLowResources(), LowerPlatform: DefaultPlatformRequests()})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][3]string{OperatorDeployment: {"512Mi", "2", "4Gi"}, BackendDeployment: {"512Mi", "1", "1536Mi"}} {
		if got := containerField(t, up, name, "resources", "requests", "cpu"); got != "10m" {
			t.Errorf("%s cpu request = %s, want 10m", name, got)
		}
		got := [3]string{containerField(t, up, name, "resources", "requests", "memory"), containerField(t, up, name, "resources", "limits", "cpu"), containerField(t, up, name, "resources", "limits", "memory")}
		if got != want {
			t.Errorf("%s memory request, cpu and memory limits = %v, want the manifest's %v", name, got, want)
		}
	}
	want := []string{"Deployment/ambient-code/agentic-operator container agentic-operator: cpu request 100m → 10m",
		"Deployment/ambient-code/backend-api container backend-api: cpu request 200m → 10m"}
	if strings.Join(up.Lowered, "|") != strings.Join(want, "|") {
		t.Errorf("Lowered = %q, want %q", up.Lowered, want)
	}

	// A cap never raises a request: v0.2.0's operator asks 50m.
	v020, err := Render(RenderInput{Source: upstreamManifest(t, "v0.2.0"), Release: "v0.2.0", Images: simImages("v0.2.0"),
		Selection: DefaultUpstreamSelection(), LowerPlatform: Resources{CPURequest: "100m"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := containerField(t, v020, OperatorDeployment, "resources", "requests", "cpu"); got != "50m" {
		t.Errorf("operator cpu request = %s, want the manifest's 50m kept", got)
	}
}

// containerField reads a field of the first container of Deployment name.
func containerField(t *testing.T, r *Rendered, name string, path ...string) string {
	t.Helper()
	d := r.findByName(deploymentKind, name)
	if d == nil {
		t.Fatalf("no Deployment %s", name)
	}
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(cs) == 0 {
		t.Fatalf("Deployment %s has no containers", name)
	}
	v, _, _ := unstructured.NestedFieldNoCopy(cs[0].(map[string]any), path...)
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}
