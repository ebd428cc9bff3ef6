package ci

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	"mvdan.cc/sh/v3/syntax"
)

// workflow is the part of a GitHub workflow file these checks read.
type workflow struct {
	On struct {
		WorkflowCall *struct {
			Inputs map[string]struct {
				Description string `yaml:"description"`
				Type        string `yaml:"type"`
				Default     any    `yaml:"default"`
			} `yaml:"inputs"`
		} `yaml:"workflow_call"`
		PullRequest any `yaml:"pull_request"`
	} `yaml:"on"`
	Jobs map[string]struct {
		// Uses is set when the job calls a reusable workflow.
		Uses  string `yaml:"uses"`
		Steps []step `yaml:"steps"`
	} `yaml:"jobs"`
}

type step struct {
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	If   string            `yaml:"if"`
	With map[string]string `yaml:"with"`
	Env  map[string]string `yaml:"env"`
	Run  string            `yaml:"run"`
}

func readWorkflow(t *testing.T, name string) workflow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, ".github", "workflows", name))
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return w
}

var inputRef = regexp.MustCompile(`\binputs\.([A-Za-z0-9_-]+)`)

// inputsIn lists the workflow inputs an expression reads.
func inputsIn(expr string) []string {
	var out []string
	for _, m := range inputRef.FindAllStringSubmatch(expr, -1) {
		out = append(out, m[1])
	}
	return out
}

// scriptFlags parses a run block and returns, for the call of script, each
// flag and the environment variable passed as its value ("-from" "$FROM").
func scriptFlags(t *testing.T, run, script string) map[string]string {
	t.Helper()
	f, err := syntax.NewParser().Parse(strings.NewReader(run), "run")
	if err != nil {
		t.Fatalf("run block does not parse as shell: %v\n%s", err, run)
	}
	var call *syntax.CallExpr
	syntax.Walk(f, func(n syntax.Node) bool {
		if c, ok := n.(*syntax.CallExpr); ok && len(c.Args) > 0 && strings.HasSuffix(c.Args[0].Lit(), script) {
			call = c
		}
		return true
	})
	if call == nil {
		t.Fatalf("run block does not call %s:\n%s", script, run)
	}
	out := map[string]string{}
	args := call.Args[1:]
	for i := 0; i < len(args); i++ {
		flag := args[i].Lit()
		if !strings.HasPrefix(flag, "-") {
			t.Errorf("%s argument %d is not a flag: %q", script, i+1, flag)
			continue
		}
		if i+1 == len(args) {
			t.Errorf("%s flag %s has no value", script, flag)
			break
		}
		i++
		v, ok := quotedVar(args[i])
		if !ok {
			t.Errorf("%s %s: the value must be one quoted variable (\"$VAR\", set from the inputs in env:)", script, flag)
			continue
		}
		out[flag] = v
	}
	return out
}

// quotedVar returns NAME for a word that is exactly "$NAME" or "${NAME}".
func quotedVar(w *syntax.Word) (string, bool) {
	if len(w.Parts) != 1 {
		return "", false
	}
	q, ok := w.Parts[0].(*syntax.DblQuoted)
	if !ok || len(q.Parts) != 1 {
		return "", false
	}
	p, ok := q.Parts[0].(*syntax.ParamExp)
	if !ok || p.Param == nil || p.Exp != nil || p.Slice != nil || p.Repl != nil || p.Index != nil || p.Length || p.Excl {
		return "", false
	}
	return p.Param.Value, true
}

// gateRoutes says where each input of the reusable gate workflow must arrive:
// a flag of scripts/gate.sh, an environment variable of that step, or a
// with: field of the step using an action.
var gateRoutes = map[string]struct{ flag, env, uses, with string }{
	"images":             {flag: "-candidate-images"},
	"manifests":          {flag: "-candidate-manifests"},
	"from":               {flag: "-from"},
	"catalog":            {flag: "-catalog"},
	"name":               {flag: "-candidate-name"},
	"order":              {flag: "-order"},
	"images-artifact":    {flag: "-load-images", uses: "actions/download-artifact", with: "name"},
	"node-image":         {env: "NODE_IMAGE"},
	"candidate-ref":      {uses: "actions/checkout", with: "ref"},
	"harness-ref":        {uses: "actions/checkout", with: "ref"},
	"harness-repository": {uses: "actions/checkout", with: "repository"},
}

