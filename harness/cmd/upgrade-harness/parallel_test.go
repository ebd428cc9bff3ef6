package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
)

// TestParallelRunHoldsEveryLaneCluster: matrix -parallel 2 claims the second
// lane's cluster (NAME-1) too, before the engine step: one another run holds
// is refused at once (exit 2) naming it, with nothing called.
func TestParallelRunHoldsEveryLaneCluster(t *testing.T) {
	sb := newSandbox(t)
	holdWithFlock(t, sb, "uh-lanes-1")
	args := []string{"matrix", "-from", "v0.2.0", "-to", "v0.2.2", "-repeat", "2", "-parallel", "2", "-keep", "never", "-cluster", "uh-lanes"}
	r := run(t, sb.env(fakeBin), repoRoot, filepath.Join(binDir, "upgrade-harness"), args...)
	if r.code != exitcode.BadInput || !strings.Contains(r.stderr, "uh-lanes-1 is in use") {
		t.Fatalf("%v with lane cluster uh-lanes-1 held: exit %d, want 2 naming it\nstderr: %s", args, r.code, r.stderr)
	}
	if r.took > 5*time.Second {
		t.Errorf("refused after %s, want at once", r.took)
	}
	if data, err := os.ReadFile(sb.calls); err == nil {
		t.Fatalf("called before refusing: %s", data)
	}
}
