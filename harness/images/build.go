// Package images builds the simulated platform images (operator, backend,
// runner, state_sync) locally, with no registry and no docker build: each
// component is compiled as a static binary per release, packed into a
// FROM-scratch-style layer written in Go, and docker-imported under
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
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/fixtures/platform/release"
	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
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
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
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
	Releases []string
	// Components to build; empty means all of Components().
	Components []Component
	// Prefix of every image reference; default DefaultPrefix.
	Prefix string
	// CacheDir holds the compiled binaries; default <user cache dir>/ambient-e2e/sim-images.
	CacheDir string
	// Log receives one progress line per image; nil discards.
	Log io.Writer
	// Docker is the container engine binary; default "docker".
	Docker string
	// Go is the go binary; default "go".
	Go string
	// ModuleDir is the upgrade-harness module root; default: the nearest parent
	// of the working directory whose go.mod declares the module.
	ModuleDir string
	// GOARCH of the binaries; default runtime.GOARCH (docker import tags the
	// image with the engine's own platform, so keep them equal).
	GOARCH string
	// Commands runs go and docker; default ExecRunner.
	Commands CommandRunner
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
	if len(in.Releases) == 0 {
		return in, exitcode.BadInputErr(fmt.Errorf("BuildInput.Releases is empty; valid releases: %s", strings.Join(release.Versions(), ", ")))
	}
	seen := map[string]bool{}
	releases := make([]string, 0, len(in.Releases))
	for _, r := range in.Releases {
		if _, err := release.Lookup(r); err != nil {
			return in, exitcode.BadInputErr(fmt.Errorf("BuildInput.Releases: %w", err))
		}
		if !seen[r] {
			seen[r] = true
			releases = append(releases, r)
		}
	}
	in.Releases = releases
	if len(in.Components) == 0 {
		in.Components = Components()
	}
	for _, c := range in.Components {
		if _, err := specFor(c); err != nil {
			return in, exitcode.BadInputErr(fmt.Errorf("BuildInput.Components: %w", err))
		}
	}
	if in.Prefix == "" {
		in.Prefix = DefaultPrefix
	}
	in.Prefix = strings.TrimRight(in.Prefix, "/")
	if !referencePrefixRE.MatchString(in.Prefix) {
		return in, exitcode.BadInputErr(fmt.Errorf("BuildInput.Prefix %q is not a valid image repository prefix; want lower-case host[:port]/path, e.g. %s", in.Prefix, DefaultPrefix))
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
	if in.Commands == nil {
		in.Commands = ExecRunner{}
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
			return in, exitcode.BadInputErr(err)
		}
		in.ModuleDir = dir
	}
	return in, nil
}

// ModuleDir walks up from the working directory to the go.mod of this module:
// the harness builds its tools and simulated images from its own source.
func ModuleDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod declaring module %s in %s or its parents; set BuildInput.ModuleDir to the repo root", modulePath, wd)
		}
	}
}

// BuildSimulated compiles and imports one image per release and component, in
// release order, and returns what is now present. It stops at the first failure.
func BuildSimulated(ctx context.Context, in BuildInput) ([]Built, error) {
	in, err := in.withDefaults()
	if err != nil {
		return nil, err
	}
	var out []Built
	for _, rel := range in.Releases {
		for _, c := range in.Components {
			b, err := buildOne(ctx, in, rel, c)
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
	}
	return out, nil
}

func buildOne(ctx context.Context, in BuildInput, rel string, c Component) (Built, error) {
	start := time.Now()
	spec, _ := specFor(c)
	ref, _ := ImageRef(in.Prefix, c, rel)
	binary, err := compile(ctx, in, spec, rel)
	if err != nil {
		return Built{}, err
	}
	digest := spec.contentDigest(rel, binary)
	b := Built{Component: c, Release: rel, Ref: ref, ContentDigest: digest}

	present, err := imageContentLabel(ctx, in, ref)
	if err == nil && present == digest {
		b.Reused = true
		b.Duration = time.Since(start)
		return b, nil
	}
	// Any inspect failure (absent image, or an engine problem that import will report) means import.

	var layer bytes.Buffer
	if err := spec.writeLayer(&layer, binary); err != nil {
		return Built{}, exitcode.InfraErr(fmt.Errorf("image %s: %w", ref, err))
	}
	if _, err := in.Commands.Run(ctx, importCommand(in.Docker, spec, rel, digest, ref, &layer)); err != nil {
		return Built{}, exitcode.InfraErr(fmt.Errorf("import image %s: %w", ref, err))
	}
	b.Duration = time.Since(start)
	return b, nil
}

// binaryPath is where a component's binary for a release is cached.
func binaryPath(cacheDir string, c Component, rel, goarch string) string {
	return filepath.Join(cacheDir, "bin", rel, "linux_"+goarch, string(c))
}

// buildCommand is the one go build per component and release, with the release baked in.
func buildCommand(in BuildInput, spec imageSpec, rel, out string) Command {
	ldflags := fmt.Sprintf("-s -w -X %s/fixtures/platform/release.Baked=%s", modulePath, rel)
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
		return nil, exitcode.InfraErr(fmt.Errorf("BuildInput.CacheDir %q: %w", in.CacheDir, err))
	}
	if _, err := in.Commands.Run(ctx, buildCommand(in, spec, rel, out)); err != nil {
		return nil, exitcode.InfraErr(fmt.Errorf("compile %s for %s: %w", spec.Package, rel, err))
	}
	binary, err := os.ReadFile(out)
	if err != nil {
		return nil, exitcode.InfraErr(fmt.Errorf("read compiled %s for %s: %w", spec.Package, rel, err))
	}
	if len(binary) == 0 {
		return nil, exitcode.InfraErr(fmt.Errorf("compiled %s for %s is empty (%s)", spec.Package, rel, out))
	}
	return binary, nil
}

// inspectCommand reads the content label of an existing image.
func inspectCommand(docker, ref string) Command {
	return Command{Name: docker, Args: []string{"image", "inspect", "-f", fmt.Sprintf(`{{ index .Config.Labels %q }}`, ContentLabel), ref}}
}

// imageContentLabel returns the label value of ref; an error means the image is
// absent or the engine could not say.
func imageContentLabel(ctx context.Context, in BuildInput, ref string) (string, error) {
	out, err := in.Commands.Run(ctx, inspectCommand(in.Docker, ref))
	if err != nil {
		return "", err
	}
	label := strings.TrimSpace(string(out))
	if label == "" || label == "<no value>" {
		return "", errors.New("no content label")
	}
	return label, nil
}

// importCommand is docker import of the layer from stdin with the image config as --change instructions.
func importCommand(docker string, spec imageSpec, rel, digest, ref string, layer io.Reader) Command {
	args := []string{"import"}
	for _, c := range spec.importChanges(rel, digest) {
		args = append(args, "--change", c)
	}
	args = append(args, "-", ref)
	return Command{Name: docker, Args: args, Stdin: layer}
}

// shortDigest is "sha256:" plus the first 8 hex characters, for progress lines.
func shortDigest(d string) string {
	if h, ok := strings.CutPrefix(d, "sha256:"); ok && len(h) >= 8 {
		return "sha256:" + h[:8]
	}
	return d
}
