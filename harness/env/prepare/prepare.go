// Package prepare brings a machine to the point where cells can run: a
// container engine that runs kind nodes and a node image. The CLI and the e2e
// suite share it, so `make test` and `make e2e` set up the same way.
package prepare

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/env/engine"
	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
	"github.com/ambient-e2e/upgrade-harness/harness/env/nodeimage"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/proc"
)

// StateDir holds dockerd's log and pid file when the harness starts dockerd.
const StateDir = "/var/lib/upgrade-harness"

// Engine builds the engine's helper binaries (probe, runtime wrapper) and makes
// sure a Docker engine that runs privileged containers is up.
func Engine(ctx context.Context, log io.Writer) (engine.Result, error) {
	dir := filepath.Join(nodeimage.DefaultCacheDir(), "bin")
	if err := BuildTools(ctx, dir, "./harness/cmd/pause", "./harness/cmd/runc-capfix"); err != nil {
		return engine.Result{}, fault.InfraErr(err)
	}
	res, err := engine.Ensure(ctx, engine.EnsureInput{
		Runner:       engine.ExecRunner{},
		Host:         engine.DetectHost(),
		Log:          log,
		StateDir:     StateDir,
		ProbeBinary:  filepath.Join(dir, "pause"),
		CapFixBinary: filepath.Join(dir, "runc-capfix"),
	})
	if err != nil {
		return res, fault.InfraErr(err)
	}
	fmt.Fprintf(log, "engine: docker %s ready (installed=%v started=%v capfix=%v)\n", res.ServerVersion, res.Installed, res.Started, res.CapFix)
	return res, nil
}

// BuildTools builds packages of this module as static binaries into dir.
// Each call builds into a directory of its own and renames the finished
// binaries into dir: two harness processes preparing at once (two `make e2e`
// in one checkout) would otherwise write the same outputs together, and go
// build fails on the other's half-written file.
func BuildTools(ctx context.Context, dir string, pkgs ...string) error {
	root, err := images.ModuleDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	args := append([]string{"build", "-trimpath", "-o", tmp + "/"}, pkgs...)
	cmd := proc.Command(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v: %s", strings.Join(pkgs, " "), err, out)
	}
	for _, p := range pkgs {
		name := filepath.Base(p)
		if err := images.CheckExecutable(filepath.Join(tmp, name)); err != nil {
			return fmt.Errorf("go build %s: %w", p, err)
		}
		// A rename replaces the old file whole, even one a running process executes.
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// NodeImage returns the node image a run uses (see ChooseNodeImage): $NODE_IMAGE,
// else kind's published image where it can be pulled, else the offline image
// of the default recipe at k8sVersion ("" for any), building it when missing.
// The engine must be ready.
func NodeImage(ctx context.Context, log io.Writer, k8sVersion string, force bool) (string, error) {
	c, err := ChooseNodeImage(ctx, ChooseNodeImageInput{KubernetesVersion: k8sVersion, Force: force, Log: log})
	return c.Image, err
}
