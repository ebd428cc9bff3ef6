// Package engine makes sure a container engine that can run kind nodes is up.
//
// Order (offline-kind.md §1): use a working `docker` as it is; otherwise, as
// root on Debian, install docker.io, start dockerd and wait for it. Then probe a
// privileged container (run and exec). Only when that probe fails with the
// missing-CAP_SYS_RESOURCE error is the runc-capfix wrapper registered. Any
// other failure stops with a message that says what is missing.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Runner runs host commands; tests replace it with canned outputs.
type Runner interface {
	Run(ctx context.Context, stdin io.Reader, name string, args ...string) (stdout, stderr string, err error)
	// Start launches a long-running daemon in its own session and returns its pid.
	Start(name string, args []string, logPath string) (pid int, err error)
}

// InfoState is what `docker info` told us.
type InfoState int

const (
	InfoReady      InfoState = iota // daemon answered
	InfoNoClient                    // docker binary missing
	InfoNoDaemon                    // client present, daemon unreachable
	InfoPermission                  // socket exists but we may not use it
	InfoOther
)

// ClassifyInfo reads the result of `docker info --format {{.ServerVersion}}`.
func ClassifyInfo(stdout, stderr string, err error) InfoState {
	if err == nil && strings.TrimSpace(stdout) != "" {
		return InfoReady
	}
	msg := stderr + " " + errString(err)
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory") && strings.Contains(msg, "exec:"):
		return InfoNoClient
	case strings.Contains(msg, "permission denied"):
		return InfoPermission
	case strings.Contains(msg, "Cannot connect to the Docker daemon"), strings.Contains(msg, "Is the docker daemon running"),
		strings.Contains(msg, "connect: no such file or directory"), strings.Contains(msg, "connection refused"):
		return InfoNoDaemon
	case err == nil:
		return InfoNoDaemon // answered nothing: treat as not running
	}
	return InfoOther
}

// ProbeState is what a privileged probe container showed.
type ProbeState int

const (
	ProbeOK          ProbeState = iota
	ProbeNeedsCapFix            // bounding set lacks CAP_SYS_RESOURCE
	ProbeFailed                 // some other failure
)

