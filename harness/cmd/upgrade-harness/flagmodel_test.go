package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
)

// TestHelpSaysWhatEachCommandDoesAndExitsZero runs every command's -h (and
// help COMMAND) as a user would: exit 0, the help on stdout, naming what the
// command does, its inputs, outputs, every flag and the exit codes; booleans
// shown without a value.
func TestHelpSaysWhatEachCommandDoesAndExitsZero(t *testing.T) {
	bin := filepath.Join(binDir, "upgrade-harness")
	for _, name := range commandNames() {
		spec := commands[name]
		for _, args := range [][]string{{name, "-h"}, {name, "--help"}, {"help", name}} {
			sb := newSandbox(t)
			r := run(t, sb.env(fakeBin), repoRoot, bin, args...)
			if r.code != exitcode.OK {
				t.Errorf("%v: exit %d, want 0\nstderr: %s", args, r.code, r.stderr)
				continue
			}
			first := strings.SplitN(strings.TrimSpace(spec.description), "\n", 2)[0]
			for _, w := range []string{"usage: upgrade-harness " + name, first, "inputs: ", "outputs: ", "exit codes: 0 ok, 1 regression found, 2 bad input"} {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("%v: help lacks %q:\n%s", args, w, r.stdout)
				}
			}
			for _, f := range spec.flags {
				head := "\n  -" + f.name + "\n"
				if f.kind != kindBool {
					head = "\n  -" + f.name + " " + argOf(&f) + "\n"
				}
				if !strings.Contains(r.stdout, head) {
					t.Errorf("%v: help does not show %q", args, strings.TrimSpace(head))
				}
			}
			if strings.Contains(r.stdout, "`") {
				t.Errorf("%v: help shows a backtick:\n%s", args, r.stdout)
			}
			if fx := sb.sideEffects(t); len(fx) > 0 {
				t.Errorf("%v: side effects: %v", args, fx)
			}
		}
	}
	for _, args := range [][]string{{"-h"}, {"help"}, {"--help"}} {
		r := run(t, newSandbox(t).env(fakeBin), repoRoot, bin, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "matrix") || !strings.Contains(r.stdout, "exit codes:") {
			t.Errorf("%v: exit %d, stdout %s", args, r.code, r.stdout)
		}
	}
}

