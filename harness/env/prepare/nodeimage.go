package prepare

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/version"
	kinddefaults "sigs.k8s.io/kind/pkg/apis/config/defaults"

	"github.com/ambient-e2e/upgrade-harness/harness/env/docker"
	"github.com/ambient-e2e/upgrade-harness/harness/env/nodeimage"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
)

// KindNodeImage is kind's own published node image for the kind version in
// go.mod, pinned by digest (kindest/node:vX@sha256:…).
const KindNodeImage = kinddefaults.Image

// NodeImageSource says where a chosen node image comes from.
type NodeImageSource string

const (
	FromEnv     NodeImageSource = "NODE_IMAGE"
	FromKind    NodeImageSource = "kind's published image"
	FromOffline NodeImageSource = "offline build"
)

// NodeImageChoice is the node image a run uses and why.
type NodeImageChoice struct {
	Image  string
	Source NodeImageSource
	// Why the published image was not used ("" when it was, or NODE_IMAGE was set).
	Why string
}

// ChooseNodeImageInput configures ChooseNodeImage.
type ChooseNodeImageInput struct {
	// KubernetesVersion asked for ("": any); kind's image is used only when it is that version.
	KubernetesVersion string
	// Force rebuilds the offline image (and so skips kind's).
	Force bool
	Log   io.Writer
	// Docker pulls and inspects; default: the docker CLI on $PATH.
	Docker *docker.Client
	// Getenv reads NODE_IMAGE (default os.Getenv).
	Getenv func(string) string
	// CgroupV2 reports the host's cgroup version: kubelet from v1.35 refuses
	// cgroup v1 (default: /sys/fs/cgroup/cgroup.controllers exists).
	CgroupV2 func() bool
	// PullTimeout bounds the pull of kind's image (default 3 min): a
	// machine without a registry fails at once, a filtered one may hang.
	PullTimeout time.Duration
	// BuildOffline builds (or finds) the offline image at a version (default nodeimage.Ensure).
	BuildOffline func(ctx context.Context, k8sVersion string, force bool, log io.Writer) (string, error)
}

// ChooseNodeImage picks the node image: $NODE_IMAGE when set; else kind's
// published image when it is (or can be pulled) in the local engine;
// else the offline image, built when missing. Each choice is printed with
// how to override it. The engine must be ready.
func ChooseNodeImage(ctx context.Context, in ChooseNodeImageInput) (NodeImageChoice, error) {
	in.defaults()
	if img := in.Getenv("NODE_IMAGE"); img != "" {
		fmt.Fprintf(in.Log, "[node-image] using NODE_IMAGE=%s\n", img)
		return NodeImageChoice{Image: img, Source: FromEnv}, nil
	}
	why := in.whyNotKind(ctx)
	if why == "" {
		fmt.Fprintf(in.Log, "[node-image] using kind's node image %s (the default of kind %s; NODE_IMAGE=… uses another)\n", KindNodeImage, kindVersion())
		return NodeImageChoice{Image: KindNodeImage, Source: FromKind}, nil
	}
	fmt.Fprintf(in.Log, "[node-image] not kind's node image %s: %s; using the offline build (NODE_IMAGE=… uses another)\n", KindNodeImage, why)
	img, err := in.BuildOffline(ctx, in.KubernetesVersion, in.Force, in.Log)
	if err != nil {
		return NodeImageChoice{}, err
	}
	return NodeImageChoice{Image: img, Source: FromOffline, Why: why}, nil
}

// whyNotKind says why kind's published image cannot be used ("" when it can),
// pulling it when it is not in the engine yet.
func (in *ChooseNodeImageInput) whyNotKind(ctx context.Context) string {
	v := kindImageVersion()
	switch {
	case in.Force:
		return "-force rebuilds the offline image"
	case in.KubernetesVersion != "" && in.KubernetesVersion != v:
		return fmt.Sprintf("Kubernetes %s was asked for and kind's image is %s", in.KubernetesVersion, v)
	case needsCgroupV2(v) && !in.CgroupV2():
		return fmt.Sprintf("its kubelet (%s) refuses this host's cgroup v1", v)
	}
	if in.Docker.Succeeds(ctx, "image", "inspect", KindNodeImage) {
		return ""
	}
	pctx, cancel := context.WithTimeout(ctx, in.PullTimeout)
	defer cancel()
	fmt.Fprintf(in.Log, "[node-image] pulling %s\n", KindNodeImage)
	start := time.Now()
	if _, err := in.Docker.Run(pctx, "pull", KindNodeImage); err != nil {
		if pctx.Err() != nil && ctx.Err() == nil {
			return fmt.Sprintf("its pull did not finish within %s", in.PullTimeout)
		}
		return "it cannot be pulled (" + firstLine(err.Error()) + ")"
	}
	fmt.Fprintf(in.Log, "[node-image] pulled %s in %s\n", KindNodeImage, time.Since(start).Round(time.Second))
	return ""
}

func (in *ChooseNodeImageInput) defaults() {
	if in.Log == nil {
		in.Log = io.Discard
	}
	if in.Docker == nil {
		in.Docker = docker.Default
	}
	if in.Getenv == nil {
		in.Getenv = os.Getenv
	}
	if in.CgroupV2 == nil {
		in.CgroupV2 = func() bool {
			_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
			return err == nil
		}
	}
	if in.PullTimeout <= 0 {
		in.PullTimeout = 3 * time.Minute
	}
	if in.BuildOffline == nil {
		in.BuildOffline = buildOffline
	}
}

// buildOffline returns the offline image of the default recipe at k8sVersion
// ("" for the recipe's own), building it when missing.
func buildOffline(ctx context.Context, k8sVersion string, force bool, log io.Writer) (string, error) {
	r := nodeimage.DefaultRecipe()
	if k8sVersion != "" {
		r.KubernetesVersion = k8sVersion
	}
	if _, err := r.StagingVersion(); err != nil {
		return "", fault.BadInputErr(err)
	}
	res, err := nodeimage.Ensure(ctx, nodeimage.BuildInput{Recipe: r, Mirror: os.Getenv("DEBIAN_MIRROR"), Log: log, Force: force})
	if err != nil {
		return "", fault.InfraErr(err)
	}
	return res.Image, nil
}

// kindImageVersion is the Kubernetes version of kind's image (v1.37.0).
func kindImageVersion() string {
	ref, _, _ := strings.Cut(KindNodeImage, "@")
	_, tag, _ := strings.Cut(ref, ":")
	return tag
}

// kindVersion is the kind module this binary was built with.
func kindVersion() string {
	if v := moduleVersion("sigs.k8s.io/kind"); v != "" {
		return v
	}
	return "(version unknown)"
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// moduleVersion reads a dependency's version from the build info.
func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			return d.Version
		}
	}
	return ""
}

// needsCgroupV2: kubelet from v1.35 refuses cgroup v1 by default.
func needsCgroupV2(k8s string) bool {
	v, err := version.ParseSemantic(k8s)
	return err == nil && v.AtLeast(version.MajorMinor(1, 35))
}