func TestPlatformGateInputsReachTheGateScript(t *testing.T) {
	w := readWorkflow(t, "platform-gate.yml")
	if w.On.WorkflowCall == nil || len(w.On.WorkflowCall.Inputs) == 0 {
		t.Fatal("platform-gate.yml must be a reusable workflow (on: workflow_call) with inputs")
	}
	if w.On.PullRequest != nil {
		t.Error("platform-gate.yml must not run on the harness's own pull requests (it would gate the harness with empty inputs)")
	}
	var declared []string
	for name, in := range w.On.WorkflowCall.Inputs {
		declared = append(declared, name)
		if strings.TrimSpace(in.Description) == "" || in.Type != "string" {
			t.Errorf("input %s: want a description and type string, got %+v", name, in)
		}
	}
	sort.Strings(declared)
	var routed []string
	for name := range gateRoutes {
		routed = append(routed, name)
	}
	sort.Strings(routed)
	if !slices.Equal(declared, routed) {
		t.Fatalf("inputs %v, but this test routes %v: say where a new input must arrive in gateRoutes", declared, routed)
	}

	var steps []step
	for _, j := range w.Jobs {
		steps = append(steps, j.Steps...)
	}
	var gate *step
	for i := range steps {
		if strings.Contains(steps[i].Run, "scripts/gate.sh") {
			if gate != nil {
				t.Fatal("two steps run scripts/gate.sh")
			}
			gate = &steps[i]
		}
	}
	if gate == nil {
		t.Fatal("no step runs scripts/gate.sh")
	}
	flags := scriptFlags(t, gate.Run, "scripts/gate.sh")
	known := gateScriptFlags(t)

	for name, r := range gateRoutes {
		t.Run(name, func(t *testing.T) {
			if r.flag != "" {
				if !known[strings.TrimPrefix(r.flag, "-")] {
					t.Errorf("flag %s is neither handled by scripts/gate.sh nor declared by upgrade-harness matrix", r.flag)
				}
				v, ok := flags[r.flag]
				switch {
				case !ok:
					t.Errorf("scripts/gate.sh is not given %s", r.flag)
				case !slices.Contains(inputsIn(gate.Env[v]), name):
					t.Errorf("%s \"$%s\": env %s = %q does not read inputs.%s", r.flag, v, v, gate.Env[v], name)
				}
			}
			if r.env != "" && !slices.Contains(inputsIn(gate.Env[r.env]), name) {
				t.Errorf("the gate step's env %s = %q does not read inputs.%s", r.env, gate.Env[r.env], name)
			}
			if r.uses != "" {
				found := false
				for _, s := range steps {
					if strings.HasPrefix(s.Uses, r.uses+"@") && slices.Contains(inputsIn(s.With[r.with]), name) {
						found = true
					}
				}
				if !found {
					t.Errorf("no %s step has with.%s reading inputs.%s", r.uses, r.with, name)
				}
			}
		})
	}
	// Every flag the step passes carries an input (no hard-wired value slipped in).
	for flag, v := range flags {
		if len(inputsIn(gate.Env[v])) == 0 {
			t.Errorf("scripts/gate.sh %s \"$%s\": env %s reads no input", flag, v, v)
		}
	}
}

// gateScriptFlags are the flags scripts/gate.sh accepts: its own and those of
// the matrix command it hands the rest to.
func gateScriptFlags(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	gate, err := os.ReadFile(filepath.Join(root, "scripts", "gate.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`uh_flag ([a-z-]+)`).FindAllStringSubmatch(string(gate), -1) {
		out[m[1]] = true
	}
	// A flag is a flagSpec of the command's flag model: {name: "…", …}.
	decl := regexp.MustCompile(`(?:\{|flagSpec\{)name: "([a-z-]+)", `)
	for _, f := range []string{"matrix.go", "flags.go"} {
		b, err := os.ReadFile(filepath.Join(root, "harness", "cmd", "upgrade-harness", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
	}
	if !out["candidate-manifests"] || !out["load-images"] {
		t.Fatalf("flag scan found %v: want the candidate flags and -load-images", out)
	}
	return out
}

// TestOnlyThePlatformCallsTheGate: the harness's own workflows test the
// harness; none of them runs the gate with empty inputs on itself.
func TestOnlyThePlatformCallsTheGate(t *testing.T) {
	for _, f := range workflows(t) {
		name := filepath.Base(f)
		if name == "platform-gate.yml" {
			continue
		}
		for jn, j := range readWorkflow(t, name).Jobs {
			if strings.Contains(j.Uses, "platform-gate.yml") {
				t.Errorf("%s job %s calls platform-gate.yml; the harness's own CI runs make test (one gate cell with a real candidate)", name, jn)
			}
			for _, s := range j.Steps {
				if strings.Contains(s.Run, "scripts/gate.sh") {
					t.Errorf("%s job %s runs scripts/gate.sh itself; make test runs it with a real candidate", name, jn)
				}
			}
		}
	}
}

// TestReadmeCallerSnippetUsesDeclaredInputs: the snippet the platform pastes
// names the workflow file and only inputs it declares.
func TestReadmeCallerSnippetUsesDeclaredInputs(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	var snippet string
	for _, b := range block {
		if strings.Contains(b[1], ".github/workflows/platform-gate.yml@") {
			snippet = b[1]
		}
	}
	if snippet == "" {
		t.Fatal("README has no ```yaml block calling .github/workflows/platform-gate.yml@<ref>")
	}
	var caller struct {
		Jobs map[string]struct {
			Uses string            `yaml:"uses"`
			With map[string]string `yaml:"with"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal([]byte(snippet), &caller); err != nil {
		t.Fatalf("README caller snippet is not YAML: %v", err)
	}
	inputs := readWorkflow(t, "platform-gate.yml").On.WorkflowCall.Inputs
	calls := 0
	for name, j := range caller.Jobs {
		if !strings.Contains(j.Uses, "platform-gate.yml@") {
			continue
		}
		calls++
		for k := range j.With {
			if _, ok := inputs[k]; !ok {
				t.Errorf("README snippet job %s passes %q, which platform-gate.yml does not declare", name, k)
			}
		}
		if j.With["images"] == "" {
			t.Errorf("README snippet job %s passes no images", name)
		}
	}
	if calls != 1 {
		t.Errorf("README snippet calls the gate %d times, want once", calls)
	}
}
