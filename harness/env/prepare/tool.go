package prepare

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/env/engine"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
)

// ToolInput configures Tool.
type ToolInput struct {
	// Command is the executable looked up on PATH, e.g. shellcheck.
	Command string
	// DebianPackage provides Command (default: Command).
	DebianPackage string
	Log           io.Writer
	// Host, Runner and LookPath default to this machine (tests replace them).
	Host     *engine.Host
	Runner   engine.Runner
	LookPath func(string) (string, error)
}

// Tool returns the path of a host tool the harness runs (shellcheck for the
// scripts), installing its Debian package when it is missing and this is root
// on Debian, the way Engine installs docker.io. Elsewhere a missing tool is an
// infrastructure error that says what to install.
func Tool(ctx context.Context, in ToolInput) (string, error) {
	if in.DebianPackage == "" {
		in.DebianPackage = in.Command
	}
	if in.Log == nil {
		in.Log = os.Stderr
	}
	if in.LookPath == nil {
		in.LookPath = exec.LookPath
	}
	if in.Runner == nil {
		in.Runner = engine.ExecRunner{}
	}
	host := engine.DetectHost()
	if in.Host != nil {
		host = *in.Host
	}
	if p, err := in.LookPath(in.Command); err == nil {
		return p, nil
	}
	if !host.IsRoot || !host.IsDebian {
		return "", fault.InfraErr(fmt.Errorf("%s is not on PATH and cannot be installed here (root=%v, debian=%v): install the %s package, then run again",
			in.Command, host.IsRoot, host.IsDebian, in.DebianPackage))
	}
	fmt.Fprintf(in.Log, "[tool] installing Debian's %s (apt-get update && apt-get install -y %s)\n", in.DebianPackage, in.DebianPackage)
	if _, e, err := in.Runner.Run(ctx, nil, "apt-get", "update", "-qq"); err != nil {
		return "", fault.InfraErr(fmt.Errorf("apt-get update failed: %s: %w", strings.TrimSpace(e), err))
	}
	if _, e, err := in.Runner.Run(ctx, nil, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", in.DebianPackage); err != nil {
		return "", fault.InfraErr(fmt.Errorf("apt-get install %s failed: %s: %w", in.DebianPackage, strings.TrimSpace(e), err))
	}
	p, err := in.LookPath(in.Command)
	if err != nil {
		return "", fault.InfraErr(fmt.Errorf("installed %s but %s is still not on PATH: %w", in.DebianPackage, in.Command, err))
	}
	return p, nil
}
