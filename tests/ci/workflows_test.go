// Package ci checks the project's own CI wiring without a cluster: the GitHub
// workflows users run lint clean, and every make target and harness command
// they name exists.
package ci

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

var root, _ = filepath.Abs("../..")

func workflows(t *testing.T) []string {
	files, _ := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	if len(files) < 2 {
		t.Fatalf("want the nightly and PR-gate workflows, found %v", files)
	}
	return files
}

func TestWorkflowsLintClean(t *testing.T) {
	// With shellcheck on PATH (make test installs it first) actionlint also
	// checks every run: block.
	sc, _ := exec.LookPath("shellcheck")
	if sc == "" {
		t.Log("shellcheck is not on PATH: run: blocks are linted without it (make test installs it before the unit tests)")
	}
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{Shellcheck: sc, Pyflakes: ""})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range workflows(t) {
		errs, err := l.LintFile(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range errs {
			t.Errorf("%s:%d:%d: %s [%s]", filepath.Base(f), e.Line, e.Column, e.Message, e.Kind)
		}
	}
}

var (
	makeCall    = regexp.MustCompile(`\bmake\s+([a-z][a-z0-9-]*)`)
	harnessCall = regexp.MustCompile(`(?:bin/upgrade-harness|"\$UH_BIN")\s+([a-z][a-z0-9-]*)`)
	scriptCall  = regexp.MustCompile(`\bscripts/([a-z][a-z0-9-]*\.sh)\b`)
	makeTarget  = regexp.MustCompile(`(?m)^([a-z][a-z0-9-]*):`)
	registered  = regexp.MustCompile(`&commandSpec\{\s*name:\s*"([a-z][a-z0-9-]*)"`)
)

func TestWorkflowsNameExistingTargetsAndCommands(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range makeTarget.FindAllStringSubmatch(string(mk), -1) {
		targets[m[1]] = true
	}
	cmds := map[string]bool{}
	srcs, _ := filepath.Glob(filepath.Join(root, "harness", "cmd", "upgrade-harness", "*.go"))
	for _, f := range srcs {
		b, _ := os.ReadFile(f)
		for _, m := range registered.FindAllStringSubmatch(string(b), -1) {
			cmds[m[1]] = true
		}
	}
	checked := 0
	scripts, _ := filepath.Glob(filepath.Join(root, "scripts", "*.sh"))
	files := append(append(workflows(t), filepath.Join(root, ".ci", "run"), filepath.Join(root, "Makefile")), scripts...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range scriptCall.FindAllStringSubmatch(string(b), -1) {
			checked++
			st, err := os.Stat(filepath.Join(root, "scripts", m[1]))
			switch {
			case err != nil:
				t.Errorf("%s runs scripts/%s, which does not exist", filepath.Base(f), m[1])
			case m[1] != "lib.sh" && st.Mode()&0o111 == 0:
				t.Errorf("%s runs scripts/%s, which is not executable", filepath.Base(f), m[1])
			}
		}
		if filepath.Base(f) == "Makefile" {
			continue // its own targets are not calls
		}
		for _, m := range makeCall.FindAllStringSubmatch(string(b), -1) {
			checked++
			if !targets[m[1]] {
				t.Errorf("%s runs `make %s`, which the Makefile does not define", filepath.Base(f), m[1])
			}
		}
		for _, m := range harnessCall.FindAllStringSubmatch(string(b), -1) {
			checked++
			if !cmds[m[1]] {
				t.Errorf("%s runs `upgrade-harness %s`, which is not a command", filepath.Base(f), m[1])
			}
		}
	}
	if checked < 4 {
		t.Fatalf("only %d calls found: the check would pass on nothing", checked)
	}
}

func TestCIRunsTheReadmeTestCommand(t *testing.T) {
	run, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(run), "make test") || !strings.Contains(string(readme), "`make test`") {
		t.Fatal(".ci/run must run the README's test command, make test")
	}
}