// TestFlagErrorsAreOneLine: a flag error is one line naming the flag and the
// valid form, then a pointer to -h; no "parse error", no usage dump.
func TestFlagErrorsAreOneLine(t *testing.T) {
	bin := filepath.Join(binDir, "upgrade-harness")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"matrix", "-frm", "v0.2.0"}, []string{"-frm", "did you mean -from?", "see upgrade-harness matrix -h"}},
		{[]string{"matrix", "-diagnose=yes"}, []string{`invalid boolean value "yes" for -diagnose: want true or false`}},
		{[]string{"matrix", "-repeat", "many"}, []string{`invalid value "many" for -repeat: want a whole number`}},
		{[]string{"matrix", "-from"}, []string{"flag -from needs a value (want -from RELEASES)"}},
		{[]string{"matrix", "-keep", "sometimes"}, []string{`-keep "sometimes": want on-failure, always or never`}},
		{[]string{"cells", "-junit-inconclusive", "x"}, []string{"-junit-inconclusive (want one of -catalog,", "see upgrade-harness cells -h"}},
		{[]string{"matrix", "-junit-inconclusive", "hidden"}, []string{`-junit-inconclusive "hidden": want failure or skipped`}},
		{[]string{"diagnose", "-probe"}, []string{"-probe", "see upgrade-harness diagnose -h"}},
		{[]string{"cluster", "up", "-nme", "uh-x"}, []string{"did you mean -name?", "see upgrade-harness cluster up -h"}},
		{[]string{"engine", "-x"}, []string{"-x (it takes no flags)"}},
		{[]string{"tool", "-h2"}, []string{`got "-h2" (want a tool name: shellcheck`}},
		{[]string{"cluster", "-name", "x"}, []string{`got "-name" (want an action first`}},
	} {
		sb := newSandbox(t)
		r := run(t, sb.env(fakeBin), repoRoot, bin, tc.args...)
		if r.code != exitcode.BadInput {
			t.Errorf("%v: exit %d, want 2\nstderr: %s", tc.args, r.code, r.stderr)
		}
		if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n > 0 || strings.Contains(r.stderr, "parse error") || strings.Contains(r.stderr, "Usage") {
			t.Errorf("%v: want one line, got %d more:\n%s", tc.args, n, r.stderr)
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

// TestLongValuesAreCutInMessages: a 100 KB value is refused without being
// echoed back whole.
func TestLongValuesAreCutInMessages(t *testing.T) {
	long := strings.Repeat("v", 100_000)
	bin := filepath.Join(binDir, "upgrade-harness")
	for _, args := range [][]string{
		{"matrix", "-from", long}, {"matrix", "-candidate-why", long}, {"cells", "-frm" + long}, {"diagnose", "-keep", long},
		{"cluster", long}, {"tool", long}, {long},
	} {
		r := run(t, newSandbox(t).env(fakeBin), repoRoot, bin, args...)
		if r.code != exitcode.BadInput || len(r.stderr) > 1000 || !regexp.MustCompile(`… \(1000\d\d bytes\)`).MatchString(r.stderr) {
			t.Errorf("%s … (%d args): exit %d, %d bytes of stderr, want 2 and the value cut: %.300s", args[0], len(args), r.code, len(r.stderr), r.stderr)
		}
	}
}

// TestConflictingOrIgnoredFlagsAreRefused: flags that used to be accepted and
// then ignored are bad input, each with a sentence saying why.
func TestConflictingOrIgnoredFlagsAreRefused(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kc)
	cases := []struct {
		args []string
		want string
	}{
		// No rollback cell v0.2.0→v0.2.1: the ad hoc cell would be a plain one.
		{[]string{"-rollback", "true", "-from", "v0.2.0", "-to", "v0.2.1", "-order", "all-at-once"}, "-rollback true: catalog simulated has no rollback cell"},
		{[]string{"-cluster", ""}, `-cluster "" is not a kind cluster name`},
		{[]string{"-existing", "-kubeconfig", kc}, "-existing and -kubeconfig"},
		{[]string{"-kubeconfig", kc, "-cluster", "uh-x"}, "-cluster \"uh-x\": names a kind cluster"},
		{[]string{"-context", "kind-x"}, "-context \"kind-x\": applies to an existing cluster only"},
		{[]string{"-labels", "ci,,nightly"}, `-labels "ci,,nightly": has an empty item`},
		{[]string{"-from", "v0.2.0,"}, `-from "v0.2.0,": has an empty item`},
	}
	for _, c := range cases {
		_, _, _, err := matrixInput(append([]string{"-catalog-dir", "../../../fixtures/releases"}, c.args...))
		if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("matrix %q: exit %d (%v), want 2 saying %q", c.args, exitcode.Of(err), err, c.want)
		}
	}
	for _, args := range [][]string{{"-existing", "-kubeconfig", kc}, {"-cluster", ""}, {"-context", "x"}} {
		_, _, err := diagnoseInput(append([]string{"-catalog-dir", "../../../fixtures/releases", "-from", "v0.2.0", "-to", "v0.2.2"}, args...))
		if exitcode.Of(err) != exitcode.BadInput {
			t.Errorf("diagnose %q: exit %d (%v), want 2", args, exitcode.Of(err), err)
		}
	}
	// The same selection with a rollback cell is accepted and plans only it.
	_, plan, _, err := matrixInput([]string{"-catalog-dir", "../../../fixtures/releases", "-rollback", "true", "-from", "v0.2.0", "-to", "v0.2.2", "-order", "all-at-once"})
	if err != nil || len(plan.Cells) != 1 || !plan.Cells[0].Rollback {
		t.Errorf("-rollback true v0.2.0→v0.2.2: %v, cells %v; want the one rollback cell", err, plan.Cells)
	}
}

// scriptList is a space-separated list VAR=" … " of scripts/lib.sh.
func scriptList(t *testing.T, lib, name string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `="([^"]*)"`).FindStringSubmatch(lib)
	if m == nil {
		t.Fatalf("scripts/lib.sh declares no %s", name)
	}
	l := strings.Fields(m[1])
	sort.Strings(l)
	return l
}

