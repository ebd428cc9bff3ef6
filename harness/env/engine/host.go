package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/ambient-e2e/upgrade-harness/harness/proc"
)

// CapFixPath is where the runtime wrapper is installed for dockerd.
const CapFixPath = "/usr/local/lib/upgrade-harness/runc-capfix"

// capFixRuntime is the runtime name registered in daemon.json.
const capFixRuntime = "upgrade-harness-capfix"

func (in *EnsureInput) installCapFix() error {
	if in.CapFixBinary == "" {
		return fmt.Errorf("engine: runc-capfix binary not built")
	}
	raw, err := os.ReadFile(in.CapFixBinary)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(CapFixPath), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(CapFixPath, raw, 0o755); err != nil {
		return err
	}
	cfg, err := MergeDaemonConfig(in.DaemonConfig)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(in.DaemonConfig), 0o755); err != nil {
		return err
	}
	return os.WriteFile(in.DaemonConfig, cfg, 0o644)
}

// MergeDaemonConfig returns dockerd's config with the capfix runtime registered
// as the default, keeping every other setting the file already has.
func MergeDaemonConfig(path string) ([]byte, error) {
	doc := map[string]any{}
	if raw, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("%s: not valid JSON (%v); fix or remove it", path, err)
		}
	}
	runtimes, _ := doc["runtimes"].(map[string]any)
	if runtimes == nil {
		runtimes = map[string]any{}
	}
	runtimes[capFixRuntime] = map[string]any{"path": CapFixPath}
	doc["runtimes"] = runtimes
	doc["default-runtime"] = capFixRuntime
	return json.MarshalIndent(doc, "", "  ")
}

func capFixRegistered(path string) bool {
	raw, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var doc map[string]any
	if json.Unmarshal(raw, &doc) != nil {
		return false
	}
	return doc["default-runtime"] == capFixRuntime
}

// probeTar packs the probe binary as /pause into an image root filesystem.
func probeTar(binary string) ([]byte, error) {
	raw, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(raw)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(raw); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ExecRunner runs real host commands.
type ExecRunner struct{}

// Run implements Runner.
func (ExecRunner) Run(ctx context.Context, stdin io.Reader, name string, args ...string) (string, string, error) {
	cmd := proc.Command(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// Start implements Runner: the daemon gets its own session so that it is not
// tied to the terminal; it is stopped later by its recorded pid.
func (ExecRunner) Start(name string, args []string, logPath string) (int, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	go cmd.Wait() // reap if it exits while we run
	return cmd.Process.Pid, nil
}
