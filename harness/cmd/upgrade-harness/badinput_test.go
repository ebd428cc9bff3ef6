package main

// The bad-input corpus: every case runs the real binary (built once in
// TestMain) as a user would, with PATH pointing at stand-ins for go, docker,
// apt-get, kind and kubectl that only record that they were called, and HOME,
// the caches and the artifacts directory pointing at fresh directories. A bad
// input must exit 2 with a message that names the flag or file:line, the value
// and what is valid, and leave all of that untouched: no tool called, no cache
// or artifacts directory created. A valid input run the same way reaches the
// engine step (the go stand-in records the call and the run exits 3), which
// proves the detectors see a side effect when there is one.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
)

var (
	// binDir holds upgrade-harness, pause, runc-capfix and runner-probe, built where and as `make bin` does.
	binDir string
	// repoRoot is where the harness runs (catalogs in fixtures/releases).
	repoRoot string
	// fakeBin holds the recording stand-ins.
	fakeBin string
)

// standIns are the programs a run may reach first when it touches the machine.
var standIns = []string{"go", "docker", "dockerd", "apt-get", "kind", "kubectl", "git", "debootstrap"}

func TestMain(m *testing.M) {
	os.Exit(func() int {
		root, err := filepath.Abs(filepath.Join("..", "..", ".."))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		repoRoot = root
		tmp, err := os.MkdirTemp("", "uh-badinput-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		// Where and as `make bin` builds them (its flags, -buildvcs=false
		// included), so that after `make bin` (make test runs it first) go
		// build finds them up to date instead of linking all four again
		// (this package took 21-25 s after a change, 14 s so), and so does
		// make's own `go build` in the tests below.
		binDir = filepath.Join(repoRoot, "bin")
		build := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", binDir+"/", "./harness/cmd/...")
		build.Dir = repoRoot
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building the harness: %v\n%s", err, out)
			return 1
		}
		fakeBin = filepath.Join(tmp, "fakebin")
		if err := os.MkdirAll(fakeBin, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		for _, name := range standIns {
			script := "#!/bin/sh\necho \"" + name + " $*\" >> \"$UH_CALLS\"\nexit 97\n"
			if err := os.WriteFile(filepath.Join(fakeBin, name), []byte(script), 0o755); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return m.Run()
	}())
}

// sandbox is the world of one run: where a side effect would show.
type sandbox struct {
	home, cache, artifacts, calls string
}

func newSandbox(t *testing.T) sandbox {
	d := t.TempDir()
	s := sandbox{home: filepath.Join(d, "home"), cache: filepath.Join(d, "cache"), artifacts: filepath.Join(d, "artifacts"), calls: filepath.Join(d, "calls")}
	for _, dir := range []string{s.home, s.cache} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s sandbox) env(path string, extra ...string) []string {
	env := []string{"PATH=" + path, "HOME=" + s.home, "XDG_CACHE_HOME=" + s.cache, "UH_CALLS=" + s.calls,
		"ARTIFACTS=" + s.artifacts, "TMPDIR=" + os.TempDir()}
	return append(env, extra...)
}

// sideEffects lists what the run left behind.
func (s sandbox) sideEffects(t *testing.T) []string {
	t.Helper()
	var found []string
	if data, err := os.ReadFile(s.calls); err == nil {
		found = append(found, "called: "+strings.TrimSpace(string(data)))
	}
	for _, dir := range []string{s.home, s.cache} {
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			found = append(found, fmt.Sprintf("%s holds %d entries", dir, len(entries)))
		}
	}
	if entries, err := os.ReadDir(s.artifacts); err == nil {
		found = append(found, fmt.Sprintf("artifacts dir created with %d entries", len(entries)))
	}
	return found
}

type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
	// maxRSS is the peak resident memory of the process and the children it
	// waited for, in bytes.
	maxRSS int64
}

// maxRunRSS bounds a refused run's peak memory: the harness binary alone
// starts at about 80 MB (its Kubernetes libraries), and no input may add more
// than the 100 MB a catalog or manifest check is allowed.
const maxRunRSS = 180 << 20

func run(t *testing.T, env []string, dir, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(t0)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = ru.Maxrss << 10 // kilobytes on Linux
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running %s %v: %v", name, args, err)
	}
	return r
}

// internals is what a message must never show a user.
var internals = regexp.MustCompile(`panic|goroutine \d|\bmain\.|BuildInput|KUBERNETES_MASTER|\b(catalog|matrix|cluster|images|upgrade|platform|report|exitcode)\.[A-Z]|!!(seq|map|str)|%!|<nil>`)