// TestScriptsKnowTheModelsBooleanAndPathFlags: the scripts parse flags the way
// the harness does only if their lists of boolean and path flags are the flag
// model's (a boolean missing there swallows the next flag as its value).
func TestScriptsKnowTheModelsBooleanAndPathFlags(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "scripts", "lib.sh"))
	if err != nil {
		t.Fatal(err)
	}
	bools, paths := map[string]bool{}, map[string]bool{"load-images": true} // gate.sh's own
	for _, spec := range commands {
		for _, f := range spec.flags {
			if f.kind == kindBool {
				bools[f.name] = true
			}
			if f.path {
				paths[f.name] = true
			}
		}
	}
	for _, l := range []struct {
		name string
		want map[string]bool
	}{{"UH_BOOL_FLAGS", bools}, {"UH_PATH_FLAGS", paths}} {
		want := make([]string, 0, len(l.want))
		for n := range l.want {
			want = append(want, n)
		}
		sort.Strings(want)
		if got := scriptList(t, string(b), l.name); !slices.Equal(got, want) {
			t.Errorf("scripts/lib.sh %s=%q, the flag model's: %q", l.name, strings.Join(got, " "), strings.Join(want, " "))
		}
	}
}

// makeRecipe is the text of a Makefile target's recipe.
func makeRecipe(mk, target string) string {
	m := regexp.MustCompile(`(?ms)^` + regexp.QuoteMeta(target) + `:[^\n]*\n((?:\t[^\n]*\n)*)`).FindStringSubmatch(mk)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestMakefilePassesEachFlagByItsVariable: each flag of a command make runs
// is passed by the make variable the model names (or the model says why make
// never passes it), and the Makefile passes no flag the model does not give
// that variable; each user variable is a flag's or one of make's own.
func TestMakefilePassesEachFlagByItsVariable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	mk := strings.ReplaceAll(string(b), "\\\n", " ") // continuation lines
	// Variables the Makefile expands into flags.
	for _, v := range []string{"MATRIX_FLAGS", "ORDER_FLAG", "CLUSTER_FLAG"} {
		m := regexp.MustCompile(`(?m)^` + v + ` = (.*)$`).FindStringSubmatch(mk)
		if m == nil {
			t.Fatalf("the Makefile declares no %s", v)
		}
		mk = strings.ReplaceAll(mk, "$("+v+")", m[1])
	}
	passed := regexp.MustCompile(`-([a-z][a-z-]+)[ =]"\$\$(?:\{)?([A-Z_]+)`)
	flagVars := map[string]bool{}
	for _, name := range commandNames() {
		spec := commands[name]
		got := map[string]string{}
		for _, target := range spec.makeTargets {
			recipe := makeRecipe(mk, target)
			if !strings.Contains(recipe, "$(HARNESS) "+name) {
				t.Errorf("make %s does not run upgrade-harness %s:\n%s", target, name, recipe)
			}
			for _, m := range passed.FindAllStringSubmatch(recipe, -1) {
				got[m[1]] = m[2]
			}
		}
		for _, f := range spec.flags {
			if f.makeVar != "" {
				flagVars[f.makeVar] = true
			}
			if len(spec.makeTargets) == 0 {
				continue
			}
			switch {
			case f.makeVar == "" && f.noMake == "":
				t.Errorf("%s -%s: the model names no make variable and no reason make does not pass it", name, f.name)
			case f.makeVar != "" && got[f.name] != f.makeVar:
				t.Errorf("%s -%s: make (%s) passes it as %q, the model says %s", name, f.name, strings.Join(spec.makeTargets, ", "), got[f.name], f.makeVar)
			}
		}
		for flag, v := range got {
			if !slices.ContainsFunc(spec.flags, func(f flagSpec) bool { return f.name == flag && f.makeVar == v }) {
				t.Errorf("make passes %s -%s from %s, which the flag model does not declare", name, flag, v)
			}
		}
	}
	m := regexp.MustCompile(`(?m)^USER_VARS := (.*)$`).FindStringSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile declares no USER_VARS")
	}
	userVars := strings.Fields(m[1])
	makeOwn := map[string]bool{"NODE_IMAGE": true, "E2E_TIMEOUT": true, "FUZZTIME": true, "E2E_SKIP": true, "E2E_RUN": true}
	for _, v := range userVars {
		if !flagVars[v] && !makeOwn[v] {
			t.Errorf("make variable %s is no flag's in the model (and not one of make's own)", v)
		}
	}
	for v := range flagVars {
		if !slices.Contains(userVars, v) {
			t.Errorf("flag variable %s is not among the Makefile's USER_VARS", v)
		}
	}
	// make help names every target and every user variable.
	help := makeRecipe(string(b), "help")
	for _, t2 := range regexp.MustCompile(`(?m)^\.PHONY: (.*)$`).FindStringSubmatch(string(b))[1:] {
		for _, target := range strings.Fields(t2) {
			if target != "all" && target != "help" && target != "lint" && !strings.Contains(help, "make "+target) && !strings.Contains(help, " "+target+" ") && !strings.Contains(help, "/ "+target) {
				t.Errorf("make help does not mention %s", target)
			}
		}
	}
	for _, v := range userVars {
		if !strings.Contains(help, v+"=") && v != "FUZZTIME" {
			t.Errorf("make help does not mention %s=", v)
		}
	}
}

