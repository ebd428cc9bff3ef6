package cluster

import (
	"fmt"
	"os/exec"
	"testing"

	kinderrors "sigs.k8s.io/kind/pkg/errors"
	kindexec "sigs.k8s.io/kind/pkg/exec"
)

// A docker call ended by Ctrl-C is told apart from one that failed: only the
// first leaves the engine completing a request nobody waits for.
func TestKilledDockerCallFindsTheSignalledRun(t *testing.T) {
	killed := exec.Command("sh", "-c", "kill -INT $$").Run()
	failed := exec.Command("sh", "-c", "exit 125").Run()
	run := []string{"docker", "run", "--name", "uh-x-control-plane", "--detach", "img"}
	for _, tc := range []struct {
		name     string
		err      error
		wantCall bool
		wantName string
	}{
		{"killed docker run", kinderrors.Wrap(&kindexec.RunError{Command: run, Inner: killed}, "failed to create cluster"), true, "uh-x-control-plane"},
		{"killed docker exec", &kindexec.RunError{Command: []string{"docker", "exec", "uh-x-control-plane", "kubeadm", "init"}, Inner: killed}, true, ""},
		{"failed docker run", &kindexec.RunError{Command: run, Inner: failed}, false, ""},
		{"aggregated nodes", kinderrors.NewAggregate([]error{fmt.Errorf(`command "docker run --name uh-x-worker --detach img" failed with error: signal: interrupt`)}), true, "uh-x-worker"},
		{"no error", nil, false, ""},
		{"other error", fmt.Errorf("node image not present"), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call, ok := killedDockerCall(tc.err)
			if ok != tc.wantCall {
				t.Fatalf("killed = %v, want %v (call %q)", ok, tc.wantCall, call)
			}
			name := ""
			if ok && len(call) > 1 && call[1] == "run" {
				name = argAfter(call, "--name")
			}
			if name != tc.wantName {
				t.Fatalf("pending container %q, want %q", name, tc.wantName)
			}
		})
	}
}

func TestArgAfter(t *testing.T) {
	if got := argAfter([]string{"run", "--name=a", "x"}, "--name"); got != "a" {
		t.Fatalf("--name=a: %q", got)
	}
	if got := argAfter([]string{"run", "--name"}, "--name"); got != "" {
		t.Fatalf("--name at the end: %q", got)
	}
}
