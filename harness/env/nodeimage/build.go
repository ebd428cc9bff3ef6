package nodeimage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/env/docker"
	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
	"github.com/ambient-e2e/upgrade-harness/harness/proc"
)

// BuildInput configures Build.
type BuildInput struct {
	Recipe Recipe
	// CacheDir holds debootstrap and Go build results and step logs
	// (default $UPGRADE_HARNESS_CACHE or ~/.cache/upgrade-harness).
	CacheDir string
	// Mirror is the Debian mirror; default: the one this host's apt uses.
	Mirror string
	// KindBaseFiles is kind's images/base/files directory (default: from the Go module cache).
	KindBaseFiles string
	Log           io.Writer
	// Force rebuilds even when an image with the tag exists.
	Force bool
}

// Result is the built (or reused) image.
type Result struct {
	Image  string
	Reused bool
	Took   time.Duration
}

// Ensure returns the offline node image of the recipe, building it when missing.
func Ensure(ctx context.Context, in BuildInput) (Result, error) {
	b, err := newBuilder(in)
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	tag := in.Recipe.Tag()
	if !in.Force && b.imageExists(ctx, tag) {
		fmt.Fprintf(b.log, "[node-image] reusing %s\n", tag)
		return Result{Image: tag, Reused: true, Took: time.Since(start)}, nil
	}
	fmt.Fprintf(b.log, "[node-image] building %s (cache %s); a cold build compiles Kubernetes and takes 10–20 minutes on 2 cores\n", tag, b.cache)
	if err := b.build(ctx); err != nil {
		return Result{}, err
	}
	fmt.Fprintf(b.log, "[node-image] built %s in %s\n", tag, time.Since(start).Round(time.Second))
	return Result{Image: tag, Took: time.Since(start)}, nil
}

type builder struct {
	in     BuildInput
	r      Recipe
	cache  string
	log    io.Writer
	bins   map[string]string // binary name -> path on disk
	logDir string
}

func newBuilder(in BuildInput) (*builder, error) {
	if in.Log == nil {
		in.Log = os.Stderr
	}
	cache := in.CacheDir
	if cache == "" {
		cache = DefaultCacheDir()
	}
	b := &builder{in: in, r: in.Recipe, cache: cache, log: in.Log, bins: map[string]string{}, logDir: filepath.Join(cache, "logs")}
	return b, os.MkdirAll(b.logDir, 0o755)
}

// DefaultCacheDir is $UPGRADE_HARNESS_CACHE, else ~/.cache/upgrade-harness.
func DefaultCacheDir() string {
	if d := os.Getenv("UPGRADE_HARNESS_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "upgrade-harness")
	}
	return filepath.Join(os.TempDir(), "upgrade-harness-cache")
}

// StepError names the failed step and keeps its log.
type StepError struct {
	Step string
	Log  string
	Err  error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("node image step %q failed: %v (log: %s)", e.Step, e.Err, e.Log)
}
func (e *StepError) Unwrap() error { return e.Err }

