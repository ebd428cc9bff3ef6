// Package images builds the simulated platform images (operator, backend,
// runner, state_sync) locally, with no registry and no docker build: each
// component is compiled as a static binary per release, packed into a
// FROM-scratch-style layer written in Go (the runner's with a static busybox
// for the operator's PostStart hook), and docker-imported under
// <prefix>/<upstream image name>:<release>. Images whose content label already
// matches are reused.
package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/env/docker"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/proc"
	"github.com/ambient-e2e/upgrade-harness/harness/simulated"
)

// Command is one program invocation: go build or docker.
type Command struct {
	Name string
	Args []string
	// Dir is the working directory; empty means the current one.
	Dir string
	// Env is added to the inherited environment.
	Env   []string
	Stdin io.Reader
}

func (c Command) String() string { return c.Name + " " + strings.Join(c.Args, " ") }

// CommandRunner runs commands and returns their stdout; unit tests replace it.
type CommandRunner interface {
	Run(ctx context.Context, cmd Command) ([]byte, error)
}

// ExecRunner runs commands with os/exec. A failure's error carries the command
// line and its stderr.
type ExecRunner struct{}

// Run implements CommandRunner.
func (ExecRunner) Run(ctx context.Context, c Command) ([]byte, error) {
	cmd := proc.Command(ctx, c.Name, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stdin = c.Stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w: %s", c.Name, firstArgs(c.Args, 2), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

func firstArgs(args []string, n int) string {
	if len(args) > n {
		args = args[:n]
	}
	return strings.Join(args, " ")
}

// BuildInput says which simulated images to build and where.
type BuildInput struct {
	// Releases to build, e.g. v0.2.0 v0.2.2; each must be a simulated release.
	// Every component of Components is built for each.
	Releases []string
	// Components to build for Releases; empty means all of Components().
	Components []Component
	// Refs are image references to build from their own tag, so that any
	// catalog release can borrow any simulated component: a release v0.2.7-f1
	// naming localhost/ambient-sim/vteam_state_sync:v0.2.7 gets the v0.2.7
	// state-sync image. References outside Prefix are not simulated and are
	// skipped; one inside it must name a simulated image and release.
	Refs []string
	// Prefix of every image reference; default DefaultPrefix.
	Prefix string
	// CacheDir holds the compiled binaries; default <user cache dir>/ambient-e2e/sim-images.
	CacheDir string
	// Log receives one progress line per image; nil discards.
	Log io.Writer
	// Docker is the container engine binary; default "docker".
	Docker string
	// DockerClient makes the docker calls; default: a client of Docker, or
	// one over Commands when the caller set Commands (tests).
	DockerClient *docker.Client
	// Go is the go binary; default "go".
	Go string
	// ModuleDir is the upgrade-harness module root; default: the nearest parent
	// of the working directory whose go.mod declares the module.
	ModuleDir string
	// Simulated lists the releases and seeded faults the simulated platform
	// implements; default: simulated.Default() (fixtures/platform/simulated.yaml).
	Simulated *simulated.Platform
	// GOARCH of the binaries; default runtime.GOARCH (docker import tags the
	// image with the engine's own platform, so keep them equal).
	GOARCH string
	// Commands runs go, docker and apt-get; default ExecRunner.
	Commands CommandRunner
	// WithoutShell builds the images without /bin/sh, tagged
	// <release>NoShellSuffix: a runner image that upstream's PostStart hook
	// kills (docs/platform.md §10 item 1), to show that the harness says so.
	WithoutShell bool
	// inProcess: the real toolchain builds (Commands was left to its
	// default), so what this process built may be remembered (builtBefore).
	inProcess bool
	// CheckBinary refuses a compiled binary that is not whole (default
	// CheckExecutable): it is removed and built again once.
	CheckBinary func(path string) error
	// Busybox is a statically linked busybox for images with a shell (the
	// runner); default: the host's /bin/busybox or /usr/bin/busybox, installed
	// from Debian's busybox-static package when missing (EnsureBusybox).
	Busybox string
}

// target is one image to build: a component at a simulated release.
type target struct {
	Release   string
	Component Component
}

// Built is one image that is now present in the local engine.
type Built struct {
	Component Component
	Release   string
	Ref       string
	// ContentDigest is the sha256 over binary and layout, also stored in label ContentLabel.
	ContentDigest string
	// Reused is true when an image with this tag and digest already existed.
	Reused   bool
	Duration time.Duration
}

// referencePrefixRE accepts a registry host (with optional port) and lower-case path components.
var referencePrefixRE = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$`)

func (in BuildInput) withDefaults() (BuildInput, error) {
	sim, err := in.simulated()
	if err != nil {
		return in, err
	}
	if len(in.Releases) == 0 && len(in.Refs) == 0 {
		return in, fault.BadInputErr(fmt.Errorf("BuildInput.Releases and BuildInput.Refs are empty; valid releases: %s", strings.Join(sim.Versions(), ", ")))
	}
	return in.defaults()
}

// simulated is in.Simulated, or the module's list.
func (in BuildInput) simulated() (*simulated.Platform, error) {
	if in.Simulated != nil {
		return in.Simulated, nil
	}
	sim, err := simulated.Default()
	if err != nil {
		return nil, fault.BadInputErr(fmt.Errorf("BuildInput.Simulated: %w", err))
	}
	return sim, nil
}

// defaults fills everything but the image selection.
func (in BuildInput) defaults() (BuildInput, error) {
	sim, err := in.simulated()
	if err != nil {
		return in, err
	}
	in.Simulated = sim
	for _, r := range in.Releases {
		if err := sim.Lookup(r); err != nil {
			return in, fault.BadInputErr(fmt.Errorf("BuildInput.Releases: %w", err))
		}
	}
	if len(in.Components) == 0 {
		in.Components = Components()
	}
	for _, c := range in.Components {
		if _, err := specFor(c); err != nil {
			return in, fault.BadInputErr(fmt.Errorf("BuildInput.Components: %w", err))
		}
	}
	if in.Prefix == "" {
		in.Prefix = DefaultPrefix
	}
	in.Prefix = strings.TrimRight(in.Prefix, "/")
	if !referencePrefixRE.MatchString(in.Prefix) {
		return in, fault.BadInputErr(fmt.Errorf("BuildInput.Prefix %q is not a valid image repository prefix; want lower-case host[:port]/path, e.g. %s", in.Prefix, DefaultPrefix))
	}
	for i, ref := range in.Refs {
		if _, _, err := parseSimulatedRef(sim, in.Prefix, ref); err != nil && !errors.Is(err, ErrNotSimulated) {
			return in, fault.BadInputErr(fmt.Errorf("BuildInput.Refs[%d]: %w", i, err))
		}
	}
	if in.Log == nil {
		in.Log = io.Discard
	}
	if in.Docker == "" {
		in.Docker = "docker"
	}
	if in.Go == "" {
		in.Go = "go"
	}
	if in.GOARCH == "" {
		in.GOARCH = runtime.GOARCH
	}
	if in.DockerClient == nil {
		if in.Commands != nil {
			in.DockerClient = docker.New(docker.WithBinary(in.Docker), docker.WithExec(commandsExec(in.Commands, in.Docker)))
		} else {
			in.DockerClient = docker.New(docker.WithBinary(in.Docker))
		}
	}
	if in.Commands == nil {
		in.Commands = ExecRunner{}
		in.inProcess = true
	}
	if in.CheckBinary == nil {
		in.CheckBinary = CheckExecutable
	}
	if in.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		in.CacheDir = filepath.Join(base, "ambient-e2e", "sim-images")
	}
	if in.ModuleDir == "" {
		dir, err := ModuleDir()
		if err != nil {
			return in, fault.BadInputErr(err)
		}
		in.ModuleDir = dir
	}
	return in, nil
}

// ModuleDir is the module root (simulated.ModuleDir): the harness builds its
// tools and simulated images from its own source.
func ModuleDir() (string, error) {
	dir, err := simulated.ModuleDir()
	if err != nil {
		return "", fmt.Errorf("%w; set BuildInput.ModuleDir to the repo root", err)
	}
	return dir, nil
}

// BuildSimulated compiles and imports one image per release and component, in
// release order, and returns what is now present. It stops at the first failure.
func BuildSimulated(ctx context.Context, in BuildInput) ([]Built, error) {
	in, err := in.withDefaults()
	if err != nil {
		return nil, err
	}
	targets := in.targets()
	var shell []byte
	for _, t := range targets {
		if spec, _ := specFor(t.Component); spec.Shell && !in.WithoutShell {
			if shell, err = readBusybox(ctx, &in); err != nil {
				return nil, err
			}
			break
		}
	}
	var out []Built
	for _, t := range targets {
		b, err := buildOne(ctx, in, t.Release, t.Component, shell)
		if err != nil {
			return out, err
		}
		verb := "built"
		if b.Reused {
			verb = "reused"
		}
		fmt.Fprintf(in.Log, "image %s %s (content %s) in %s\n", b.Ref, verb, shortDigest(b.ContentDigest), b.Duration.Round(10*time.Millisecond))
		out = append(out, b)
	}
	return out, nil
}

// targets is every image to build, once each: Releases × Components, then the
// simulated Refs, in release order and Components() order within a release.
func (in BuildInput) targets() []target {
	seen := map[target]bool{}
	var out []target
	add := func(t target) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, r := range in.Releases {
		for _, c := range in.Components {
			add(target{Release: r, Component: c})
		}
	}
	for _, ref := range in.Refs {
		if c, r, err := parseSimulatedRef(in.Simulated, in.Prefix, ref); err == nil {
			add(target{Release: r, Component: c})
		}
	}
	order := map[string]int{}
	for i, v := range in.Simulated.Versions() {
		order[v] = i
	}
	comp := map[Component]int{}
	for i, c := range Components() {
		comp[c] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Release != out[j].Release {
			// A fault tag (v0.2.7-fault-x) sorts with its release, after it.
			bi, bj := in.Simulated.Base(out[i].Release), in.Simulated.Base(out[j].Release)
			if bi != bj {
				return order[bi] < order[bj]
			}
			return out[i].Release < out[j].Release
		}
		return comp[out[i].Component] < comp[out[j].Component]
	})
	return out
}

// NoShellSuffix ends the tag of an image built with BuildInput.WithoutShell.
const NoShellSuffix = "-noshell"

// ErrNotSimulated marks a reference outside the simulated images' prefix.
var ErrNotSimulated = errors.New("not a simulated image")

// ParseSimulatedRef reads the component and release of a simulated image
// reference <prefix>/<image name>:<release>. A reference outside prefix gives
// ErrNotSimulated; one inside it with an unknown image name, a tag that is not
// a simulated release, or a digest is an error naming what is valid.
func ParseSimulatedRef(prefix, ref string) (Component, string, error) {
	sim, err := simulated.Default()
	if err != nil {
		return "", "", err
	}
	return parseSimulatedRef(sim, prefix, ref)
}

func parseSimulatedRef(sim *simulated.Platform, prefix, ref string) (Component, string, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	prefix = strings.TrimRight(prefix, "/")
	rest, ok := strings.CutPrefix(ref, prefix+"/")
	if !ok {
		return "", "", fmt.Errorf("image %q is outside %s: %w", ref, prefix, ErrNotSimulated)
	}
	if strings.Contains(rest, "@") {
		return "", "", fmt.Errorf("image %q: simulated images are built by tag, not pinned by digest; use %s/<image>:<release>", ref, prefix)
	}
	name, tag, hasTag := strings.Cut(rest, ":")
	var names []string
	for _, s := range imageSpecs {
		names = append(names, s.ImageName)
		if s.ImageName == name {
			if !hasTag {
				return "", "", fmt.Errorf("image %q has no tag; a simulated image is tagged with its release (%s)", ref, strings.Join(sim.Versions(), ", "))
			}
			if err := sim.Lookup(tag); err != nil {
				return "", "", fmt.Errorf("image %q: tag %q is not a simulated release; valid tags: %s, each also with a seeded fault as <release>%s<fault> (%v)",
					ref, tag, strings.Join(sim.Versions(), ", "), sim.FaultTagInfix, err)
			}
			return s.Component, tag, nil
		}
	}
	return "", "", fmt.Errorf("image %q: %q is not a simulated image under %s; valid images: %s", ref, name, prefix, strings.Join(names, ", "))
}

func buildOne(ctx context.Context, in BuildInput, rel string, c Component, shell []byte) (Built, error) {
	spec, _ := specFor(c)
	ref, _ := ImageRef(in.Prefix, c, rel)
	return buildSpec(ctx, in, spec, rel, ref, shell)
}

// buildSpec compiles spec's package with rel baked in and imports it as ref,
// unless an image with the same content digest is already there.
func buildSpec(ctx context.Context, in BuildInput, spec imageSpec, rel, ref string, shell []byte) (Built, error) {
	start := time.Now()
	c := spec.Component
	if in.WithoutShell {
		spec.Shell = false
		ref += NoShellSuffix
	}
	key := builtKey{module: in.ModuleDir, cache: in.CacheDir, goarch: in.GOARCH, ref: ref, rel: rel, component: c}
	if digest, ok := builtBefore.Load(key); ok && in.inProcess {
		if present, err := imageContentLabel(ctx, in, ref); err == nil && present == digest {
			return Built{Component: c, Release: rel, Ref: ref, ContentDigest: present, Reused: true, Duration: time.Since(start)}, nil
		}
	}
	binary, err := compile(ctx, in, spec, rel)
	if err != nil {
		return Built{}, err
	}
	if !spec.Shell {
		shell = nil
	}
	digest := spec.contentDigest(rel, binary, shell)
	b := Built{Component: c, Release: rel, Ref: ref, ContentDigest: digest}

	present, err := imageContentLabel(ctx, in, ref)
	if err == nil && present == digest {
		b.Reused = true
		b.Duration = time.Since(start)
		in.remember(key, digest)
		return b, nil
	}
	// Any inspect failure (absent image, or an engine problem that import will report) means import.

	var layer bytes.Buffer
	if err := spec.writeLayer(&layer, binary, shell); err != nil {
		return Built{}, fault.InfraErr(fmt.Errorf("image %s: %w", ref, err))
	}
	if _, err := in.DockerClient.Do(ctx, importCall(spec, rel, digest, ref, &layer)); err != nil {
		return Built{}, fault.InfraErr(fmt.Errorf("import image %s: %w", ref, err))
	}
	b.Duration = time.Since(start)
	in.remember(key, digest)
	return b, nil
}

// builtBefore holds, for this process, the content digest of every image it
// built or found up to date, so that its next run (the e2e suite runs dozens
// in one process, each a few seconds of go build and hashing) only checks
// that the engine still has the image with that digest: the sources of a
// running process do not change under it, the engine's images may.
var builtBefore sync.Map // builtKey → content digest

// builtKey is one image of one release, as built from one checkout.
type builtKey struct {
	module, cache, goarch, ref, rel string
	component                       Component
}

func (in BuildInput) remember(key builtKey, digest string) {
	if in.inProcess {
		builtBefore.Store(key, digest)
	}
}

// binaryPath is where a component's binary for a release is cached.
func binaryPath(cacheDir string, c Component, rel, goarch string) string {
	return filepath.Join(cacheDir, "bin", rel, "linux_"+goarch, string(c))
}

// buildCommand is the one go build per component and release, with the release baked in.
func buildCommand(in BuildInput, spec imageSpec, rel, out string) Command {
	ldflags := fmt.Sprintf("-s -w -X %s/%s=%s", modulePath, in.Simulated.BakedVariable, rel)
	return Command{
		Name: in.Go,
		Args: []string{"build", "-trimpath", "-ldflags", ldflags, "-o", out, modulePath + "/" + spec.Package},
		Dir:  in.ModuleDir,
		Env:  []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + in.GOARCH},
	}
}

func compile(ctx context.Context, in BuildInput, spec imageSpec, rel string) ([]byte, error) {
	out := binaryPath(in.CacheDir, spec.Component, rel, in.GOARCH)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fault.InfraErr(fmt.Errorf("BuildInput.CacheDir %q: %w", in.CacheDir, err))
	}
	if _, err := in.Commands.Run(ctx, buildCommand(in, spec, rel, out)); err != nil {
		return nil, fault.InfraErr(fmt.Errorf("compile %s for %s: %w", spec.Package, rel, err))
	}
	if err := in.CheckBinary(out); err != nil {
		// Left truncated by an interrupted build, which go build took as up to date.
		fmt.Fprintf(in.Log, "image: %v: building it again\n", err)
		if err := os.Remove(out); err != nil {
			return nil, fault.InfraErr(err)
		}
		if _, err := in.Commands.Run(ctx, buildCommand(in, spec, rel, out)); err != nil {
			return nil, fault.InfraErr(fmt.Errorf("compile %s for %s: %w", spec.Package, rel, err))
		}
		if err := in.CheckBinary(out); err != nil {
			return nil, fault.InfraErr(err)
		}
	}
	binary, err := os.ReadFile(out)
	if err != nil {
		return nil, fault.InfraErr(fmt.Errorf("read compiled %s for %s: %w", spec.Package, rel, err))
	}
	if len(binary) == 0 {
		return nil, fault.InfraErr(fmt.Errorf("compiled %s for %s is empty (%s)", spec.Package, rel, out))
	}
	return binary, nil
}

// inspectArgs read the content label of an existing image.
func inspectArgs(ref string) []string {
	return []string{"image", "inspect", "-f", fmt.Sprintf(`{{ index .Config.Labels %q }}`, ContentLabel), ref}
}

// commandsExec runs docker calls through a CommandRunner, so unit tests
// answer them from the same fake as go build.
func commandsExec(r CommandRunner, binary string) docker.Exec {
	return func(ctx context.Context, c docker.Call) ([]byte, []byte, error) {
		out, err := r.Run(ctx, Command{Name: binary, Args: c.Args, Stdin: c.Stdin})
		return out, nil, err
	}
}

// imageContentLabel returns the label value of ref; an error means the image is
// absent or the engine could not say.
func imageContentLabel(ctx context.Context, in BuildInput, ref string) (string, error) {
	label, err := in.DockerClient.Run(ctx, inspectArgs(ref)...)
	if err != nil {
		return "", err
	}
	if label == "" || label == "<no value>" {
		return "", errors.New("no content label")
	}
	return label, nil
}

// importCall is docker import of the layer from stdin with the image config as --change instructions.
func importCall(spec imageSpec, rel, digest, ref string, layer io.Reader) docker.Call {
	args := []string{"import"}
	for _, c := range spec.importChanges(rel, digest) {
		args = append(args, "--change", c)
	}
	args = append(args, "-", ref)
	return docker.Call{Args: args, Stdin: layer}
}

// shortDigest is "sha256:" plus the first 8 hex characters, for progress lines.
func shortDigest(d string) string {
	if h, ok := strings.CutPrefix(d, "sha256:"); ok && len(h) >= 8 {
		return "sha256:" + h[:8]
	}
	return d
}

// ProbeTag is the tag of the runner probe image; the content label, not the
// tag, decides whether it is rebuilt.
const ProbeTag = "v1"

// probeSpec is the harness's black-box runner probe (harness/cmd/runner-probe):
// a static binary run as uid 1001, like the simulated images, so it needs no
// registry either.
var probeSpec = imageSpec{Component: ComponentProbe, Package: "harness/cmd/runner-probe", ImageName: "uh_runner_probe",
	Installs: []string{"runner-probe"}, Entrypoint: "/usr/local/bin/runner-probe", User: nonRootUID}

// ProbeImageRef is the probe image's reference under prefix (DefaultPrefix when empty).
func ProbeImageRef(prefix string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return strings.TrimRight(prefix, "/") + "/" + probeSpec.ImageName + ":" + ProbeTag
}

// BuildProbe builds (or reuses) the runner probe image; in's Releases, Refs,
// Components and WithoutShell are ignored.
func BuildProbe(ctx context.Context, in BuildInput) (Built, error) {
	return buildTool(ctx, in, probeSpec, ProbeTag, ProbeImageRef)
}

// WireTag is the tag of the wire witness image.
const WireTag = "v1"

// wireSpec is the harness's wire witness (harness/cmd/uh-wire): a static
// binary run as root in a privileged hostNetwork pod (an AF_PACKET socket
// needs CAP_NET_RAW), so nothing of it comes from the node image.
var wireSpec = imageSpec{Component: ComponentWire, Package: "harness/cmd/uh-wire", ImageName: "uh_wire_witness",
	Installs: []string{"uh-wire"}, Entrypoint: "/usr/local/bin/uh-wire", User: 0}

// WireImageRef is the wire witness image's reference under prefix (DefaultPrefix when empty).
func WireImageRef(prefix string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return strings.TrimRight(prefix, "/") + "/" + wireSpec.ImageName + ":" + WireTag
}

// BuildWire builds (or reuses) the wire witness image, as BuildProbe does.
func BuildWire(ctx context.Context, in BuildInput) (Built, error) {
	return buildTool(ctx, in, wireSpec, WireTag, WireImageRef)
}

// buildTool builds one of the harness's own images (not a release's).
func buildTool(ctx context.Context, in BuildInput, spec imageSpec, tag string, refOf func(prefix string) string) (Built, error) {
	in.Releases, in.Refs, in.Components, in.WithoutShell = nil, nil, nil, false
	in, err := in.defaults()
	if err != nil {
		return Built{}, err
	}
	b, err := buildSpec(ctx, in, spec, tag, refOf(in.Prefix), nil)
	if err != nil {
		return b, err
	}
	verb := "built"
	if b.Reused {
		verb = "reused"
	}
	fmt.Fprintf(in.Log, "image %s %s (content %s) in %s\n", b.Ref, verb, shortDigest(b.ContentDigest), b.Duration.Round(10*time.Millisecond))
	return b, nil
}