// TestReproVariablesAreMatrixFlags: the variables a report's repro line sets
// are the make variables of matrix flags (NODE_IMAGE is the environment's).
func TestReproVariablesAreMatrixFlags(t *testing.T) {
	for _, v := range []string{report.VarFrom, report.VarTo, report.VarOrder, report.VarCatalog, report.VarOverrides, report.VarManifestsDir, report.VarImageRemap} {
		if !slices.ContainsFunc(matrixCommand.flags, func(f flagSpec) bool { return f.makeVar == v }) {
			t.Errorf("repro variable %s is no matrix flag's make variable", v)
		}
	}
}

// TestClusterListKeepsTheEnginesMessage: kind keeps docker's output apart
// from its error; the message must carry it.
func TestClusterListKeepsTheEnginesMessage(t *testing.T) {
	inner := &kindexec.RunError{Command: []string{"docker", "ps"}, Output: []byte("permission denied while trying to connect to the Docker daemon socket\n"), Inner: errors.New("exit status 1")}
	err := withEngineOutput(fmt.Errorf("failed to list clusters: %w", inner))
	if !strings.Contains(err.Error(), "permission denied while trying to connect") || !errors.Is(err, inner) {
		t.Fatalf("message %q lost docker's output", err)
	}
}

func TestCutKeepsShortValuesAndBoundsLongOnes(t *testing.T) {
	if got := cut("v0.2.0"); got != "v0.2.0" {
		t.Errorf("cut(short) = %q", got)
	}
	long := strings.Repeat("é", 1000)
	got := cut(long)
	if len(got) > maxShown+30 || !strings.HasSuffix(got, "… (2000 bytes)") || !strings.HasPrefix(long, strings.TrimSuffix(got, "… (2000 bytes)")) {
		t.Errorf("cut(2000 bytes) = %q", got)
	}
}

// TestMakeE2EUsesTheClusterItIsGiven: make e2e CLUSTER=x plans the run on
// kind cluster x (the matrix used to take uh-matrix whatever CLUSTER said),
// and make passes no -cluster when CLUSTER is not given.
func TestMakeE2EUsesTheClusterItIsGiven(t *testing.T) {
	makeBin, goBin, toolEnv := makeTools(t)
	for _, tc := range []struct {
		vars []string
		want string
	}{
		{[]string{"CLUSTER=uh-mine"}, "on kind cluster uh-mine;"},
		{nil, "on kind cluster uh-matrix;"},
	} {
		sb := newSandbox(t)
		args := append([]string{"-C", repoRoot, "BIN=" + binDir, "GO=" + goBin, "e2e", "DRY_RUN=true", "FROM=v0.2.0", "TO=v0.2.2"}, tc.vars...)
		r := run(t, append(sb.env(fakeBin+":/usr/bin:/bin"), toolEnv...), repoRoot, makeBin, args...)
		if r.code != 0 || !strings.Contains(r.stdout, tc.want) {
			t.Errorf("make %v: exit %d, want 0 and %q\nstdout: %s\nstderr: %s", tc.vars, r.code, tc.want, r.stdout, r.stderr)
		}
		if fx := sb.sideEffects(t); len(fx) > 0 {
			t.Errorf("make %v DRY_RUN=true: side effects %v", tc.vars, fx)
		}
	}
}