// step runs one build step with a start line, an end line with its duration,
// and a log file that is kept when it fails.
func (b *builder) step(name string, fn func(log io.Writer) error) error {
	logPath := filepath.Join(b.logDir, strings.ReplaceAll(name, " ", "-")+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(b.log, "[node-image] ▶ %s\n", name)
	start := time.Now()
	if err := fn(f); err != nil {
		fmt.Fprintf(b.log, "[node-image] ✗ %s failed after %s (log: %s)\n", name, time.Since(start).Round(100*time.Millisecond), logPath)
		return &StepError{Step: name, Log: logPath, Err: err}
	}
	fmt.Fprintf(b.log, "[node-image] ✓ %s (%s)\n", name, time.Since(start).Round(100*time.Millisecond))
	return nil
}

func (b *builder) build(ctx context.Context) error {
	rootfsImage := "upgrade-harness/node-rootfs:" + b.r.RootfsKey()
	steps := []struct {
		name string
		fn   func(io.Writer) error
	}{
		{"root filesystem", func(w io.Writer) error { return b.rootfs(ctx, w, rootfsImage) }},
		{"kubernetes binaries", func(w io.Writer) error { return b.kubernetes(ctx, w) }},
		{"etcd", func(w io.Writer) error { return b.etcd(ctx, w) }},
		{"coredns", func(w io.Writer) error { return b.coredns(ctx, w) }},
		{"crictl", func(w io.Writer) error { return b.crictl(ctx, w) }},
		{"pause", func(w io.Writer) error { return b.pause(ctx, w) }},
		{"component images", func(w io.Writer) error { return b.componentImages(ctx, w, rootfsImage) }},
		{"assemble node", func(w io.Writer) error { return b.assemble(ctx, w, rootfsImage) }},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.step(s.name, s.fn); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) imageExists(ctx context.Context, ref string) bool {
	return docker.Default.Succeeds(ctx, "image", "inspect", "--format", "{{.Id}}", ref)
}

// run runs a command with its output in the step log.
func run(ctx context.Context, w io.Writer, dir string, env []string, name string, args ...string) error {
	fmt.Fprintf(w, "$ %s %s\n", name, strings.Join(args, " "))
	cmd := proc.Command(ctx, name, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, w, w
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// --- root filesystem ---

func (b *builder) rootfs(ctx context.Context, w io.Writer, image string) error {
	if b.imageExists(ctx, image) {
		fmt.Fprintf(w, "reusing %s\n", image)
		return nil
	}
	dir := filepath.Join(b.cache, "rootfs", b.r.RootfsKey())
	stamp := dir + ".done"
	if _, err := os.Stat(stamp); err != nil {
		if _, err := exec.LookPath("debootstrap"); err != nil {
			// apt-get install needs package lists, which a fresh machine lacks.
			if err := run(ctx, w, "", nil, "apt-get", "update", "-qq"); err != nil {
				return fmt.Errorf("apt-get update (to install debootstrap): %w", err)
			}
			if err := run(ctx, w, "", []string{"DEBIAN_FRONTEND=noninteractive"}, "apt-get", "install", "-y", "-qq", "debootstrap"); err != nil {
				return fmt.Errorf("debootstrap is missing and could not be installed (apt-get install debootstrap): %w", err)
			}
		}
		mirror := b.in.Mirror
		if mirror == "" {
			mirror = hostMirror(b.r.Suite)
		}
		if mirror == "" {
			return fmt.Errorf("no Debian mirror for suite %s found in /etc/apt/sources.list{,.d}; set DEBIAN_MIRROR", b.r.Suite)
		}
		os.RemoveAll(dir)
		if err := run(ctx, w, "", nil, "debootstrap", "--variant=minbase", "--include="+strings.Join(b.r.Packages, ","), b.r.Suite, dir, mirror); err != nil {
			return err
		}
		if err := os.WriteFile(stamp, []byte(time.Now().UTC().Format(time.RFC3339)), 0o644); err != nil {
			return err
		}
	}
	// docker import takes whatever stream it is given: a tar cut short at a
	// record boundary imports as a smaller root filesystem. The import goes to
	// a tag of its own and becomes image (which later builds reuse) only once
	// the whole pipeline succeeded.
	partial := image + "-partial"
	defer docker.Default.Logged(context.WithoutCancel(ctx), w, "image", "rm", "--force", partial)
	script := fmt.Sprintf("set -o pipefail; tar -C %s -c . | docker import - %s", shellQuote(dir), shellQuote(partial))
	if err := run(ctx, w, "", nil, "bash", "-c", script); err != nil {
		return err
	}
	return docker.Default.Logged(ctx, w, "tag", partial, image)
}

func hostMirror(suite string) string {
	files := map[string]string{}
	paths, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	paths = append(paths, "/etc/apt/sources.list")
	for _, p := range paths {
		if strings.HasSuffix(p, ".list") || strings.HasSuffix(p, ".sources") {
			if raw, err := os.ReadFile(p); err == nil {
				files[p] = string(raw)
			}
		}
	}
	return mirrorFromSources(files, suite)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// kindBaseEntries reads kind's images/base/files with the modes its Dockerfile sets.
func kindBaseEntries(root string) ([]images.File, error) {
	var out []images.File
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(rel, "LICENSES") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		mode := int64(0o644)
		if strings.HasPrefix(rel, "usr/local/bin/") || strings.HasPrefix(rel, "kind/bin/") {
			mode = 0o755
		}
		out = append(out, images.File{Path: rel, Mode: mode, Data: data})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

// KindBaseFilesDir finds images/base/files of the pinned kind module.
func KindBaseFilesDir(ctx context.Context, kindVersion string) (string, error) {
	out, err := proc.Command(ctx, "go", "mod", "download", "-json", "sigs.k8s.io/kind@"+kindVersion).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download sigs.k8s.io/kind@%s: %w", kindVersion, err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("go mod download sigs.k8s.io/kind@%s: no module directory", kindVersion)
	}
	return filepath.Join(m.Dir, "images", "base", "files"), nil
}
