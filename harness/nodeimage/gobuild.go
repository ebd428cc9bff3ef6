package nodeimage

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/images"
	"github.com/ambient-e2e/upgrade-harness/harness/proc"
)

var kubernetesCommands = []string{"kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"}

// BuiltKubectl is a kubectl an earlier node image build compiled into the
// cache (the newest Kubernetes version's), for machines without kubectl on PATH.
func BuiltKubectl() (string, bool) {
	matches, _ := filepath.Glob(filepath.Join(DefaultCacheDir(), "gobuild", "kubernetes-*", "out", "kubectl"))
	if len(matches) == 0 {
		return "", false
	}
	return matches[len(matches)-1], true
}

// goModule is a throwaway module (outside the project's go.mod) used to build
// one upstream command at a pinned version from the Go module proxy.
type goModule struct {
	dir string
	env []string
}

func (b *builder) module(name, gomod string) (*goModule, error) {
	dir := filepath.Join(b.cache, "gobuild", name)
	if err := os.MkdirAll(filepath.Join(dir, "out"), 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "go.mod")
	if old, err := os.ReadFile(path); err != nil || !strings.HasPrefix(string(old), gomod) {
		if err := os.WriteFile(path, []byte(gomod), 0o644); err != nil {
			return nil, err
		}
	}
	return &goModule{dir: dir, env: []string{"CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off"}}, nil
}

// build compiles pkg into out/<bin> unless a binary for the same stamp exists.
func (m *goModule) build(ctx context.Context, w io.Writer, bin, pkg, version, ldflags string) (string, error) {
	out := filepath.Join(m.dir, "out", bin)
	stamp := out + ".stamp"
	want := pkg + "@" + version + " " + ldflags
	if got, err := os.ReadFile(stamp); err == nil && string(got) == want {
		if err := images.CheckExecutable(out); err == nil {
			fmt.Fprintf(w, "cached %s\n", out)
			return out, nil
		} else if !os.IsNotExist(err) {
			fmt.Fprintf(w, "%v: building it again\n", err)
		}
	}
	// The stamp says "out is whole and built from want": it goes before the
	// build and comes back only after it, so an interrupted build never
	// leaves a stamp over a half-written binary.
	if err := os.Remove(stamp); err != nil && !os.IsNotExist(err) {
		return "", err
	}
	if err := m.get(ctx, w, pkg, version); err != nil {
		return "", err
	}
	if err := goBuild(ctx, w, m.dir, m.env, out, "-trimpath", "-ldflags", ldflags, "-o", out, pkg); err != nil {
		return "", err
	}
	return out, os.WriteFile(stamp, []byte(want), 0o644)
}

// goBuild runs go build with args (which write out) and makes sure out is a
// whole executable: go build keeps an existing out whose build ID is current,
// even one an interrupted earlier build left truncated, so such a file is
// removed and built again.
func goBuild(ctx context.Context, w io.Writer, dir string, env []string, out string, args ...string) error {
	if err := run(ctx, w, dir, env, "go", append([]string{"build"}, args...)...); err != nil {
		return err
	}
	if err := images.CheckExecutable(out); err != nil {
		fmt.Fprintf(w, "%v: building it again\n", err)
		if err := os.Remove(out); err != nil {
			return err
		}
		if err := run(ctx, w, dir, env, "go", append([]string{"build"}, args...)...); err != nil {
			return err
		}
		return images.CheckExecutable(out)
	}
	return nil
}

// get adds pkg@version to the module's requirements.
func (m *goModule) get(ctx context.Context, w io.Writer, pkg, version string) error {
	return run(ctx, w, m.dir, m.env, "go", "get", pkg+"@"+version)
}

