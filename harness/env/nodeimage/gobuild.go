package nodeimage

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
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
	outs, err := m.buildAll(ctx, w, []command{{bin, pkg}}, version, ldflags)
	if err != nil {
		return "", err
	}
	return outs[bin], nil
}

// command is one binary of a module: out/<bin> built from pkg.
type command struct{ bin, pkg string }

// buildAll compiles into out/ every command whose binary is missing or was
// built from something else, in one go build: the go command then schedules
// their packages and links on every core at once instead of one binary at a
// time (separate builds share the build cache but link one after the other).
func (m *goModule) buildAll(ctx context.Context, w io.Writer, cmds []command, version, ldflags string) (map[string]string, error) {
	outs := map[string]string{}
	var todo []command
	for _, c := range cmds {
		out := filepath.Join(m.dir, "out", c.bin)
		outs[c.bin] = out
		if got, err := os.ReadFile(out + ".stamp"); err == nil && string(got) == c.stamp(version, ldflags) {
			if err := images.CheckExecutable(out); err == nil {
				fmt.Fprintf(w, "cached %s\n", out)
				continue
			} else if !os.IsNotExist(err) {
				fmt.Fprintf(w, "%v: building it again\n", err)
			}
		}
		todo = append(todo, c)
	}
	if len(todo) == 0 {
		return outs, nil
	}
	// A stamp says "out is whole and built from it": it goes before the build
	// and comes back only after it, so an interrupted build never leaves a
	// stamp over a half-written binary. Every requirement is resolved before
	// anything is built, so all binaries share one module graph.
	for _, c := range todo {
		if err := os.Remove(outs[c.bin] + ".stamp"); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		if err := m.get(ctx, w, c.pkg, version); err != nil {
			return nil, err
		}
	}
	together, alone := groupBuilds(todo)
	for _, c := range alone {
		if err := goBuild(ctx, w, m.dir, m.env, []string{outs[c.bin]}, "-trimpath", "-ldflags", ldflags, "-o", outs[c.bin], c.pkg); err != nil {
			return nil, err
		}
	}
	if len(together) > 0 {
		args := []string{"-trimpath", "-ldflags", ldflags, "-o", filepath.Join(m.dir, "out") + string(filepath.Separator)}
		var built []string
		for _, c := range together {
			args = append(args, c.pkg)
			built = append(built, outs[c.bin])
		}
		if err := goBuild(ctx, w, m.dir, m.env, built, args...); err != nil {
			return nil, err
		}
	}
	for _, c := range todo {
		if err := os.WriteFile(outs[c.bin]+".stamp", []byte(c.stamp(version, ldflags)), 0o644); err != nil {
			return nil, err
		}
	}
	return outs, nil
}

// groupBuilds splits commands into those one go build -o dir/ can make
// together (it names each binary after its package's last element) and those
// built alone into their own file (etcd is go.etcd.io/etcd/server/v3). A
// single command is always built alone.
func groupBuilds(cmds []command) (together, alone []command) {
	if len(cmds) < 2 {
		return nil, cmds
	}
	for _, c := range cmds {
		if path.Base(c.pkg) == c.bin {
			together = append(together, c)
		} else {
			alone = append(alone, c)
		}
	}
	if len(together) == 1 {
		return nil, cmds
	}
	return together, alone
}

func (c command) stamp(version, ldflags string) string { return c.pkg + "@" + version + " " + ldflags }

// goBuild runs go build with args (which write outs) and makes sure every out
// is a whole executable: go build keeps an existing out whose build ID is
// current, even one an interrupted earlier build left truncated, so such
// files are removed and built again.
func goBuild(ctx context.Context, w io.Writer, dir string, env []string, outs []string, args ...string) error {
	if err := run(ctx, w, dir, env, "go", append([]string{"build"}, args...)...); err != nil {
		return err
	}
	again := false
	for _, out := range outs {
		if err := images.CheckExecutable(out); err != nil {
			fmt.Fprintf(w, "%v: building it again\n", err)
			if err := os.Remove(out); err != nil {
				return err
			}
			again = true
		}
	}
	if !again {
		return nil
	}
	if err := run(ctx, w, dir, env, "go", append([]string{"build"}, args...)...); err != nil {
		return err
	}
	for _, out := range outs {
		if err := images.CheckExecutable(out); err != nil {
			return err
		}
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
	cmds := make([]command, len(kubernetesCommands))
	for i, c := range kubernetesCommands {
		cmds[i] = command{c, "k8s.io/kubernetes/cmd/" + c}
	}
	fmt.Fprintf(b.log, "[node-image]   building %s %s\n", strings.Join(kubernetesCommands, ", "), v)
	outs, err := m.buildAll(ctx, w, cmds, v, ld)
	if err != nil {
		return err
	}
	for c, out := range outs {
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
	if err := goBuild(ctx, w, root, []string{"CGO_ENABLED=0"}, []string{out}, "-trimpath", "-ldflags", "-s -w", "-o", out, "./harness/cmd/pause"); err != nil {
		return err
	}
	b.bins["pause"] = out
	return nil
}