// ClassifyProbe reads the output of `docker run --privileged` or `docker exec`.
func ClassifyProbe(stdout, stderr string, err error) ProbeState {
	if err == nil {
		return ProbeOK
	}
	if strings.Contains(stderr+stdout+errString(err), "unable to apply caps") {
		return ProbeNeedsCapFix
	}
	return ProbeFailed
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Host facts that decide whether we may install anything.
type Host struct {
	IsRoot   bool
	IsDebian bool
}

// DetectHost reads the facts from this machine.
func DetectHost() Host {
	_, err := os.Stat("/etc/debian_version")
	return Host{IsRoot: os.Geteuid() == 0, IsDebian: err == nil}
}

// EnsureInput configures Ensure.
type EnsureInput struct {
	Runner Runner
	Host   Host
	Log    io.Writer
	// StateDir holds the dockerd log, pid file and the probe binary (default /var/lib/upgrade-harness).
	StateDir string
	// ProbeBinary is a static executable that accepts "-exit" (harness/cmd/pause), packed into the probe image.
	ProbeBinary string
	// CapFixBinary is the built runc-capfix wrapper, installed only when needed.
	CapFixBinary string
	// DaemonConfig is dockerd's config file (default /etc/docker/daemon.json).
	DaemonConfig string
	// Timeout bounds each wait for the daemon (default 90s).
	Timeout time.Duration
}

// Result says what Ensure found and did.
type Result struct {
	Installed     bool // docker.io was installed
	Started       bool // dockerd was started by us
	CapFix        bool // the runtime wrapper is registered
	ServerVersion string
}

const probeImage = "upgrade-harness/engine-probe:1"

// Ensure leaves a Docker engine that can run privileged containers, or says why not.
func Ensure(ctx context.Context, in EnsureInput) (Result, error) {
	in.defaults()
	var res Result
	logf := func(format string, a ...any) { fmt.Fprintf(in.Log, "engine: "+format+"\n", a...) }

	out, serr, err := in.Runner.Run(ctx, nil, "docker", "info", "--format", "{{.ServerVersion}}")
	state := ClassifyInfo(out, serr, err)
	if state != InfoReady {
		if state == InfoPermission {
			return res, fmt.Errorf("docker daemon is running but this user may not use it (%s): add the user to the docker group or run as root", strings.TrimSpace(serr))
		}
		if !in.Host.IsRoot || !in.Host.IsDebian {
			return res, fmt.Errorf("no working Docker engine (docker info: %s) and cannot install one here (root=%v, debian=%v): install and start Docker (or Podman with the docker CLI shim), then run again", firstLine(serr, err), in.Host.IsRoot, in.Host.IsDebian)
		}
		if _, _, err := in.Runner.Run(ctx, nil, "sh", "-c", "command -v dockerd"); err != nil {
			logf("installing Debian's docker.io (apt-get update && apt-get install -y docker.io)")
			if _, e, err := in.Runner.Run(ctx, nil, "apt-get", "update", "-qq"); err != nil {
				return res, fmt.Errorf("apt-get update failed: %s: %w", firstLine(e, err), err)
			}
			if _, e, err := in.Runner.Run(ctx, nil, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "docker.io"); err != nil {
				return res, fmt.Errorf("apt-get install docker.io failed: %s: %w", firstLine(e, err), err)
			}
			res.Installed = true
		}
		if err := in.startDaemon(ctx, logf); err != nil {
			return res, err
		}
		res.Started = true
	}

	probe, err := in.probePrivileged(ctx)
	if err != nil {
		return res, err
	}
	if probe == ProbeNeedsCapFix {
		logf("privileged containers fail: the capability bounding set lacks CAP_SYS_RESOURCE; registering the runc-capfix runtime")
		if !ownsDaemon(in.StateDir) {
			return res, fmt.Errorf("privileged containers fail with \"unable to apply caps\" (the host's capability bounding set lacks CAP_SYS_RESOURCE) and dockerd was not started by this harness: register a runtime that drops CAP_SYS_RESOURCE (see README, 'Container engine') and restart dockerd")
		}
		if err := in.installCapFix(); err != nil {
			return res, err
		}
		if err := in.stopOwnDaemon(ctx); err != nil {
			return res, err
		}
		if err := in.startDaemon(ctx, logf); err != nil {
			return res, err
		}
		res.CapFix = true
		if probe, err = in.probePrivileged(ctx); err != nil {
			return res, err
		}
		if probe != ProbeOK {
			return res, fmt.Errorf("privileged containers still fail after registering runc-capfix; see %s", filepath.Join(in.StateDir, "dockerd.log"))
		}
	}
	res.CapFix = res.CapFix || capFixRegistered(in.DaemonConfig)
	out, _, _ = in.Runner.Run(ctx, nil, "docker", "info", "--format", "{{.ServerVersion}}")
	res.ServerVersion = strings.TrimSpace(out)
	return res, nil
}

func (in *EnsureInput) defaults() {
	if in.Log == nil {
		in.Log = io.Discard
	}
	if in.StateDir == "" {
		in.StateDir = "/var/lib/upgrade-harness"
	}
	if in.DaemonConfig == "" {
		in.DaemonConfig = "/etc/docker/daemon.json"
	}
	if in.Timeout == 0 {
		in.Timeout = 90 * time.Second
	}
}

func pidFile(stateDir string) string { return filepath.Join(stateDir, "dockerd.pid") }

func ownsDaemon(stateDir string) bool {
	_, err := os.Stat(pidFile(stateDir))
	return err == nil
}

func (in *EnsureInput) startDaemon(ctx context.Context, logf func(string, ...any)) error {
	if err := os.MkdirAll(in.StateDir, 0o755); err != nil {
		return err
	}
	logPath := filepath.Join(in.StateDir, "dockerd.log")
	logf("starting dockerd (log: %s)", logPath)
	start := time.Now()
	pid, err := in.Runner.Start("dockerd", nil, logPath)
	if err != nil {
		return fmt.Errorf("starting dockerd: %w", err)
	}
	if err := os.WriteFile(pidFile(in.StateDir), []byte(fmt.Sprint(pid)), 0o644); err != nil {
		return err
	}
	var out, serr string
	if werr := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, in.Timeout, true, func(ctx context.Context) (bool, error) {
		out, serr, err = in.Runner.Run(ctx, nil, "docker", "info", "--format", "{{.ServerVersion}}")
		return ClassifyInfo(out, serr, err) == InfoReady, nil
	}); werr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("dockerd did not answer within %s (last: %s); see %s", in.Timeout, firstLine(serr, err), logPath)
	}
	logf("dockerd %s ready after %s", strings.TrimSpace(out), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// stopOwnDaemon stops the dockerd this harness started, by its recorded pid.
func (in *EnsureInput) stopOwnDaemon(ctx context.Context) error {
	raw, err := os.ReadFile(pidFile(in.StateDir))
	if err != nil {
		return err
	}
	pid := strings.TrimSpace(string(raw))
	if _, e, err := in.Runner.Run(ctx, nil, "kill", pid); err != nil {
		return fmt.Errorf("stopping dockerd pid %s: %s", pid, firstLine(e, err))
	}
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, _, err := in.Runner.Run(ctx, nil, "kill", "-0", pid)
		return err != nil, nil
	}); err != nil {
		return fmt.Errorf("dockerd pid %s did not exit: %w", pid, err)
	}
	os.Remove(pidFile(in.StateDir))
	return nil
}

