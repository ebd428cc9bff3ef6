package nodeimage

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ambient-e2e/upgrade-harness/harness/env/docker"
	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
)

// componentImages makes the images kubeadm's static pods and add-ons run.
// They are plain root filesystems assembled in Go and imported, no Dockerfile.
func (b *builder) componentImages(ctx context.Context, w io.Writer, rootfsImage string) error {
	imgs := b.r.ComponentImages()
	path := "ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	scratch := func(name, bin, dest string, entrypoint string) error {
		data, err := os.ReadFile(b.bins[bin])
		if err != nil {
			return fmt.Errorf("%s binary: %w", bin, err)
		}
		fmt.Fprintf(w, "$ docker import %s (%s)\n", imgs[name], dest)
		return images.ImportRootFS(ctx, images.ImportInput{Ref: imgs[name], Entrypoint: []string{entrypoint},
			Files: []images.File{{Path: dest, Mode: 0o755, Data: data}}})
	}
	for _, c := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if err := scratch(c, c, "usr/local/bin/"+c, "/usr/local/bin/"+c); err != nil {
			return err
		}
	}
	if err := scratch("etcd", "etcd", "usr/local/bin/etcd", "/usr/local/bin/etcd"); err != nil {
		return err
	}
	if err := scratch("coredns", "coredns", "coredns", "/coredns"); err != nil {
		return err
	}
	if err := scratch("pause", "pause", "pause", "/pause"); err != nil {
		return err
	}
	// kube-proxy programs iptables: it needs the Debian userland under it.
	return b.withContainer(ctx, w, rootfsImage, "kube-proxy", func(name string) error {
		if err := docker.Default.Logged(ctx, w, "cp", b.bins["kube-proxy"], name+":/usr/local/bin/kube-proxy"); err != nil {
			return err
		}
		return docker.Default.Logged(ctx, w, "commit", "--change", path, "--change", `ENTRYPOINT ["/usr/local/bin/kube-proxy"]`, "--change", "CMD []", name, imgs["kube-proxy"])
	})
}

// withContainer runs fn with a privileged container of image that sleeps, and
// always removes it (by name) afterwards.
func (b *builder) withContainer(ctx context.Context, w io.Writer, image, purpose string, fn func(name string) error) error {
	name := fmt.Sprintf("%s%s-%d", BuildContainerPrefix, purpose, time.Now().UnixNano())
	// Removed however fn ends; registered before the run, which an interrupt
	// may cut short after the engine created the container.
	defer docker.Default.RemoveContainer(ctx, name)
	if err := docker.Default.Logged(ctx, w, "run", "-d", "--privileged", "--name", name, "--entrypoint", "sleep", image, "infinity"); err != nil {
		return err
	}
	return fn(name)
}

// BuildContainerPrefix starts the name of every container a build runs.
const BuildContainerPrefix = "upgrade-harness-build-"

// assemble layers kind's base files, the binaries and the preloaded images onto
// the root filesystem and commits the node image.
func (b *builder) assemble(ctx context.Context, w io.Writer, rootfsImage string) error {
	baseDir := b.in.KindBaseFiles
	if baseDir == "" {
		var err error
		if baseDir, err = KindBaseFilesDir(ctx, b.r.KindVersion); err != nil {
			return err
		}
	}
	entries, err := kindBaseEntries(baseDir)
	if err != nil {
		return fmt.Errorf("reading kind base files from %s: %w", baseDir, err)
	}
	for _, c := range []string{"kubelet", "kubeadm", "kubectl"} {
		data, err := os.ReadFile(b.bins[c])
		if err != nil {
			return err
		}
		entries = append(entries, images.File{Path: "usr/bin/" + c, Mode: 0o755, Data: data})
	}
	crictl, err := os.ReadFile(b.bins["crictl"])
	if err != nil {
		return err
	}
	entries = append(entries, images.File{Path: "usr/local/bin/crictl", Mode: 0o755, Data: crictl},
		images.File{Path: "kind/version", Mode: 0o644, Data: []byte(b.r.KubernetesVersion)})
	for name, content := range generatedFiles {
		mode := int64(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		entries = append(entries, images.File{Path: name, Mode: mode, Data: []byte(content)})
	}
	overlay, err := images.TarFiles(entries)
	if err != nil {
		return err
	}
	return b.withContainer(ctx, w, rootfsImage, "node", func(name string) error {
		fmt.Fprintf(w, "$ docker cp - %s:/ (%d bytes)\n", name, len(overlay))
		if _, err := docker.Default.Do(ctx, docker.Call{Args: []string{"cp", "-", name + ":/"}, Stdin: strings.NewReader(string(overlay)), Stdout: w}); err != nil {
			return fmt.Errorf("copying the overlay: %w", err)
		}
		if err := docker.Default.Logged(ctx, w, "exec", name, "bash", "/kind/bin/upgrade-harness-setup.sh"); err != nil {
			return err
		}
		if err := b.preload(ctx, w, name); err != nil {
			return err
		}
		return docker.Default.Logged(ctx, w, "commit",
			"--change", `ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]`,
			"--change", "CMD []",
			"--change", "ENV container=docker",
			"--change", "LABEL io.ambient-e2e.node-recipe="+b.r.Key(),
			name, b.r.Tag())
	})
}

// preload starts containerd inside the build container and imports every
// component image into its k8s.io namespace, pinned so kubelet never removes them.
func (b *builder) preload(ctx context.Context, w io.Writer, name string) error {
	if err := docker.Default.Logged(ctx, w, "exec", "-d", name, "sh", "-c", "echo $$ > /run/upgrade-harness-containerd.pid; exec containerd >/var/log/upgrade-harness-containerd.log 2>&1"); err != nil {
		return err
	}
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		return docker.Default.Succeeds(ctx, "exec", name, "ctr", "version"), nil
	}); err != nil {
		return fmt.Errorf("containerd did not start inside the build container: %w", err)
	}
	refs := b.r.ComponentImages()
	for _, c := range []string{"pause", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns"} {
		ref := refs[c]
		fmt.Fprintf(b.log, "[node-image]   preloading %s\n", ref)
		script := fmt.Sprintf("docker save %s | docker exec -i %s ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests -", shellQuote(ref), shellQuote(name))
		if err := run(ctx, w, "", nil, "bash", "-c", "set -o pipefail; "+script); err != nil {
			return err
		}
	}
	if err := docker.Default.Logged(ctx, w, "exec", name, "ctr", "--namespace=k8s.io", "images", "ls", "-q"); err != nil {
		return err
	}
	// Stop containerd by its pid so its state is consistent in the commit.
	return docker.Default.Logged(ctx, w, "exec", name, "sh", "-c",
		`p=$(cat /run/upgrade-harness-containerd.pid); kill $p; for i in $(seq 1 50); do kill -0 $p 2>/dev/null || exit 0; sleep 0.2; done; echo containerd did not stop; exit 1`)
}