func (b *builder) kubernetes(ctx context.Context, w io.Writer) error {
	v := b.r.KubernetesVersion
	staging, err := b.r.StagingVersion()
	if err != nil {
		return err
	}
	replaces, err := stagingReplaces(ctx, v)
	if err != nil {
		return err
	}
	var gomod strings.Builder
	fmt.Fprintf(&gomod, "module upgrade-harness.local/build/kubernetes\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes %s\n\n", v)
	for _, r := range replaces {
		fmt.Fprintf(&gomod, "replace %s => %s %s\n", r, r, staging)
	}
	m, err := b.module("kubernetes-"+v, gomod.String())
	if err != nil {
		return err
	}
	minor := strings.Split(strings.TrimPrefix(v, "v"), ".")[1]
	// kubeadm refuses an empty version: stamp the real one.
	ld := fmt.Sprintf("-s -w -X k8s.io/component-base/version.gitVersion=%s -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=%s -X k8s.io/client-go/pkg/version.gitVersion=%s", v, minor, v)
	// Resolve every command's requirements before building any, so all binaries
	// share one module graph (and the Go build cache).
	for _, c := range kubernetesCommands {
		if err := m.get(ctx, w, "k8s.io/kubernetes/cmd/"+c, v); err != nil {
			return err
		}
	}
	for _, c := range kubernetesCommands {
		fmt.Fprintf(b.log, "[node-image]   building %s %s\n", c, v)
		out, err := m.build(ctx, w, c, "k8s.io/kubernetes/cmd/"+c, v, ld)
		if err != nil {
			return err
		}
		b.bins[c] = out
	}
	return nil
}

// stagingReplaces lists the k8s.io/X modules that kubernetes' own go.mod
// replaces with ./staging/src/k8s.io/X; the throwaway module pins them instead.
func stagingReplaces(ctx context.Context, version string) ([]string, error) {
	out, err := proc.Command(ctx, "go", "mod", "download", "-json", "k8s.io/kubernetes@"+version).Output()
	if err != nil {
		return nil, fmt.Errorf("go mod download k8s.io/kubernetes@%s: %w", version, err)
	}
	var m struct{ GoMod string }
	if err := json.Unmarshal(out, &m); err != nil || m.GoMod == "" {
		return nil, fmt.Errorf("go mod download k8s.io/kubernetes@%s: no go.mod", version)
	}
	f, err := os.Open(m.GoMod)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseStagingReplaces(f), nil
}

func parseStagingReplaces(r io.Reader) []string {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "replace "))
		if len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "./staging/") {
			out = append(out, f[0])
		}
	}
	return out
}

func (b *builder) simpleModule(ctx context.Context, w io.Writer, name, module, version, pkg, bin string) error {
	gomod := fmt.Sprintf("module upgrade-harness.local/build/%s\n\ngo 1.24.0\n\nrequire %s %s\n", name, module, version)
	m, err := b.module(name+"-"+version, gomod)
	if err != nil {
		return err
	}
	out, err := m.build(ctx, w, bin, pkg, version, "-s -w")
	if err != nil {
		return err
	}
	b.bins[bin] = out
	return nil
}

func (b *builder) etcd(ctx context.Context, w io.Writer) error {
	return b.simpleModule(ctx, w, "etcd", "go.etcd.io/etcd/server/v3", b.r.EtcdVersion, "go.etcd.io/etcd/server/v3", "etcd")
}

func (b *builder) coredns(ctx context.Context, w io.Writer) error {
	return b.simpleModule(ctx, w, "coredns", "github.com/coredns/coredns", b.r.CoreDNSVersion, "github.com/coredns/coredns", "coredns")
}

func (b *builder) crictl(ctx context.Context, w io.Writer) error {
	return b.simpleModule(ctx, w, "crictl", "sigs.k8s.io/cri-tools", b.r.CrictlVersion, "sigs.k8s.io/cri-tools/cmd/crictl", "crictl")
}

// pause is the project's own tiny sandbox program (harness/cmd/pause).
func (b *builder) pause(ctx context.Context, w io.Writer) error {
	out := filepath.Join(b.cache, "gobuild", "pause", "pause")
	root, err := images.ModuleDir()
	if err != nil {
		return err
	}
	if err := goBuild(ctx, w, root, []string{"CGO_ENABLED=0"}, out, "-trimpath", "-ldflags", "-s -w", "-o", out, "./harness/cmd/pause"); err != nil {
		return err
	}
	b.bins["pause"] = out
	return nil
}