func (in *EnsureInput) probePrivileged(ctx context.Context) (ProbeState, error) {
	if in.ProbeBinary == "" {
		return ProbeFailed, errors.New("engine: no probe binary given")
	}
	if _, _, err := in.Runner.Run(ctx, nil, "docker", "image", "inspect", probeImage); err != nil {
		tarball, err := probeTar(in.ProbeBinary)
		if err != nil {
			return ProbeFailed, err
		}
		if _, e, err := in.Runner.Run(ctx, strings.NewReader(string(tarball)), "docker", "import", "--change", `ENTRYPOINT ["/pause"]`, "-", probeImage); err != nil {
			return ProbeFailed, fmt.Errorf("importing the probe image: %s", firstLine(e, err))
		}
	}
	name := fmt.Sprintf("upgrade-harness-engine-probe-%d", time.Now().UnixNano())
	out, serr, err := in.Runner.Run(ctx, nil, "docker", "run", "-d", "--privileged", "--name", name, probeImage)
	defer removeContainer(ctx, in.Runner, name)
	if st := ClassifyProbe(out, serr, err); st != ProbeOK {
		if st == ProbeFailed {
			return st, fmt.Errorf("a privileged container cannot start: %s", firstLine(serr, err))
		}
		return st, nil
	}
	out, serr, err = in.Runner.Run(ctx, nil, "docker", "exec", name, "/pause", "-exit")
	st := ClassifyProbe(out, serr, err)
	if st == ProbeFailed {
		return st, fmt.Errorf("docker exec into a privileged container fails: %s", firstLine(serr, err))
	}
	return st, nil
}

// removeContainer removes a container the harness started, by name. When ctx
// was cancelled, the `docker run` that made it was cut short and the engine
// may still be creating it: it is removed again a moment later.
func removeContainer(ctx context.Context, r Runner, name string) {
	r.Run(context.Background(), nil, "docker", "rm", "-f", name)
	if ctx.Err() != nil {
		time.Sleep(time.Second)
		r.Run(context.Background(), nil, "docker", "rm", "-f", name)
	}
}

func firstLine(s string, err error) string {
	s = strings.TrimSpace(s)
	if s == "" && err != nil {
		s = err.Error()
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