// fixtures writes the files the cases point at and returns their directory.
func fixtures(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(d, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("good.yaml", goodCatalog(""))
	write("two-docs.yaml", goodCatalog("")+"---\n"+goodCatalog(""))
	write("syntax.yaml", "apiVersion: x\n  kind: : :\n")
	write("tab.yaml", "apiVersion: x\nkind: Catalog\n\tname: y\n")
	write("unknown-rule.yaml", goodCatalog("      expectRules: {no-401s: fail}\n"))
	write("unknown-field.yaml", strings.Replace(goodCatalog(""), "build: pull", "buidl: pull", 1))
	write("bad-caller.yaml", goodCatalog("      expect401: [{caller: frontend}]\n"))
	write("bad-image.yaml", strings.Replace(goodCatalog(""), "r.io/x/op:v0.2.0", "r.io/x::1", 1))
	write("dup.yaml", strings.Replace(goodCatalog(""), "name: good", "name: good\nname: again", 1))
	write("wrong-kind.yaml", strings.Replace(goodCatalog(""), "labels: [ci]", "labels: ci", 1))
	write("missing-path.yaml", strings.Replace(goodCatalog(""), "git: {url: https://github.com/ambient-code/platform, ref: v0.2.0}", "path: nowhere/v0.2.0", 1))
	write("empty.yaml", "")
	write("big.yaml", "# "+strings.Repeat("x", catalog.MaxFileSize+10)+"\n")
	write("catdir/other.yaml", goodCatalog(""))
	write("manifests/kind-v0.2.0.yaml", platformManifests)
	write("not-a-kubeconfig.yaml", "foo: bar\n")
	write("kubeconfig", `apiVersion: v1
kind: Config
current-context: alpha
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts:
  - {name: alpha, context: {cluster: c, user: u}}
  - {name: beta, context: {cluster: c, user: u}}
`)
	write("a-file", "not a directory\n")
	for _, dir := range []string{"a-dir.yaml", "empty-dir"} {
		if err := os.MkdirAll(filepath.Join(d, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(d, "fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Catalogs whose shape once cost the parser memory out of proportion.
	write("deep-brackets.yaml", "a: "+strings.Repeat("[", 50000)+strings.Repeat("]", 50000)+"\n")
	write("deep-braces.yaml", "a: "+strings.Repeat("{a: ", 100000)+strings.Repeat("}", 100000)+"\n")
	var deep, keys strings.Builder
	for i := 0; i < 40; i++ {
		deep.WriteString(strings.Repeat(" ", i) + "a:\n")
	}
	write("deep-block.yaml", deep.String())
	for i := 0; keys.Len() < 1000000; i++ {
		keys.WriteString(fmt.Sprintf("key%d: 1\n", i))
	}
	write("wide.yaml", keys.String())
	write("long-name.yaml", strings.Replace(goodCatalog(""), "name: good", "name: "+strings.Repeat("x", 1000000), 1))
	write("aliases.yaml", "a: &a x\nb:\n"+strings.Repeat("  - *a\n", 2000))
	write("documents.yaml", strings.Repeat("---\n", 1001))
	write("binary.yaml", "\x00\x01\x02\xff\xfe binary")
	write("not-utf8.yaml", "name: \xff\xfe\n")
	// Manifests that are not the platform's.
	write("junk-manifests.yaml", "hello: [world\n")
	write("binary-manifests.yaml", "\x7fELF\x02\x01\x01\x00\x00\x00")
	write("ns-manifests.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: ambient-code}\n")
	write("kindless-manifests.yaml", "apiVersion: v1\nmetadata: {name: x}\n")
	write("json-manifests.json", `{"apiVersion": "v1", "kind":`)
	write("text-only/README.txt", "no manifests here\n")
	write("bad-kustomization/kustomization.yaml", "resources: [missing.yaml]\n")
	write("fifo-in-dir/placeholder.txt", "")
	if err := syscall.Mkfifo(filepath.Join(d, "fifo-in-dir", "a.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(d, "huge-manifests.yaml")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 50<<20); err != nil { // sparse: 50 MB that take no disk
		t.Fatal(err)
	}
	write("junk-mdir/kind-v0.2.0.yaml", "hello: [world\n")
	write("junk-mdir/kind-v0.2.2.yaml", platformManifests)
	write("fifo-mdir/kind-v0.2.2.yaml", platformManifests)
	write("manifests-ns/kind-v0.2.0.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: ambient-code}\n")
	write("manifests-ns/kind-v0.2.2.yaml", platformManifests)
	if err := syscall.Mkfifo(filepath.Join(d, "fifo-mdir", "kind-v0.2.0.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Catalogs whose release v0.2.0 points at such manifests.
	for name, path := range map[string]string{"junk-path.yaml": "junk-manifests.yaml", "fifo-path.yaml": "fifo.yaml",
		"empty-dir-path.yaml": "empty-dir", "ns-path.yaml": "ns-manifests.yaml", "huge-path.yaml": "huge-manifests.yaml"} {
		write(name, strings.Replace(goodCatalog(""), "git: {url: https://github.com/ambient-code/platform, ref: v0.2.0}", "path: "+path, 1))
	}
	return d
}

// goodCatalog is a valid pull catalog (no path checks, no simulated images);
// extraCell is added to its one cell.
func goodCatalog(extraCell string) string {
	return `apiVersion: upgrade-harness.ambient-e2e/v1alpha1
kind: Catalog
name: good
build: pull
releases:
  - version: v0.2.0
    images: {operator: r.io/x/op:v0.2.0, backend: r.io/x/be:v0.2.0, runner: r.io/x/ru:v0.2.0}
    manifests:
      git: {url: https://github.com/ambient-code/platform, ref: v0.2.0}
  - version: v0.2.2
    images: {operator: r.io/x/op:v0.2.2, backend: r.io/x/be:v0.2.2, runner: r.io/x/ru:v0.2.2}
    manifests:
      git: {url: https://github.com/ambient-code/platform, ref: v0.2.2}
matrix:
  cells:
    - from: v0.2.0
      to: v0.2.2
      expect: fail
      why: "#1425"
      labels: [ci]
` + extraCell
}

// badInputs is the corpus. In args, {f} is the fixtures directory, {art}
// the run's artifacts directory. want are substrings of stderr: the flag or
// file:line, the field, the value and what is valid.
var badInputs = []struct {
	name string
	args []string
	env  []string
	want []string
}{
	// Arguments and flags.
	{"no command", nil, nil, []string{"usage: upgrade-harness <command>", "matrix"}},
	{"unknown command", []string{"frobnicate"}, nil, []string{`unknown command "frobnicate"`, "matrix"}},
	{"positional ends the flags", []string{"matrix", "v0.2.0", "-to", "v9", "-keep", "never"}, nil,
		[]string{`unexpected argument "v0.2.0"`, `"-to" "v9" "-keep" "never" after it were not read`, "-from v0.2.0"}},
	{"positional after flags", []string{"matrix", "-keep", "never", "extra"}, nil, []string{`unexpected argument "extra"`, "matrix takes flags only"}},
	{"cells with a stray argument", []string{"cells", "stray", "-labels", "x"}, nil, []string{`unexpected argument "stray"`, `"-labels" "x"`}},
	{"unknown flag", []string{"matrix", "-frm", "v0.2.0"}, nil, []string{"flag provided but not defined: -frm", "-from"}},
	{"flag given twice", []string{"matrix", "-from", "v0.2.0", "-from=v0.2.1"}, nil, []string{"flag -from is given twice", "-from a,b"}},
	{"bad bool", []string{"matrix", "-existing=maybe"}, nil, []string{`invalid boolean value "maybe" for -existing`}},
	{"-keep", []string{"matrix", "-keep", "sometimes"}, nil, []string{`-keep "sometimes"`, "on-failure, always or never"}},
	// Catalog files.
	{"catalog name not found", []string{"matrix", "-catalog", "nope"}, nil, []string{`-catalog "nope"`, "fixtures/releases/nope.yaml does not exist", "simulated, upstream"}},
	{"catalog name invalid", []string{"matrix", "-catalog", "Simulated"}, nil, []string{`"Simulated" is not a catalog name`, "simulated, upstream"}},
	{"catalog file missing", []string{"matrix", "-catalog", "{f}/nope.yaml"}, nil, []string{`-catalog {f}/nope.yaml does not exist`, "want a catalog YAML file"}},
	{"catalog is /dev/zero", []string{"matrix", "-catalog", "/dev/zero"}, nil, []string{`-catalog /dev/zero is a character device, not a regular file`}},
	{"catalog is a FIFO", []string{"matrix", "-catalog", "{f}/fifo.yaml"}, nil, []string{"fifo.yaml is a named pipe (FIFO), not a regular file"}},
	{"catalog is a directory", []string{"matrix", "-catalog", "{f}/a-dir.yaml"}, nil, []string{"a-dir.yaml is a directory, not a regular file"}},
	{"catalog too big", []string{"matrix", "-catalog", "{f}/big.yaml"}, nil, []string{"-catalog {f}/big.yaml is 1048589 bytes", "want at most 1048576 bytes"}},
	{"catalog empty", []string{"cells", "-catalog", "{f}/empty.yaml"}, nil, []string{"empty.yaml: file is empty", "want a Catalog document"}},
	{"two YAML documents", []string{"matrix", "-catalog", "{f}/two-docs.yaml"}, nil, []string{"two-docs.yaml:21: a second YAML document starts here", "want exactly one Catalog document"}},
	{"YAML syntax error", []string{"matrix", "-catalog", "{f}/syntax.yaml"}, nil, []string{"syntax.yaml:2:9: YAML syntax error"}},
	{"YAML tab", []string{"cells", "-catalog", "{f}/tab.yaml"}, nil, []string{"tab.yaml:3:1: YAML syntax error"}},
	{"unknown rule in expectRules", []string{"matrix", "-catalog", "{f}/unknown-rule.yaml"}, nil,
		[]string{"unknown-rule.yaml:21: matrix.cells[0].expectRules.no-401s", `"no-401s" is not a verdict rule`, "no-runner-401"}},
	{"unknown field", []string{"matrix", "-catalog", "{f}/unknown-field.yaml"}, nil, []string{"unknown-field.yaml:4: buidl", `unknown field "buidl"`, "valid fields: apiVersion"}},
	{"expect401 caller", []string{"matrix", "-catalog", "{f}/bad-caller.yaml"}, nil, []string{"bad-caller.yaml:21: matrix.cells[0].expect401[0].caller", `"frontend"`, "backend, operator or kubelet"}},
	{"bad image reference", []string{"cells", "-catalog", "{f}/bad-image.yaml"}, nil, []string{"bad-image.yaml:7: releases[0].images.operator", `"r.io/x::1"`, "want"}},
	{"field set twice", []string{"matrix", "-catalog", "{f}/dup.yaml"}, nil, []string{"dup.yaml:4: name", "is set twice (first at line 3)"}},
	{"wrong kind", []string{"matrix", "-catalog", "{f}/wrong-kind.yaml"}, nil, []string{"wrong-kind.yaml:20: matrix.cells[0].labels", `the scalar "ci" (want a list)`}},
	{"missing local manifests", []string{"matrix", "-catalog", "{f}/missing-path.yaml"}, nil, []string{"missing-path.yaml:9: releases[0].manifests.path", `"nowhere/v0.2.0" does not exist`}},
	{"catalog name mismatch", []string{"matrix", "-catalog-dir", "{f}/catdir", "-catalog", "other"}, nil, []string{"other.yaml:3: name", `"good" does not match the file name (want "other")`}},
	{"catalog dir missing", []string{"matrix", "-catalog-dir", "{f}/nodir"}, nil, []string{"-catalog-dir {f}/nodir: does not exist", "fixtures/releases"}},
	// Filters and orders.
	{"-from unknown", []string{"matrix", "-from", "v9.9.9"}, nil, []string{`-from "v9.9.9": not a release of catalog simulated`, "v0.2.0, v0.2.1"}},
	{"-to unknown", []string{"matrix", "-to", "latest"}, nil, []string{`-to "latest": not a release of catalog simulated`, "v0.2.7"}},
	{"-labels unknown", []string{"matrix", "-labels", "weekly"}, nil, []string{`-labels "weekly": on no cell of catalog simulated`, "ci, "}},
	{"-cell bad glob", []string{"matrix", "-cell", "v0.2.[0"}, nil, []string{`-cell "v0.2.[0": not a valid glob`, "v0.2.0-*"}},
	{"-cell matches nothing", []string{"matrix", "-cell", "v9*"}, nil, []string{"no cell of catalog simulated matches -cell v9*", "v0.2.0-v0.2.2"}},
	{"filters match nothing", []string{"matrix", "-from", "v0.2.7", "-to", "v0.2.0"}, nil, []string{"no cell of catalog simulated matches -from v0.2.7 -to v0.2.0", "-order"}},
	{"-order unknown", []string{"matrix", "-order", "sideways"}, nil, []string{`-order: "sideways" is not a valid order`, "all-at-once, operator-first"}},
	{"-order component twice", []string{"matrix", "-from", "v0.2.0", "-to", "v0.2.2", "-order", "runner,runner"}, nil, []string{`-order: "runner,runner"`, "listed twice"}},
	{"-order needs one from and to", []string{"matrix", "-order", "backend-first"}, nil, []string{"-order backend-first: no selected cell has this order", "exactly one -from and one -to"}},
	// Overrides, remap, manifests.
	{"-overrides not a pair", []string{"matrix", "-overrides", "backend"}, nil, []string{`-overrides "backend"`, "is not component=image", "operator=localhost/pr/vteam_operator:pr-1"}},
	{"-overrides unknown component", []string{"matrix", "-overrides", "frontend=r.io/f:1"}, nil, []string{`-overrides "frontend=r.io/f:1"`, `"frontend"`, "operator"}},
	{"-overrides twice", []string{"matrix", "-overrides", "backend=a:1,backend=b:1"}, nil, []string{"override for backend is given twice"}},
	{"-overrides unpinned", []string{"matrix", "-from", "v0.2.0", "-to", "v0.2.2", "-overrides", "runner=quay.io/x/y"}, nil, []string{`-overrides "runner=quay.io/x/y"`, "neither tag nor digest", "quay.io/x/y:v0.2.0"}},
	{"-overrides invalid reference", []string{"matrix", "-from", "v0.2.0", "-to", "v0.2.2", "-overrides", "backend=quay.io/x::1"}, nil, []string{`-overrides "backend=quay.io/x::1"`, `"quay.io/x::1"`}},
	{"-overrides a component the order never upgrades", []string{"matrix", "-from", "v0.2.0", "-to", "v0.2.2", "-order", "operator", "-overrides", "runner=r.io/ru:1"}, nil,
		[]string{"override runner", `order "operator" never upgrades runner`}},
	{"-image-remap not a pair", []string{"matrix", "-image-remap", "quay.io"}, nil, []string{`-image-remap: "quay.io" is not FROM=TO`, "quay.io/ambient_code=localhost/ambient-sim"}},
	{"-image-remap matches nothing", []string{"matrix", "-image-remap", "quay.io/nobody=localhost/x"}, nil,
		[]string{`-image-remap "quay.io/nobody=localhost/x"`, "matches no image of catalog simulated", "localhost/ambient-sim"}},
	{"-image-remap twice", []string{"matrix", "-image-remap", "a.io/x=b.io/y,a.io/x=c.io/z"}, nil, []string{"a.io/x is remapped twice"}},
	{"-image-remap to a release the simulation lacks", []string{"matrix", "-catalog", "upstream", "-image-remap", "quay.io/ambient_code=localhost/ambient-sim", "-from", "v0.2.4", "-to", "v0.2.7"}, nil,
		[]string{`-image-remap "quay.io/ambient_code=localhost/ambient-sim"`, "no release for localhost/ambient-sim/vteam_operator:v0.2.4", "v0.2.0, v0.2.1, v0.2.2, v0.2.3, v0.2.6, v0.2.7"}},
	{"-manifests-dir missing", []string{"matrix", "-manifests-dir", "{f}/nodir"}, nil, []string{`-manifests-dir "{f}/nodir": does not exist`, "kind-{version}.yaml"}},
	{"-manifests-dir is a file", []string{"matrix", "-manifests-dir", "{f}/a-file"}, nil, []string{`-manifests-dir "{f}/a-file": does not exist or is not a directory`}},
	{"-manifests-dir lacks a release", []string{"matrix", "-catalog", "upstream", "-from", "v0.2.0", "-to", "v0.2.2", "-manifests-dir", "{f}/manifests"}, nil,
		[]string{`-manifests-dir "{f}/manifests"`, "release v0.2.2: {f}/manifests/kind-v0.2.2.yaml does not exist", "holds the manifests of v0.2.0 only"}},
	{"-manifests-dir holds nothing", []string{"matrix", "-catalog", "upstream", "-from", "v0.2.0", "-to", "v0.2.2", "-manifests-dir", "{f}/empty-dir"}, nil,
		[]string{"release v0.2.0:", "release v0.2.2:", "holds no manifest file of catalog upstream"}},
	// The candidate release (a platform PR's build).
	{"-candidate-name without a candidate", []string{"matrix", "-candidate-name", "pr-1"}, nil,
		[]string{`-candidate-name "pr-1": -candidate-name, -candidate-expect and -candidate-why need -candidate-manifests or -candidate-images`}},
	{"-candidate-name invalid", []string{"matrix", "-candidate-images", "backend=localhost/pr/vteam_backend:pr-1", "-candidate-name", "PR_1"}, nil,
		[]string{`-candidate-name: "PR_1" is not a valid candidate name`, "e.g. pr-1234"}},
	{"-candidate-images unpinned", []string{"matrix", "-dry-run", "-candidate-images", "backend=localhost/x"}, nil,
		[]string{`-candidate-images.backend: "localhost/x" has neither tag nor digest`}},
	{"-candidate-images unknown component", []string{"cells", "-candidate-images", "frontend=localhost/x:y"}, nil,
		[]string{`-candidate-images: override "frontend=localhost/x:y": unknown component "frontend"`}},
	{"-candidate-manifests missing", []string{"matrix", "-candidate-manifests", "{f}/no-overlay"}, nil,
		[]string{`-candidate-manifests: "{f}/no-overlay" does not exist`}},
	{"-to besides the candidate", []string{"matrix", "-candidate-images", "backend=localhost/x:y", "-to", "v0.2.3"}, nil,
		[]string{`-to "v0.2.3": with a candidate every cell goes to it`}},
	{"-candidate-expect fail without why", []string{"matrix", "-candidate-images", "backend=localhost/x:y", "-candidate-expect", "fail"}, nil,
		[]string{"-candidate-why: is required when a failure is expected"}},
	{"cells -from unknown with a candidate", []string{"cells", "-candidate-images", "backend=localhost/x:y", "-from", "v9.9.9"}, nil,
		[]string{`-from: "v9.9.9" is not a release of this catalog`}},
	// Catalogs of pathological shape: refused before parsing, in bounded memory.
	{"catalog nested 50,000 [ deep", []string{"matrix", "-catalog", "{f}/deep-brackets.yaml"}, nil, []string{"deep-brackets.yaml:1:", "nest more than 32 levels", "want at most 32"}},
	{"catalog nested 100,000 { deep", []string{"cells", "-catalog", "{f}/deep-braces.yaml"}, nil, []string{"deep-braces.yaml:1:", "nest more than 32 levels"}},
	{"catalog nested 40 block levels", []string{"matrix", "-catalog", "{f}/deep-block.yaml"}, nil, []string{"deep-block.yaml:33:", "nest more than 32 levels"}},
	{"catalog with 1 MB of keys", []string{"matrix", "-catalog", "{f}/wide.yaml"}, nil, []string{"wide.yaml:1:1:", "keys (want at most 1000"}},
	{"catalog name of 1 MB", []string{"matrix", "-catalog", "{f}/long-name.yaml"}, nil, []string{"long-name.yaml:3: name", "(1000000 bytes)"}},
	{"catalog with 2,000 aliases", []string{"matrix", "-catalog", "{f}/aliases.yaml"}, nil, []string{"aliases.yaml:3:", "items (want at most 1000"}},
	{"catalog of 1,001 documents", []string{"cells", "-catalog", "{f}/documents.yaml"}, nil, []string{"documents.yaml", "more than 1000 YAML documents", "exactly one Catalog document"}},
	{"catalog of binary bytes", []string{"matrix", "-catalog", "{f}/binary.yaml"}, nil, []string{"binary.yaml", "YAML syntax error"}},
	{"catalog not UTF-8", []string{"matrix", "-catalog", "{f}/not-utf8.yaml"}, nil, []string{"not-utf8.yaml", "UTF-8"}},
	{"catalog is /proc/self/status", []string{"matrix", "-catalog", "/proc/self/status"}, nil, []string{"/proc/self/status"}},
	{"catalog is /dev/null", []string{"matrix", "-catalog", "/dev/null"}, nil, []string{"-catalog /dev/null is a character device"}},
	// A catalog release whose local manifests are not the platform's.
	{"release manifests junk", []string{"matrix", "-catalog", "{f}/junk-path.yaml"}, nil,
		[]string{"junk-path.yaml:9: releases[0].manifests.path", `"junk-manifests.yaml"`, "is not YAML or JSON", "want Kubernetes objects"}},
	{"release manifests junk, dry run", []string{"matrix", "-dry-run", "-catalog", "{f}/junk-path.yaml"}, nil, []string{"junk-path.yaml:9: releases[0].manifests.path"}},
	{"release manifests a FIFO", []string{"matrix", "-catalog", "{f}/fifo-path.yaml"}, nil, []string{"fifo-path.yaml:9: releases[0].manifests.path", "is a named pipe (FIFO), not a regular file"}},
	{"release manifests an empty dir", []string{"matrix", "-dry-run", "-catalog", "{f}/empty-dir-path.yaml"}, nil,
		[]string{"empty-dir-path.yaml:9: releases[0].manifests.path", "neither a kustomization.yaml nor any *.yaml"}},
	{"release manifests without the platform", []string{"matrix", "-catalog", "{f}/ns-path.yaml"}, nil,
		[]string{"ns-path.yaml:9: releases[0].manifests.path", "no Deployment ambient-code/agentic-operator or ambient-code/backend-api"}},
	{"release manifests of 50 MB", []string{"matrix", "-dry-run", "-catalog", "{f}/huge-path.yaml"}, nil, []string{"huge-path.yaml:9:", "is 52428800 bytes", "want at most 8388608 bytes"}},
	{"-manifests-dir file is junk", []string{"matrix", "-catalog", "upstream", "-from", "v0.2.0", "-to", "v0.2.2", "-manifests-dir", "{f}/junk-mdir"}, nil,
		[]string{`-manifests-dir "{f}/junk-mdir": release v0.2.0:`, "kind-v0.2.0.yaml document 1 is not YAML or JSON"}},
	{"-manifests-dir file is a FIFO", []string{"matrix", "-dry-run", "-catalog", "upstream", "-from", "v0.2.0", "-to", "v0.2.2", "-manifests-dir", "{f}/fifo-mdir"}, nil,
		[]string{`-manifests-dir "{f}/fifo-mdir"`, "kind-v0.2.0.yaml is not a regular file"}},
	{"-manifests-dir without the platform", []string{"matrix", "-catalog", "upstream", "-from", "v0.2.0", "-to", "v0.2.2", "-manifests-dir", "{f}/manifests-ns"}, nil,
		[]string{`-manifests-dir "{f}/manifests-ns": release v0.2.0:`, "no Deployment"}},
	// Candidate manifests: read and checked before the engine step, in -dry-run too.
	{"-candidate-manifests an empty directory", []string{"matrix", "-candidate-manifests", "{f}/empty-dir"}, nil, []string{`-candidate-manifests`, `neither a kustomization.yaml nor any *.yaml`}},
	{"-candidate-manifests an empty directory, dry run", []string{"matrix", "-dry-run", "-candidate-manifests", "{f}/empty-dir"}, nil, []string{`-candidate-manifests`, `neither a kustomization.yaml nor any *.yaml`}},
	{"-candidate-manifests a binary file", []string{"matrix", "-candidate-manifests", "{f}/binary-manifests.yaml"}, nil, []string{`-candidate-manifests`, `binary-manifests.yaml document 1 is not YAML or JSON`}},
	{"-candidate-manifests a binary file, dry run", []string{"matrix", "-dry-run", "-candidate-manifests", "{f}/binary-manifests.yaml"}, nil, []string{`-candidate-manifests`, `binary-manifests.yaml document 1 is not YAML or JSON`}},
	{"-candidate-manifests not YAML", []string{"matrix", "-candidate-manifests", "{f}/junk-manifests.yaml"}, nil, []string{`-candidate-manifests`, `junk-manifests.yaml document 1 is not YAML or JSON`, `want Kubernetes objects`}},
	{"-candidate-manifests not YAML, dry run", []string{"matrix", "-dry-run", "-candidate-manifests", "{f}/junk-manifests.yaml"}, nil, []string{`-candidate-manifests`, `junk-manifests.yaml document 1 is not YAML or JSON`, `want Kubernetes objects`}},
	{"-candidate-manifests without the platform", []string{"matrix", "-candidate-manifests", "{f}/ns-manifests.yaml"}, nil, []string{`-candidate-manifests`, `holds 1 object(s) but no Deployment`, `ambient-code/agentic-operator and ambient-code/backend-api`}},
	{"-candidate-manifests without the platform, dry run", []string{"matrix", "-dry-run", "-candidate-manifests", "{f}/ns-manifests.yaml"}, nil, []string{`-candidate-manifests`, `holds 1 object(s) but no Deployment`, `ambient-code/agentic-operator and ambient-code/backend-api`}},
	{"-candidate-manifests objects without kind", []string{"matrix", "-candidate-manifests", "{f}/kindless-manifests.yaml"}, nil, []string{`-candidate-manifests`, `kindless-manifests.yaml document 1`, `must all be set`}},
	{"-candidate-manifests objects without kind, dry run", []string{"matrix", "-dry-run", "-candidate-manifests", "{f}/kindless-manifests.yaml"}, nil, []string{`-candidate-manifests`, `kindless-manifests.yaml document 1`, `must all be set`}},
	{"-candidate-manifests broken JSON", []string{"matrix", "-candidate-manifests", "{f}/json-manifests.json"}, nil, []string{`-candidate-manifests`, `json-manifests.json document 1 is not YAML or JSON`}},
	{"-candidate-manifests broken JSON, dry run", []string{"matrix", "-dry-run", "-candidate-manifests", "{f}/json-manifests.json"}, nil, []string{`-candidate-manifests`, `json-manifests.json document 1 is not YAML or JSON`}},
	{"-candidate-manifests a FIFO", []string{"matrix", "-candidate-manifests", "{f}/fifo.yaml"}, nil, []string{`-candidate-manifests`, `fifo.yaml is a named pipe (FIFO), not a regular file`}},
	{"-candidate-manifests a FIFO, dry run", []string{"matrix", "-dry-run", "-candidate-manifests", "{f}/fifo.yaml"}, nil, []string{`-candidate-manifests`, `fifo.yaml is a named pipe (FIFO), not a regular file`}},
	{"-candidate-manifests a FIFO in its directory", []string{"matrix", "-candidate-manifests", "{f}/fifo-in-dir"}, nil, []string{`-candidate-manifests`, `a.yaml is a named pipe (FIFO), not a regular file`}},
	{"-candidate-manifests a FIFO in its directory, dry run", []string{"matrix", "-dry-run", "-candidate-manifests", "{f}/fifo-in-dir"}, nil, []string{`-candidate-manifests`, `a.yaml is a named pipe (FIFO), not a regular file`}},
	{"-candidate-manifests a 50 MB file", []string{"matrix", "-candidate-manifests", "{f}/huge-manifests.yaml"}, nil, []string{`-candidate-manifests`, `huge-manifests.yaml is 52428800 bytes`, `want at most 8388608 bytes`}},
	{"-candidate-manifests a 50 MB file, dry run", []string{"matrix", "-dry-run", "-candidate-manifests", "{f}/huge-manifests.yaml"}, nil, []string{`-candidate-manifests`, `huge-manifests.yaml is 52428800 bytes`, `want at most 8388608 bytes`}},
	{"-candidate-manifests /dev/zero", []string{"matrix", "-candidate-manifests", "/dev/zero"}, nil, []string{`-candidate-manifests`, `/dev/zero is a character device, not a regular file`}},
	{"-candidate-manifests /dev/zero, dry run", []string{"matrix", "-dry-run", "-candidate-manifests", "/dev/zero"}, nil, []string{`-candidate-manifests`, `/dev/zero is a character device, not a regular file`}},
	{"-candidate-manifests a directory of text", []string{"matrix", "-candidate-manifests", "{f}/text-only"}, nil, []string{`-candidate-manifests`, `text-only has neither a kustomization.yaml nor any *.yaml`}},
	{"-candidate-manifests a directory of text, dry run", []string{"matrix", "-dry-run", "-candidate-manifests", "{f}/text-only"}, nil, []string{`-candidate-manifests`, `text-only has neither a kustomization.yaml nor any *.yaml`}},
	{"-candidate-manifests a broken kustomization", []string{"matrix", "-candidate-manifests", "{f}/bad-kustomization"}, nil, []string{`-candidate-manifests`, `kustomize build`, `missing.yaml`}},
	{"-candidate-manifests a broken kustomization, dry run", []string{"matrix", "-dry-run", "-candidate-manifests", "{f}/bad-kustomization"}, nil, []string{`-candidate-manifests`, `kustomize build`, `missing.yaml`}},
	{"gate-style candidate with upstream", []string{"matrix", "-catalog", "upstream", "-candidate-manifests", "{f}/ns-manifests.yaml"}, nil,
		[]string{"-candidate-manifests", "no Deployment"}},
	{"cells with candidate manifests junk", []string{"cells", "-candidate-manifests", "{f}/junk-manifests.yaml"}, nil, []string{"-candidate-manifests", "is not YAML or JSON"}},
	// Where the run goes.
	{"-kubeconfig missing", []string{"matrix", "-kubeconfig", "{f}/nope"}, nil, []string{"-kubeconfig {f}/nope: not a readable file", "~/.kube/config"}},
	{"-kubeconfig not a kubeconfig", []string{"matrix", "-kubeconfig", "{f}/not-a-kubeconfig.yaml"}, nil, []string{"-kubeconfig {f}/not-a-kubeconfig.yaml", "has no contexts"}},
	{"-kubeconfig is a directory", []string{"matrix", "-kubeconfig", "{f}/empty-dir"}, nil, []string{"-kubeconfig {f}/empty-dir: not a readable file"}},
	{"-context unknown", []string{"matrix", "-kubeconfig", "{f}/kubeconfig", "-context", "gamma"}, nil, []string{`-context "gamma": not in {f}/kubeconfig`, "want one of alpha, beta"}},
	{"-context without a kubeconfig", []string{"matrix", "-context", "alpha"}, nil, []string{`-context "alpha": applies to an existing cluster`, "-kubeconfig"}},
	{"-existing without a kubeconfig", []string{"matrix", "-existing"}, nil, []string{"-existing", "$KUBECONFIG", "not a readable file"}},
	{"-existing with a bad $KUBECONFIG", []string{"matrix", "-existing"}, []string{"KUBECONFIG={f}/not-a-kubeconfig.yaml"}, []string{"-existing", "has no contexts"}},
	{"-cluster with -kubeconfig", []string{"matrix", "-kubeconfig", "{f}/kubeconfig", "-cluster", "uh-x"}, nil, []string{`-cluster "uh-x": names a kind cluster`, "want one of the two"}},
	{"-cluster invalid", []string{"matrix", "-cluster", "Bad_Name"}, nil, []string{`-cluster "Bad_Name"`, "lowercase letters, digits and '-'"}},
	{"NODE_IMAGE invalid", []string{"matrix"}, []string{"NODE_IMAGE=kindest/node::v1"}, []string{`NODE_IMAGE="kindest/node::v1"`}},
	{"-artifacts is a file", []string{"matrix", "-artifacts", "{f}/a-file"}, nil, []string{"-artifacts {f}/a-file: is a file", "want a directory"}},
	{"-artifacts under a file", []string{"matrix", "-artifacts", "{f}/a-file/reports"}, nil, []string{"-artifacts {f}/a-file/reports: {f}/a-file is a file"}},
	{"-artifacts empty", []string{"matrix", "-artifacts", ""}, nil, []string{"-artifacts is empty"}},
	{"-diagnose not a bool", []string{"matrix", "-diagnose=yes"}, nil, []string{`invalid boolean value "yes" for -diagnose`}},
	{"-probe not a bool", []string{"matrix", "-probe=off"}, nil, []string{`invalid boolean value "off" for -probe`}},
	// diagnose: the same checks as matrix, and exactly one -from and one other -to.
	{"diagnose without -to", []string{"diagnose", "-from", "v0.2.0"}, nil, []string{"diagnose needs exactly one -from and one -to release", `-to ""`, "-from v0.2.0 -to v0.2.2"}},
	{"diagnose with a list", []string{"diagnose", "-from", "v0.2.0,v0.2.1", "-to", "v0.2.2"}, nil, []string{"diagnose needs exactly one -from and one -to release", `-from "v0.2.0,v0.2.1"`}},
	{"diagnose -to unknown", []string{"diagnose", "-from", "v0.2.0", "-to", "v9.9.9"}, nil, []string{`-to "v9.9.9": not a release of catalog simulated`, "v0.2.0, v0.2.1"}},
	{"diagnose the same release", []string{"diagnose", "-from", "v0.2.2", "-to", "v0.2.2"}, nil, []string{`-to "v0.2.2": the same release as -from`, "two different releases"}},
	{"diagnose positional", []string{"diagnose", "v0.2.0", "-to", "v0.2.2"}, nil, []string{`unexpected argument "v0.2.0"`, "diagnose takes flags only", "-from v0.2.0"}},
	{"diagnose flag given twice", []string{"diagnose", "-from", "v0.2.0", "-from", "v0.2.1", "-to", "v0.2.2"}, nil, []string{"flag -from is given twice"}},
	{"diagnose catalog not found", []string{"diagnose", "-catalog", "nope", "-from", "v0.2.0", "-to", "v0.2.2"}, nil, []string{`-catalog "nope"`, "simulated, upstream"}},
	{"diagnose -image-remap matches nothing", []string{"diagnose", "-from", "v0.2.0", "-to", "v0.2.2", "-image-remap", "quay.io/nobody=localhost/x"}, nil,
		[]string{`-image-remap "quay.io/nobody=localhost/x"`, "matches no image of catalog simulated"}},
	{"diagnose -manifests-dir lacks a release", []string{"diagnose", "-catalog", "upstream", "-from", "v0.2.0", "-to", "v0.2.2", "-manifests-dir", "{f}/manifests"}, nil,
		[]string{`-manifests-dir "{f}/manifests"`, "release v0.2.2: {f}/manifests/kind-v0.2.2.yaml does not exist"}},
	{"diagnose -keep", []string{"diagnose", "-from", "v0.2.0", "-to", "v0.2.2", "-keep", "sometimes"}, nil, []string{`-keep "sometimes"`, "on-failure, always or never"}},
	{"diagnose -cluster invalid", []string{"diagnose", "-from", "v0.2.0", "-to", "v0.2.2", "-cluster", "Bad_Name"}, nil, []string{`-cluster "Bad_Name"`}},
	{"diagnose -context without a kubeconfig", []string{"diagnose", "-from", "v0.2.0", "-to", "v0.2.2", "-context", "alpha"}, nil, []string{`-context "alpha": applies to an existing cluster`}},
	{"diagnose -artifacts is a file", []string{"diagnose", "-from", "v0.2.0", "-to", "v0.2.2", "-artifacts", "{f}/a-file"}, nil, []string{"-artifacts {f}/a-file: is a file"}},
	// Other commands.
	{"cells -latest with a filter", []string{"cells", "-latest", "-from", "v0.2.0"}, nil, []string{"-latest prints the catalog's newest release", "got -from"}},
	{"cells unknown label", []string{"cells", "-labels", "weekly"}, nil, []string{`-labels "weekly"`, "ci"}},
	{"bench unknown release", []string{"bench", "-from", "v9.9.9"}, nil, []string{`-from "v9.9.9": not a release`}},
	{"bench cell not in the catalog", []string{"bench", "-from", "v0.2.1", "-to", "v0.2.2"}, nil, []string{"catalog simulated has no all-at-once cell v0.2.1→v0.2.2"}},
	{"bench -scale", []string{"bench", "-scale", "1,0"}, nil, []string{`-scale "1,0": "0" is not a positive integer`}},
	{"bench -artifacts file", []string{"bench", "-artifacts", "{f}/a-file"}, nil, []string{"-artifacts {f}/a-file: is a file"}},
	{"bench positional", []string{"bench", "now"}, nil, []string{`unexpected argument "now"`}},
	{"images unknown release", []string{"images", "-releases", "v0.2.0,v0.2.4"}, nil, []string{`-releases "v0.2.0,v0.2.4": "v0.2.4" is not a simulated release`, "v0.2.3, v0.2.6"}},
	{"images positional", []string{"images", "v0.2.0"}, nil, []string{`unexpected argument "v0.2.0"`, "-releases v0.2.0"}},
	{"engine positional", []string{"engine", "start"}, nil, []string{`unexpected argument "start"`}},
	{"node-image bad version", []string{"node-image", "-kubernetes-version", "1.33"}, nil, []string{`-kubernetes-version "1.33"`, "v1.MINOR.PATCH"}},
	{"node-image positional", []string{"node-image", "v1.33.13"}, nil, []string{`unexpected argument "v1.33.13"`, "-kubernetes-version v1.33.13"}},
	{"cluster without action", []string{"cluster"}, nil, []string{"want an action first: up, down, list, clean"}},
	{"cluster unknown action", []string{"cluster", "sideways"}, nil, []string{`got "sideways"`, "up, down, list, clean"}},
	{"cluster flag before action", []string{"cluster", "-name", "uh-x", "up"}, nil, []string{`got "-name"`}},
	{"cluster up positional", []string{"cluster", "up", "extra"}, nil, []string{`unexpected argument "extra"`}},
	{"cluster down invalid name", []string{"cluster", "down", "-name", "Not Valid"}, nil, []string{`"Not Valid" is not a kind cluster name`}},
	{"cluster clean with -name", []string{"cluster", "clean", "-name", "uh-x"}, nil, []string{`clean: -name "uh-x" does not apply`}},
}

func TestBadInputIsRefusedBeforeAnySideEffect(t *testing.T) {
	f := fixtures(t)
	var slowest time.Duration
	var slowestCase, largestCase string
	var largest int64
	for _, tc := range badInputs {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t)
			subst := strings.NewReplacer("{f}", f, "{art}", sb.artifacts)
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = subst.Replace(a)
			}
			var env []string
			for _, e := range tc.env {
				env = append(env, subst.Replace(e))
			}
			r := run(t, sb.env(fakeBin, env...), repoRoot, filepath.Join(binDir, "upgrade-harness"), args...)
			t.Logf("exit %d in %v: %s", r.code, r.took.Round(time.Millisecond), lastLine(r.stderr))
			if r.took > slowest {
				slowest, slowestCase = r.took, tc.name
			}
			if r.code != exitcode.BadInput {
				t.Errorf("exit code %d, want %d (bad input)\nstderr: %s", r.code, exitcode.BadInput, r.stderr)
			}
			for _, w := range tc.want {
				if w = subst.Replace(w); !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
				}
			}
			if m := internals.FindString(r.stderr); m != "" {
				t.Errorf("stderr shows internals (%q):\n%s", m, r.stderr)
			}
			if fx := sb.sideEffects(t); len(fx) > 0 {
				t.Errorf("side effects before exit %d: %s", r.code, strings.Join(fx, "; "))
			}
			if r.maxRSS > maxRunRSS {
				t.Errorf("peak memory %d MB, want at most %d MB", r.maxRSS>>20, maxRunRSS>>20)
			}
			if r.maxRSS > largest {
				largest, largestCase = r.maxRSS, tc.name
			}
		})
	}
	t.Logf("%d bad inputs; slowest refusal %v (%s); most memory %d MB (%s)", len(badInputs), slowest.Round(time.Millisecond), slowestCase, largest>>20, largestCase)
}

// TestArtifactsDirNotWritable: root writes anywhere, except into an immutable
// directory (chattr +i), which is what the check must see.
func TestArtifactsDirNotWritable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "locked")
	if err := os.Mkdir(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
			t.Skipf("running as root and chattr +i %s failed (%v: %s): no directory root cannot write", dir, err, out)
		}
		t.Cleanup(func() { _ = exec.Command("chattr", "-i", dir).Run() })
	}
	sb := newSandbox(t)
	r := run(t, sb.env(fakeBin), repoRoot, filepath.Join(binDir, "upgrade-harness"), "matrix", "-artifacts", filepath.Join(dir, "reports"))
	if r.code != exitcode.BadInput || !strings.Contains(r.stderr, dir+" (where it would be created) is not writable") {
		t.Fatalf("exit %d, stderr %s; want 2 naming the unwritable directory", r.code, r.stderr)
	}
	if fx := sb.sideEffects(t); len(fx) > 0 {
		t.Fatalf("side effects: %v", fx)
	}
}

