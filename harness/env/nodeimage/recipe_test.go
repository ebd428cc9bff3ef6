package nodeimage

import (
	"strings"
	"testing"
)

func TestKeyChangesWithEveryInput(t *testing.T) {
	base := DefaultRecipe()
	mutations := map[string]func(*Recipe){
		"kubernetes version": func(r *Recipe) { r.KubernetesVersion = "v1.33.12" },
		"etcd version":       func(r *Recipe) { r.EtcdVersion = "v3.5.23" },
		"etcd image tag":     func(r *Recipe) { r.EtcdImageTag = "3.5.23-0" },
		"coredns":            func(r *Recipe) { r.CoreDNSVersion = "v1.11.3" },
		"crictl":             func(r *Recipe) { r.CrictlVersion = "v1.37.0" },
		"pause tag":          func(r *Recipe) { r.PauseTag = "3.9" },
		"kind":               func(r *Recipe) { r.KindVersion = "v0.32.0" },
		"suite":              func(r *Recipe) { r.Suite = "trixie" },
		"packages":           func(r *Recipe) { r.Packages = append(append([]string{}, r.Packages...), "vim") },
		"generated files":    func(r *Recipe) { r.Files = "0000" },
		"revision":           func(r *Recipe) { r.Revision++ },
	}
	seen := map[string]string{base.Key(): "base"}
	for name, mutate := range mutations {
		r := DefaultRecipe()
		mutate(&r)
		k := r.Key()
		if prev, dup := seen[k]; dup {
			t.Errorf("changing %s gives the same key as %s (%s)", name, prev, k)
		}
		seen[k] = name
		if !strings.HasPrefix(r.Tag(), ImageRepo+":"+r.KubernetesVersion+"-") || !strings.HasSuffix(r.Tag(), k) {
			t.Errorf("tag %q does not carry version and key %s", r.Tag(), k)
		}
	}
	if DefaultRecipe().Key() != base.Key() {
		t.Fatal("the key is not stable for the same recipe")
	}
}

func TestRootfsKeyIgnoresKubernetesInputs(t *testing.T) {
	a, b := DefaultRecipe(), DefaultRecipe()
	b.KubernetesVersion, b.EtcdVersion = "v1.34.0", "v3.6.0"
	if a.RootfsKey() != b.RootfsKey() {
		t.Fatal("changing Kubernetes must not rebuild the root filesystem")
	}
	b.Packages = append(append([]string{}, b.Packages...), "vim")
	if a.RootfsKey() == b.RootfsKey() {
		t.Fatal("changing the package list must rebuild the root filesystem")
	}
}

func TestGeneratedFilesChangeTheDigest(t *testing.T) {
	before := filesDigest()
	old := generatedFiles["kind/manifests/default-cni.yaml"]
	generatedFiles["kind/manifests/default-cni.yaml"] = old + "# changed\n"
	defer func() { generatedFiles["kind/manifests/default-cni.yaml"] = old }()
	if filesDigest() == before {
		t.Fatal("a changed generated file must change the recipe")
	}
}

func TestPlanPinsTheImagesKubeadmWants(t *testing.T) {
	r := DefaultRecipe()
	// kubeadm config images list --kubernetes-version v1.33.13
	want := []string{
		"registry.k8s.io/kube-apiserver:v1.33.13", "registry.k8s.io/kube-controller-manager:v1.33.13",
		"registry.k8s.io/kube-scheduler:v1.33.13", "registry.k8s.io/kube-proxy:v1.33.13",
		"registry.k8s.io/coredns/coredns:v1.12.0", "registry.k8s.io/pause:3.10", "registry.k8s.io/etcd:3.5.24-0",
	}
	got := map[string]bool{}
	for _, ref := range r.ComponentImages() {
		got[ref] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("missing %s in %v", w, r.ComponentImages())
		}
	}
	if v, err := r.StagingVersion(); err != nil || v != "v0.33.13" {
		t.Errorf("staging version = %q, %v", v, err)
	}
	r.KubernetesVersion = "1.33"
	if _, err := r.StagingVersion(); err == nil {
		t.Error("want an error for a malformed version")
	}
	if !strings.Contains(generatedFiles["kind/bin/upgrade-harness-setup.sh"], "restrict_oom_score_adj = true") {
		t.Error("the node must set restrict_oom_score_adj (pod sandboxes fail without it on these hosts)")
	}
}

func TestMirrorFromSources(t *testing.T) {
	deb822 := "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
	if got := mirrorFromSources(map[string]string{"a.sources": deb822}, "bookworm"); got != "http://mirror.example/debian" {
		t.Errorf("deb822: got %q", got)
	}
	oneLine := "# comment\ndeb [arch=amd64 signed-by=/x.gpg] http://m.example/debian bookworm main\n"
	if got := mirrorFromSources(map[string]string{"s.list": oneLine}, "bookworm"); got != "http://m.example/debian" {
		t.Errorf("one-line: got %q", got)
	}
	if got := mirrorFromSources(map[string]string{"s.list": oneLine}, "trixie"); got != "" {
		t.Errorf("wrong suite: got %q", got)
	}
}

func TestParseStagingReplaces(t *testing.T) {
	gomod := "module k8s.io/kubernetes\n\nreplace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n\tk8s.io/client-go => ./staging/src/k8s.io/client-go\n\tgithub.com/x/y => github.com/x/y v1.0.0\n)\n"
	got := parseStagingReplaces(strings.NewReader(gomod))
	if strings.Join(got, ",") != "k8s.io/api,k8s.io/client-go" {
		t.Fatalf("got %v", got)
	}
}
