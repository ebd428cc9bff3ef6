package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
)

// holdWithFlock stands for another run holding a cluster: flock(1) keeps the
// lock file locked, with the holder's pid written inside, until it is killed.
func holdWithFlock(t *testing.T, sb sandbox, name string) int {
	t.Helper()
	flockBin, err := exec.LookPath("flock")
	if err != nil {
		t.Skip("no flock(1) on this machine")
	}
	lock := filepath.Join(sb.cache, "upgrade-harness", "locks", name+".lock")
	if err := os.MkdirAll(filepath.Dir(lock), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(flockBin, "-n", lock, "sh", "-c", `echo $$ > "$0"; echo held; exec sleep 600`, lock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != "held" {
		t.Fatalf("flock holder said %q", line)
	}
	raw, _ := os.ReadFile(lock)
	var pid int
	fmt.Sscan(string(raw), &pid)
	return pid
}

// A second run naming a kind cluster another run holds is refused at once
// (exit 2) naming the holder's pid and how to choose another name, before
// the engine step (no docker or go called). Before cluster locks it went on
// to the engine and, with a real engine, reused the cluster under the first run.
func TestSecondRunOnAHeldClusterIsRefusedAtOnce(t *testing.T) {
	sb := newSandbox(t)
	pid := holdWithFlock(t, sb, "uh-busy")
	for _, args := range [][]string{
		{"matrix", "-from", "v0.2.0", "-to", "v0.2.2", "-keep", "never", "-cluster", "uh-busy"},
		{"cluster", "down", "-name", "uh-busy"},
	} {
		r := run(t, sb.env(fakeBin), repoRoot, filepath.Join(binDir, "upgrade-harness"), args...)
		if r.code != exitcode.BadInput {
			t.Fatalf("%v on a held cluster: exit %d, want 2\nstderr: %s", args, r.code, r.stderr)
		}
		for _, want := range []string{"uh-busy is in use", fmt.Sprintf("pid %d", pid), "CLUSTER=", "-cluster"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%v: stderr lacks %q:\n%s", args, want, r.stderr)
			}
		}
		if r.took > 5*time.Second {
			t.Errorf("%v: refused after %s, want at once", args, r.took)
		}
		if data, err := os.ReadFile(sb.calls); err == nil {
			t.Fatalf("%v: called before refusing: %s", args, data)
		}
	}
}