// TestValidInputPassesTheChecksAndReachesTheEngine proves the detectors:
// the same input that -dry-run accepts (exit 0, nothing touched) goes on to
// the engine step when run for real, where the go stand-in records the call
// and the run fails as infrastructure (exit 3).
func TestValidInputPassesTheChecksAndReachesTheEngine(t *testing.T) {
	args := []string{"matrix", "-from", "v0.2.0", "-to", "v0.2.2", "-keep", "never"}
	sb := newSandbox(t)
	r := run(t, sb.env(fakeBin), repoRoot, filepath.Join(binDir, "upgrade-harness"), append(args, "-dry-run")...)
	if r.code != exitcode.OK || !strings.Contains(r.stdout, "v0.2.0-v0.2.2 ") || !strings.Contains(r.stdout, "images simulated, built for v0.2.0, v0.2.2") {
		t.Fatalf("-dry-run: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if fx := sb.sideEffects(t); len(fx) > 0 {
		t.Fatalf("-dry-run had side effects: %v", fx)
	}
	t.Logf("dry run accepted in %v", r.took.Round(time.Millisecond))

	sb = newSandbox(t)
	r = run(t, sb.env(fakeBin), repoRoot, filepath.Join(binDir, "upgrade-harness"), args...)
	if r.code != exitcode.Infrastructure {
		t.Fatalf("real run with stand-in tools: exit %d, want 3\nstderr: %s", r.code, r.stderr)
	}
	fx := sb.sideEffects(t)
	if !slices.ContainsFunc(fx, func(s string) bool { return strings.HasPrefix(s, "called: go build") }) {
		t.Fatalf("the engine step was not detected; side effects seen: %v", fx)
	}
	if _, err := os.Stat(sb.artifacts); err == nil {
		t.Fatalf("reports written although no cell ran")
	}

	r = run(t, newSandbox(t).env(fakeBin), repoRoot, filepath.Join(binDir, "upgrade-harness"), "cells", "-labels", "ci")
	if r.code != 0 || !strings.Contains(r.stdout, `"name":"v0.2.0-v0.2.2"`) {
		t.Fatalf("cells -labels ci: exit %d, stdout %s, stderr %s", r.code, r.stdout, r.stderr)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// makeTools finds make and go (skipping t without them) and returns the
// environment that lets `make bin` run the real go in a sandbox (its
// telemetry counters go to a config dir of their own).
func makeTools(t *testing.T) (makeBin, goBin string, toolEnv []string) {
	t.Helper()
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skip("no make on this machine")
	}
	goBin, err = exec.LookPath("go")
	if err != nil {
		t.Skip("no go on PATH")
	}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS"} {
		out, err := exec.Command(goBin, "env", k).Output()
		if err != nil {
			t.Fatal(err)
		}
		toolEnv = append(toolEnv, k+"="+strings.TrimSpace(string(out)))
	}
	return makeBin, goBin, append(toolEnv, "GOTOOLCHAIN=local", "XDG_CONFIG_HOME="+t.TempDir())
}

// TestMakePassesValuesAsDataAndChecksThemFirst drives the Makefile's own
// targets as a user types them: values with shell or make syntax reach the
// harness as text (and are refused as such), nothing runs before the check,
// and the harness's exit code is named.
func TestMakePassesValuesAsDataAndChecksThemFirst(t *testing.T) {
	makeBin, goBin, toolEnv := makeTools(t)
	f := fixtures(t)
	tests := []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"repro without FROM", []string{"repro"}, nil, []string{"usage: make repro FROM=v0.2.0 TO=v0.2.2"}},
		{"repro with a list", []string{"repro", "FROM=v0.2.0,v0.2.1", "TO=v0.2.2"}, nil, []string{"one release each for FROM and TO"}},
		{"shell code in FROM", []string{"repro", "FROM=v0.2.0;touch {marker}", "TO=v0.2.2"}, nil,
			[]string{`-from "v0.2.0;touch {marker}": not a release of catalog simulated`, "make repro: upgrade-harness exited 2 (bad input)"}},
		{"command substitution in CATALOG", []string{"e2e", "CATALOG=$(touch {marker})x", "FROM=v0.2.0", "TO=v0.2.2"}, nil, []string{`-catalog $(touch {marker})x does not exist`}},
		{"backquotes in OVERRIDES", []string{"e2e", "OVERRIDES=backend=`touch {marker}`"}, nil, []string{"-overrides", "touch {marker}"}},
		{"make code in OVERRIDES", []string{"e2e", "OVERRIDES=$(shell touch {marker})"}, nil, []string{`-overrides "$(shell touch {marker})"`}},
		{"shell code from the environment", []string{"e2e", "KEEP=never"}, []string{"FROM=v0.2.0';touch {marker};'", "TO=v0.2.2"}, []string{`-from "v0.2.0';touch {marker};'"`}},
		{"e2e unknown release", []string{"e2e", "FROM=v9.9.9"}, nil, []string{`-from "v9.9.9"`, "make e2e: upgrade-harness exited 2 (bad input)"}},
		{"ORDER alone is not dropped", []string{"e2e", "ORDER=backend-first"}, nil, []string{"-order backend-first: no selected cell has this order"}},
		{"e2e bad KEEP", []string{"e2e", "KEEP=sometimes"}, nil, []string{`-keep "sometimes"`}},
		{"e2e manifests dir lacking a release", []string{"e2e", "CATALOG=upstream", "FROM=v0.2.0", "TO=v0.2.2", "MANIFESTS_DIR={f}/manifests", "IMAGE_REMAP=quay.io/ambient_code=localhost/ambient-sim"}, nil,
			[]string{"release v0.2.2: {f}/manifests/kind-v0.2.2.yaml does not exist"}},
		{"e2e DIAGNOSE not a bool", []string{"e2e", "DIAGNOSE=yes;touch {marker}"}, nil, []string{`invalid boolean value "yes;touch {marker}" for -diagnose`, "make e2e: upgrade-harness exited 2 (bad input)"}},
		{"diagnose without TO", []string{"diagnose", "FROM=v0.2.0"}, nil, []string{"usage: make diagnose FROM=v0.2.0 TO=v0.2.2"}},
		{"shell code in diagnose's FROM", []string{"diagnose", "FROM=v0.2.0;touch {marker}", "TO=v0.2.2"}, nil,
			[]string{`-from "v0.2.0;touch {marker}": not a release of catalog simulated`, "make diagnose: upgrade-harness exited 2 (bad input)"}},
		{"bench artifacts is a file", []string{"bench", "ARTIFACTS={f}/a-file"}, nil, []string{"-artifacts {f}/a-file: is a file"}},
		{"shell code in CANDIDATE_IMAGES", []string{"e2e", "CANDIDATE_IMAGES=backend=localhost/x:y;touch {marker}"}, nil,
			[]string{`-candidate-images.backend: "localhost/x:y;touch {marker}" is not a valid image reference`, "make e2e: upgrade-harness exited 2 (bad input)"}},
		{"CANDIDATE_NAME alone", []string{"e2e", "CANDIDATE_NAME=$(shell touch {marker})"}, nil,
			[]string{`-candidate-name "$(shell touch {marker})": -candidate-name, -candidate-expect and -candidate-why need`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t)
			marker := filepath.Join(t.TempDir(), "ran")
			subst := strings.NewReplacer("{f}", f, "{marker}", marker)
			args := []string{"-C", repoRoot, "BIN=" + binDir, "GO=" + goBin}
			for _, a := range tc.args {
				args = append(args, subst.Replace(a))
			}
			env := append(sb.env(fakeBin+":/usr/bin:/bin"), toolEnv...)
			for _, e := range tc.env {
				env = append(env, subst.Replace(e))
			}
			r := run(t, env, repoRoot, makeBin, args...)
			t.Logf("make exit %d in %v: %s", r.code, r.took.Round(time.Millisecond), lastLine(r.stderr))
			if r.code != 2 {
				t.Errorf("make exit %d, want 2\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if w = subst.Replace(w); !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
				}
			}
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("a value was run as code: %s exists", marker)
			}
			if fx := sb.sideEffects(t); len(fx) > 0 {
				t.Errorf("side effects: %s", strings.Join(fx, "; "))
			}
		})
	}
}

