package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
)

// TestBadWorkingLevelIsRefusedBeforeAnySideEffect: a working level that is
// not one, on the command line or in a catalog (top level or a cell), is exit
// 2 naming the flag or file:line and field, the value and the valid levels.
func TestBadWorkingLevelIsRefusedBeforeAnySideEffect(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	top := write("top.yaml", strings.Replace(goodCatalog(""), "build: pull", "build: pull\nworking: finished", 1))
	cell := write("cell.yaml", goodCatalog("      working: run_started\n"))
	const valid = "want run-finished or run-started"
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"matrix", "-working", "finished"}, []string{`-working "finished": ` + valid}},
		{[]string{"cells", "-working", "RUN_STARTED"}, []string{`-working "RUN_STARTED": ` + valid}},
		{[]string{"matrix", "-catalog", top}, []string{"top.yaml:5: working: ", `"finished" is not a working level (` + valid + ")"}},
		{[]string{"matrix", "-catalog", cell, "-dry-run"}, []string{"cell.yaml:21: matrix.cells[0].working: ", `"run_started" is not a working level (` + valid + ")"}},
	} {
		sb := newSandbox(t)
		r := run(t, sb.env(fakeBin), repoRoot, filepath.Join(binDir, "upgrade-harness"), tc.args...)
		if r.code != exitcode.BadInput {
			t.Errorf("%v: exit %d, want 2\nstderr: %s", tc.args, r.code, r.stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%v: stderr does not say %q:\n%s", tc.args, w, r.stderr)
			}
		}
		if fx := sb.sideEffects(t); len(fx) > 0 {
			t.Errorf("%v: side effects: %v", tc.args, fx)
		}
	}
}
