package ci

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// recorder puts stand-ins for the tools a run touches the machine with first
// (docker, kind, kubectl) ahead of PATH; each records its call in the returned
// file and fails. go stays real: the scripts build the harness.
func recorder(t *testing.T) (env []string, calls string) {
	t.Helper()
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls")
	for _, name := range []string{"docker", "dockerd", "kind", "kubectl", "apt-get"} {
		script := "#!/bin/sh\necho \"" + name + " $*\" >> \"" + calls + "\"\nexit 97\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PATH=") && !strings.HasPrefix(e, "GITHUB_OUTPUT=") && !strings.HasPrefix(e, "ARTIFACTS=") {
			env = append(env, e)
		}
	}
	return append(env, "PATH="+dir+":"+os.Getenv("PATH"), "ARTIFACTS="+filepath.Join(t.TempDir(), "artifacts")), calls
}

func runScript(t *testing.T, env []string, script string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "scripts", script), args...)
	cmd.Dir, cmd.Env = t.TempDir(), env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("%s %v: %v", script, args, err)
	}
	return code, out.String(), errb.String()
}

// planLine is the dry run's summary line and cellLine one planned cell.
var (
	planLine = regexp.MustCompile(`(?m)^catalog \S+ \([^)]*\): (\d+) cell\(s\);`)
	cellLine = regexp.MustCompile(`(?m)^  (\S+)\s+order `)
)

// plannedCells runs scripts/run-cell.sh ARGS -dry-run and returns the names
// of the cells it planned.
func plannedCells(t *testing.T, env []string, args ...string) []string {
	t.Helper()
	code, out, errOut := runScript(t, env, "run-cell.sh", args...)
	if code != 0 {
		t.Fatalf("run-cell.sh %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	m := planLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("run-cell.sh %s printed no plan:\n%s", strings.Join(args, " "), out)
	}
	var names []string
	for _, c := range cellLine.FindAllStringSubmatch(out, -1) {
		names = append(names, c[1])
	}
	if m[1] != "1" || len(names) != 1 {
		t.Errorf("run-cell.sh %s planned %s cell(s) %v, want exactly one", strings.Join(args, " "), m[1], names)
	}
	return names
}

// TestNightlyPlanRunsEachCellOnce plans the nightly of the upstream catalog as
// its workflow does and runs every job's script in dry-run, job by job: each
// job plans exactly its own cell (a rollback cell and the plain cell of the
// same from/to/order used to be planned by both of their jobs). -diagnose
// before -dry-run also shows the scripts read booleans as the harness does.
func TestNightlyPlanRunsEachCellOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the scripts (-short)")
	}
	env, calls := recorder(t)
	outFile := filepath.Join(t.TempDir(), "github-output")
	code, out, errOut := runScript(t, append(env, "GITHUB_OUTPUT="+outFile), "plan-nightly.sh", "-catalog", "upstream")
	if code != 0 {
		t.Fatalf("plan-nightly.sh: exit %d\n%s", code, errOut)
	}
	var jobs []struct {
		Name, From, To, Order string
		Rollback              *bool
	}
	if err := json.Unmarshal([]byte(out), &jobs); err != nil {
		t.Fatalf("plan-nightly.sh printed no JSON list: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(outFile); !strings.HasPrefix(string(got), "cells=[") {
		t.Errorf("$GITHUB_OUTPUT holds %q, want cells=<json>", got)
	}
	seen := map[string]bool{}
	rollbacks := 0
	for _, j := range jobs {
		if seen[j.Name] {
			t.Errorf("two jobs are named %s", j.Name)
		}
		seen[j.Name] = true
		if j.Rollback == nil {
			t.Fatalf("job %s has no rollback field", j.Name)
		}
		got := plannedCells(t, env, "-catalog", "upstream", "-cell", j.Name, "-diagnose", "-dry-run")
		if len(got) == 1 && got[0] != j.Name {
			t.Errorf("job %s planned cell %s", j.Name, got[0])
		}
		if *j.Rollback {
			rollbacks++
			// The same cell named the other way the script takes.
			got := plannedCells(t, env, "-catalog", "upstream", "-from", j.From, "-to", j.To, "-order", j.Order, "-rollback", "true", "-dry-run")
			if len(got) == 1 && got[0] != j.Name {
				t.Errorf("-from %s -to %s -rollback true planned %s, want %s", j.From, j.To, got[0], j.Name)
			}
		}
	}
	if len(jobs) < 4 || rollbacks == 0 {
		t.Errorf("the upstream nightly plans %d jobs, %d of them rollback cells: want several, some rolling back", len(jobs), rollbacks)
	}
	if b, err := os.ReadFile(calls); err == nil {
		t.Errorf("a dry run touched the machine: %s", b)
	}
	t.Logf("%d jobs (%d rollback cells), each planned exactly its one cell", len(jobs), rollbacks)
}

// TestRunCellRefusesSelectionsOfSeveralCells: one job runs one cell.
func TestRunCellRefusesSelectionsOfSeveralCells(t *testing.T) {
	env, calls := recorder(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-cell", "v0.2.0-*"}, "not a pattern"},
		{[]string{"-cell", "v0.2.0-v0.2.2", "-from", "v0.2.0"}, "without -from, -to, -order and -rollback"},
		{[]string{"-from", "v0.2.0,v0.2.2", "-to", "v0.2.7"}, "one release each"},
		{[]string{"-to", "v0.2.7"}, "want -cell NAME, or -from RELEASE and -to RELEASE"},
	} {
		code, _, errOut := runScript(t, env, "run-cell.sh", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("run-cell.sh %v: exit %d, stderr %q; want 2 saying %q", tc.args, code, errOut, tc.want)
		}
	}
	if b, err := os.ReadFile(calls); err == nil {
		t.Errorf("a refused input touched the machine: %s", b)
	}
}

// TestGateChecksItsInputBeforeLoadingImages: a bad candidate image is refused
// (exit 2, naming it) before any archive is docker-loaded, with -dry-run and
// without; a valid -dry-run loads nothing either.
func TestGateChecksItsInputBeforeLoadingImages(t *testing.T) {
	archives := t.TempDir()
	if err := os.WriteFile(filepath.Join(archives, "images.tar"), []byte("not really an archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-dry-run", "-catalog", "simulated", "-load-images", archives, "-candidate-images", "backend=bad::ref"},
		{"-catalog", "simulated", "-load-images", archives, "-candidate-images", "backend=bad::ref"},
	} {
		env, calls := recorder(t)
		code, _, errOut := runScript(t, env, "gate.sh", args...)
		if code != 2 || !strings.Contains(errOut, `"bad::ref" is not a valid image reference`) {
			t.Errorf("gate.sh %v: exit %d; want 2 naming the bad reference\nstderr: %s", args, code, errOut)
		}
		if b, err := os.ReadFile(calls); err == nil {
			t.Errorf("gate.sh %v called before refusing: %s", args, b)
		}
	}
	env, calls := recorder(t)
	code, _, errOut := runScript(t, env, "gate.sh", "-dry-run", "-catalog", "simulated", "-load-images", archives,
		"-candidate-images", "backend=localhost/pr/vteam_backend:pr-1")
	if code != 0 || !strings.Contains(errOut, "would docker load -i "+filepath.Join(archives, "images.tar")) {
		t.Errorf("valid gate -dry-run: exit %d, want 0 saying what it would load\nstderr: %s", code, errOut)
	}
	if b, err := os.ReadFile(calls); err == nil {
		t.Errorf("gate -dry-run touched the machine: %s", b)
	}
}