// TestMakeDefaultsArtifactsToTheCheckout: with no ARTIFACTS given, make hands
// the harness the checkout's _artifacts as an absolute path (the e2e tests,
// which run in tests/e2e, and the CLIs they start in the checkout must both
// find it), not the unexpanded text of its default.
func TestMakeDefaultsArtifactsToTheCheckout(t *testing.T) {
	makeBin, goBin, toolEnv := makeTools(t)
	var env []string
	for _, e := range newSandbox(t).env(fakeBin + ":/usr/bin:/bin") {
		if !strings.HasPrefix(e, "ARTIFACTS=") {
			env = append(env, e)
		}
	}
	env = append(env, toolEnv...)
	r := run(t, env, repoRoot, makeBin, "-C", repoRoot, "BIN="+binDir, "GO="+goBin, "e2e", "FROM=v9.9.9")
	if r.code != 2 {
		t.Fatalf("make e2e FROM=v9.9.9: exit %d, want 2 (bad input)\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if want := "-artifacts " + filepath.Join(repoRoot, "_artifacts") + " "; !strings.Contains(r.stdout, want) {
		t.Errorf("the harness was not given %q:\n%s", want, r.stdout)
	}
}

// TestReproLineRunsTheSameCellThroughMake: a repro line as the report prints
// it — catalog given as a file, manifests dir, image remap, overrides — run
// through the shell and the Makefile reaches the harness as the same single
// cell (its plan line), passes every check and goes on to the engine step.
func TestReproLineRunsTheSameCellThroughMake(t *testing.T) {
	makeBin, goBin, _ := makeTools(t)
	manifests := filepath.Join(t.TempDir(), "rendered manifests")
	for _, v := range []string{"v0.2.0", "v0.2.2"} {
		if err := os.MkdirAll(manifests, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(manifests, "kind-"+v+".yaml"), []byte(platformManifests), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o, err := upgrade.ParseOrder("operator,runner")
	if err != nil {
		t.Fatal(err)
	}
	c := upgrade.Cell{Catalog: "upstream", From: "v0.2.0", To: "v0.2.2", Order: o, Overrides: platform.Images{Runner: "localhost/ambient-sim/vteam_claude_runner:v0.2.2"}}
	line := report.ReproCommand(c, report.ReproOptions{
		Command: fmt.Sprintf("%s -C %s BIN=%s GO=%s repro", makeBin, repoRoot, binDir, goBin),
		Catalog: "fixtures/releases/upstream.yaml", ManifestsDir: manifests,
		ImageRemap: map[string]string{"quay.io/ambient_code": "localhost/ambient-sim"}})
	for _, v := range []string{"CATALOG=fixtures/releases/upstream.yaml", "MANIFESTS_DIR=", "IMAGE_REMAP=quay.io/ambient_code=localhost/ambient-sim", "OVERRIDES="} {
		if !strings.Contains(line, v) {
			t.Fatalf("repro line %s lacks %s", line, v)
		}
	}
	sb := newSandbox(t)
	gc, err := exec.Command(goBin, "env", "GOCACHE", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	paths := strings.Fields(string(gc))
	env := append(sb.env(fakeBin+":/usr/bin:/bin"), "GOCACHE="+paths[0], "GOMODCACHE="+paths[1], "GOTOOLCHAIN=local", "XDG_CONFIG_HOME="+t.TempDir())
	r := run(t, env, repoRoot, "/bin/sh", "-c", line)
	wantPlan := "[matrix] catalog upstream (fixtures/releases/upstream.yaml): 1 cell(s); images simulated, built for v0.2.0, v0.2.2 (remapped quay.io/ambient_code=localhost/ambient-sim); manifests from " + manifests
	for _, w := range []string{wantPlan, "v0.2.0-v0.2.2-operator-runner", "overrides runner=localhost/ambient-sim/vteam_claude_runner:v0.2.2", "keep always",
		"make repro: upgrade-harness exited 3 (infrastructure failed)"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
		}
	}
	if fx := sb.sideEffects(t); !slices.ContainsFunc(fx, func(s string) bool { return strings.HasPrefix(s, "called: go build") }) {
		t.Errorf("the valid repro did not reach the engine step: %v", fx)
	}
}

// TestMakefileTakesEveryReproVariable: each variable a repro line can carry
// is one the Makefile passes on as data.
func TestMakefileTakesEveryReproVariable(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^USER_VARS := (.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile declares no USER_VARS")
	}
	vars := strings.Fields(string(m[1]))
	for _, v := range []string{report.VarFrom, report.VarTo, report.VarOrder, report.VarCatalog, report.VarNodeImage, report.VarOverrides, report.VarManifestsDir, report.VarImageRemap} {
		if !slices.Contains(vars, v) {
			t.Errorf("repro variable %s is not among the Makefile's USER_VARS %v", v, vars)
		}
	}
}

// platformManifests is the least a manifests file must hold to pass the input
// check: the platform's two Deployments.
const platformManifests = `apiVersion: apps/v1
kind: Deployment
metadata: {name: agentic-operator, namespace: ambient-code}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: backend-api, namespace: ambient-code}
`

// TestScriptsRefuseBadInputFirst drives scripts/run-cell.sh and
// scripts/gate.sh as the nightly and the gate do: a bad input, candidate
// manifests included, exits 2 naming it, within the memory bound, with no
// engine, docker or kind call and nothing written. The scripts build the
// harness with the real go (TestMain built it, so the build is a no-op);
// every other tool is a recording stand-in.
func TestScriptsRefuseBadInputFirst(t *testing.T) {
	_, goBin, toolEnv := makeTools(t)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash on this machine")
	}
	scriptBin := t.TempDir()
	for _, name := range standIns {
		if name == "go" {
			continue
		}
		if err := os.Symlink(filepath.Join(fakeBin, name), filepath.Join(scriptBin, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(goBin, filepath.Join(scriptBin, "go")); err != nil {
		t.Fatal(err)
	}
	f := fixtures(t)
	tests := []struct {
		name   string
		script string
		args   []string
		want   []string
	}{
		{"run-cell without -to", "run-cell.sh", []string{"-from", "v0.2.0"}, []string{"want -cell NAME, or -from RELEASE and -to RELEASE"}},
		{"run-cell unknown release", "run-cell.sh", []string{"-catalog", "simulated", "-from", "v9.9.9", "-to", "v0.2.2"}, []string{`-from "v9.9.9": not a release of catalog simulated`}},
		{"run-cell deep catalog", "run-cell.sh", []string{"-catalog", "{f}/deep-brackets.yaml", "-from", "v0.2.0", "-to", "v0.2.2"}, []string{"deep-brackets.yaml:1:", "nest more than 32 levels"}},
		{"run-cell junk release manifests", "run-cell.sh", []string{"-catalog", "{f}/junk-path.yaml", "-from", "v0.2.0", "-to", "v0.2.2"},
			[]string{"junk-path.yaml:9: releases[0].manifests.path", "is not YAML or JSON"}},
		{"gate without a candidate", "gate.sh", []string{"-from", "v0.2.6"}, []string{"want -candidate-manifests DIR|FILE and/or -candidate-images"}},
		{"gate -to", "gate.sh", []string{"-candidate-images", "backend=localhost/x:y", "-to", "v0.2.7"}, []string{"-to is the candidate"}},
		{"gate empty manifests dir", "gate.sh", []string{"-catalog", "simulated", "-candidate-manifests", "{f}/empty-dir"}, []string{"-candidate-manifests", "neither a kustomization.yaml nor any *.yaml"}},
		{"gate binary manifests", "gate.sh", []string{"-catalog", "simulated", "-candidate-manifests", "{f}/binary-manifests.yaml"}, []string{"-candidate-manifests", "is not YAML or JSON"}},
		{"gate FIFO manifests, dry run", "gate.sh", []string{"-dry-run", "-catalog", "simulated", "-candidate-manifests", "{f}/fifo.yaml"}, []string{"is a named pipe (FIFO), not a regular file"}},
		{"gate 50 MB manifests", "gate.sh", []string{"-catalog", "simulated", "-candidate-manifests", "{f}/huge-manifests.yaml"}, []string{"is 52428800 bytes"}},
		{"gate manifests without the platform", "gate.sh", []string{"-candidate-manifests", "{f}/ns-manifests.yaml"}, []string{"no Deployment ambient-code/agentic-operator"}},
		{"gate deep catalog", "gate.sh", []string{"-catalog", "{f}/deep-braces.yaml", "-candidate-images", "backend=localhost/x:y"}, []string{"deep-braces.yaml:1:", "nest more than 32 levels"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t)
			subst := strings.NewReplacer("{f}", f)
			args := []string{filepath.Join(repoRoot, "scripts", tc.script)}
			for _, a := range tc.args {
				args = append(args, subst.Replace(a))
			}
			env := append(sb.env(scriptBin+":/usr/bin:/bin"), toolEnv...)
			r := run(t, env, t.TempDir(), bash, args...)
			t.Logf("exit %d in %v, %d MB: %s", r.code, r.took.Round(time.Millisecond), r.maxRSS>>20, lastLine(r.stderr))
			if r.code != exitcode.BadInput {
				t.Errorf("exit %d, want 2\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			for _, w := range tc.want {
				if w = subst.Replace(w); !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%.2000s", w, r.stderr)
				}
			}
			if fx := sb.sideEffects(t); len(fx) > 0 {
				t.Errorf("side effects: %s", strings.Join(fx, "; "))
			}
			if r.maxRSS > maxRunRSS {
				t.Errorf("peak memory %d MB, want at most %d MB", r.maxRSS>>20, maxRunRSS>>20)
			}
		})
	}
}
