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
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ambient-e2e/upgrade-harness/harness/env/docker"
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
	// Runner runs host commands (apt-get, kill, dockerd).
	Runner Runner
	// Docker is the docker CLI client; default: one over Runner.
	Docker *docker.Client
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

	out, serr, err := split(in.Docker.Run(ctx, "info", "--format", "{{.ServerVersion}}"))
	state := ClassifyInfo(out, serr, err)
	if state != InfoReady {
		if state == InfoPermission {
			return res, permissionError(in.Host, firstLine(serr, err))
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
	out, _ = in.Docker.Run(ctx, "info", "--format", "{{.ServerVersion}}")
	res.ServerVersion = out
	return res, nil
}

// permissionError says why the daemon refused us and what would help: the
// docker group is a remedy for a user, never for root, whom a socket refuses
// only when it is another daemon's (DOCKER_HOST, rootless) or a plugin's.
func permissionError(h Host, cause string) error {
	if h.IsRoot {
		return fmt.Errorf("the docker daemon at %s refused root (%s): root needs no group, so this socket is not the system daemon's or an authorization plugin denies it; point DOCKER_HOST at the daemon to use (unset it for %s), or fix that socket's owner", docker.Host(), cause, "unix:///var/run/docker.sock")
	}
	name := "this user"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return fmt.Errorf("the docker daemon at %s is running but %s may not use it (%s): add %s to the docker group (sudo usermod -aG docker %s, then log in again) or run as root", docker.Host(), name, cause, name, name)
}

// split turns a docker client's answer into ClassifyInfo's terms.
func split(out string, err error) (string, string, error) {
	var de *docker.Error
	if errors.As(err, &de) {
		return out, de.Stderr, de.Err
	}
	return out, "", err
}

// runnerExec runs docker calls through a Runner, so unit tests answer them
// from the same script as the host commands.
func runnerExec(r Runner) docker.Exec {
	return func(ctx context.Context, c docker.Call) ([]byte, []byte, error) {
		out, serr, err := r.Run(ctx, c.Stdin, "docker", c.Args...)
		return []byte(out), []byte(serr), err
	}
}

func (in *EnsureInput) defaults() {
	if in.Log == nil {
		in.Log = io.Discard
	}
	if in.Runner == nil {
		in.Runner = ExecRunner{}
	}
	if in.Docker == nil {
		in.Docker = docker.New(docker.WithExec(runnerExec(in.Runner)))
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
		out, serr, err = split(in.Docker.Run(ctx, "info", "--format", "{{.ServerVersion}}"))
		return ClassifyInfo(out, serr, err) == InfoReady, nil
	}); werr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("dockerd did not answer within %s (last: %s); see %s", in.Timeout, firstLine(serr, err), logPath)
	}
	logf("dockerd %s ready after %s", out, time.Since(start).Round(100*time.Millisecond))
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
	if !in.Docker.Succeeds(ctx, "image", "inspect", probeImage) {
		tarball, err := probeTar(in.ProbeBinary)
		if err != nil {
			return ProbeFailed, err
		}
		if _, err := in.Docker.Do(ctx, docker.Call{Args: []string{"import", "--change", `ENTRYPOINT ["/pause"]`, "-", probeImage}, Stdin: strings.NewReader(string(tarball))}); err != nil {
			return ProbeFailed, fmt.Errorf("importing the probe image: %w", err)
		}
	}
	name := fmt.Sprintf("upgrade-harness-engine-probe-%d", time.Now().UnixNano())
	out, serr, err := split(in.Docker.Run(ctx, "run", "-d", "--privileged", "--name", name, probeImage))
	defer in.Docker.RemoveContainer(ctx, name)
	if st := ClassifyProbe(out, serr, err); st != ProbeOK {
		if st == ProbeFailed {
			return st, fmt.Errorf("a privileged container cannot start: %s", firstLine(serr, err))
		}
		return st, nil
	}
	out, serr, err = split(in.Docker.Run(ctx, "exec", name, "/pause", "-exit"))
	st := ClassifyProbe(out, serr, err)
	if st == ProbeFailed {
		return st, fmt.Errorf("docker exec into a privileged container fails: %s", firstLine(serr, err))
	}
	return st, nil
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
