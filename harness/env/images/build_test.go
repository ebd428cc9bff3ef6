package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
)

// fakeEngine plays go and docker: go build writes a fake binary to -o, docker
// image inspect answers from labels, docker import records the layer and label.
type fakeEngine struct {
	binaries map[string][]byte // package path -> binary content; default "ELF:<pkg>"
	labels   map[string]string // ref -> content label of an existing image
	commands []Command
	imports  map[string][]byte // ref -> tar layer
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{binaries: map[string][]byte{}, labels: map[string]string{}, imports: map[string][]byte{}}
}

func (f *fakeEngine) Run(_ context.Context, c Command) ([]byte, error) {
	f.commands = append(f.commands, c)
	switch {
	case c.Name == "go" && len(c.Args) > 0 && c.Args[0] == "build":
		out, pkg := "", c.Args[len(c.Args)-1]
		for i, a := range c.Args {
			if a == "-o" {
				out = c.Args[i+1]
			}
		}
		content, ok := f.binaries[pkg]
		if !ok {
			content = []byte("ELF:" + pkg)
		}
		return nil, os.WriteFile(out, content, 0o755)
	case c.Name == "docker" && c.Args[0] == "image" && c.Args[1] == "inspect":
		ref := c.Args[len(c.Args)-1]
		if l, ok := f.labels[ref]; ok {
			return []byte(l + "\n"), nil
		}
		return nil, fmt.Errorf("docker image inspect: exit status 1: Error: No such image: %s", ref)
	case c.Name == "docker" && c.Args[0] == "import":
		layer, err := io.ReadAll(c.Stdin)
		if err != nil {
			return nil, err
		}
		ref := c.Args[len(c.Args)-1]
		f.imports[ref] = layer
		for i, a := range c.Args {
			if a == "--change" {
				if v, ok := strings.CutPrefix(c.Args[i+1], "LABEL "+ContentLabel+"="); ok {
					f.labels[ref] = v
				}
			}
		}
		return []byte("sha256:deadbeef\n"), nil
	}
	return nil, fmt.Errorf("fake engine: unexpected command %s", c)
}

func (f *fakeEngine) count(sub string) int {
	n := 0
	for _, c := range f.commands {
		if strings.HasPrefix(c.Name+" "+strings.Join(c.Args, " "), sub) {
			n++
		}
	}
	return n
}

func testInput(t *testing.T, f *fakeEngine, log io.Writer) BuildInput {
	return BuildInput{CacheDir: t.TempDir(), ModuleDir: t.TempDir(), Commands: f, Log: log, GOARCH: "amd64", Busybox: fakeBusybox(t, ""),
		CheckBinary: func(string) error { return nil }}
}

// TestTruncatedBinaryIsBuiltAgain: a binary an interrupted build left cut
// short (which go build then keeps as up to date) is removed and compiled
// again before it goes into an image.
func TestTruncatedBinaryIsBuiltAgain(t *testing.T) {
	f := newFakeEngine()
	const pkg = "github.com/ambient-e2e/upgrade-harness/fixtures/platform/operator"
	f.binaries[pkg] = []byte("TRUNCATED")
	in := testInput(t, f, io.Discard)
	in.Releases, in.Components = []string{"v0.2.2"}, []Component{ComponentOperator}
	refused := 0
	in.CheckBinary = func(path string) error {
		if b, _ := os.ReadFile(path); string(b) == "TRUNCATED" {
			refused++
			f.binaries[pkg] = []byte("ELF:whole") // go build, with the stale file gone, writes it whole
			return errors.New("truncated")
		}
		return nil
	}
	if _, err := BuildSimulated(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	builds := 0
	for _, c := range f.commands {
		if c.Name == "go" {
			builds++
		}
	}
	layer := f.imports["localhost/ambient-sim/vteam_operator:v0.2.2"]
	if refused != 1 || builds != 2 || !bytes.Contains(layer, []byte("ELF:whole")) || bytes.Contains(layer, []byte("TRUNCATED")) {
		t.Fatalf("refused %d, go builds %d, layer has the whole binary: %v", refused, builds, bytes.Contains(layer, []byte("ELF:whole")))
	}
}

// fakeBusybox writes the smallest file debug/elf reads as a static x86-64
// executable (an ELF header with no program headers), followed by tag.
func fakeBusybox(t *testing.T, tag string) string {
	t.Helper()
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1       // 64-bit, little endian, version 1
	h[16], h[18], h[20] = 2, 62, 1   // ET_EXEC, EM_X86_64, EV_CURRENT
	h[52], h[54], h[58] = 64, 56, 64 // header, program and section header sizes
	p := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(p, append(h, []byte("BUSYBOX"+tag)...), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

type layerEntry struct {
	typ      byte
	mode     int64
	uid, gid int
	content  string
	link     string
}

func readLayer(t *testing.T, layer []byte) (map[string]layerEntry, []string) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(layer))
	entries := map[string]layerEntry{}
	var order []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return entries, order
		}
		if err != nil {
			t.Fatalf("layer is not a valid tar: %v", err)
		}
		body, _ := io.ReadAll(tr)
		entries[hdr.Name] = layerEntry{typ: hdr.Typeflag, mode: hdr.Mode, uid: hdr.Uid, gid: hdr.Gid, content: string(body), link: hdr.Linkname}
		order = append(order, hdr.Name)
	}
}

func TestLayerLayout(t *testing.T) {
	for _, tc := range []struct {
		component Component
		binaries  []string
	}{
		{ComponentRunner, []string{"usr/local/bin/runner"}},
		{ComponentOperator, []string{"usr/local/bin/operator"}},
		{ComponentBackend, []string{"usr/local/bin/backend"}},
		{ComponentStateSync, []string{"usr/local/bin/hydrate.sh", "usr/local/bin/sync.sh"}},
	} {
		t.Run(string(tc.component), func(t *testing.T) {
			spec, err := specFor(tc.component)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := spec.writeLayer(&buf, []byte("BINARY"), []byte("SHELL")); err != nil {
				t.Fatal(err)
			}
			entries, order := readLayer(t, buf.Bytes())
			want := map[string]layerEntry{
				"etc/":           {typ: tar.TypeDir, mode: 0o755},
				"etc/ssl/certs/": {typ: tar.TypeDir, mode: 0o755},
				"tmp/":           {typ: tar.TypeDir, mode: 0o1777},
				"usr/local/bin/": {typ: tar.TypeDir, mode: 0o755},
				"workspace/":     {typ: tar.TypeDir, mode: 0o777},
			}
			for _, b := range tc.binaries {
				want[b] = layerEntry{typ: tar.TypeReg, mode: 0o755, content: "BINARY"}
			}
			for name, w := range want {
				got, ok := entries[name]
				if !ok {
					t.Errorf("layer lacks %s; has %v", name, order)
					continue
				}
				if got.typ != w.typ || got.mode != w.mode || got.uid != 0 || got.gid != 0 || (w.typ == tar.TypeReg && got.content != w.content) {
					t.Errorf("%s = type %c mode %o uid %d gid %d, want type %c mode %o root-owned", name, got.typ, got.mode, got.uid, got.gid, w.typ, w.mode)
				}
			}
			if tc.component == ComponentRunner {
				// Upstream's PostStart hook runs /bin/sh -c "mkdir -p … && cp -f … || true" (docs/platform.md §10 item 1).
				if e := entries["bin/busybox"]; e.typ != tar.TypeReg || e.mode != 0o755 || e.content != "SHELL" {
					t.Errorf("bin/busybox = %+v, want the static busybox, mode 755", e)
				}
				for _, applet := range []string{"sh", "mkdir", "cp"} {
					if e := entries["bin/"+applet]; e.typ != tar.TypeSymlink || e.link != "busybox" {
						t.Errorf("bin/%s = %+v, want a symlink to busybox", applet, e)
					}
				}
			} else if _, ok := entries["bin/busybox"]; ok {
				t.Errorf("%s image carries a shell; only the runner needs one", tc.component)
			}
			if p := entries["etc/passwd"].content; !strings.Contains(p, "root:x:0:0:") || !strings.Contains(p, "default:x:1001:1001:") {
				t.Errorf("/etc/passwd = %q, want root and default (1001:1001)", p)
			}
			if g := entries["etc/group"].content; !strings.Contains(g, "root:x:0:") || !strings.Contains(g, "default:x:1001:") {
				t.Errorf("/etc/group = %q, want root and default (1001)", g)
			}
			// Parents come before children, or docker import creates them with default modes.
			seen := map[string]bool{"": true}
			for _, name := range order {
				parent := filepath.Dir(strings.TrimSuffix(name, "/"))
				if parent == "." {
					parent = ""
				}
				if !seen[parent] && !seen[parent+"/"] {
					t.Errorf("%s comes before its parent directory %s", name, parent)
				}
				seen[name] = true
			}
			var again bytes.Buffer
			_ = spec.writeLayer(&again, []byte("BINARY"), []byte("SHELL"))
			if !bytes.Equal(buf.Bytes(), again.Bytes()) {
				t.Error("layer is not byte-identical across two writes")
			}
		})
	}
}

func TestContentDigest(t *testing.T) {
	runner, _ := specFor(ComponentRunner)
	operator, _ := specFor(ComponentOperator)
	base := runner.contentDigest("v0.2.2", []byte("binary-1"), []byte("shell-1"))
	if !strings.HasPrefix(base, "sha256:") || len(base) != len("sha256:")+64 {
		t.Fatalf("digest %q, want sha256:<64 hex>", base)
	}
	if again := runner.contentDigest("v0.2.2", []byte("binary-1"), []byte("shell-1")); again != base {
		t.Errorf("digest not stable: %s vs %s", base, again)
	}
	changed := map[string]string{
		"binary changes":    runner.contentDigest("v0.2.2", []byte("binary-2"), []byte("shell-1")),
		"shell changes":     runner.contentDigest("v0.2.2", []byte("binary-1"), []byte("shell-2")),
		"release changes":   runner.contentDigest("v0.2.7", []byte("binary-1"), []byte("shell-1")),
		"component changes": operator.contentDigest("v0.2.2", []byte("binary-1"), nil),
	}
	modified := runner
	modified.User = 0
	changed["user changes"] = modified.contentDigest("v0.2.2", []byte("binary-1"), []byte("shell-1"))
	for name, d := range changed {
		if d == base {
			t.Errorf("%s: digest unchanged (%s)", name, d)
		}
	}
}

func TestImportArguments(t *testing.T) {
	f := newFakeEngine()
	in := testInput(t, f, io.Discard)
	in.Releases = []string{"v0.2.2"}
	in.Components = []Component{ComponentRunner}
	built, err := BuildSimulated(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	digest := built[0].ContentDigest
	var imp *Command
	for i := range f.commands {
		if f.commands[i].Args[0] == "import" {
			imp = &f.commands[i]
		}
	}
	if imp == nil {
		t.Fatalf("no docker import in %v", f.commands)
	}
	want := []string{"import",
		"--change", `ENTRYPOINT ["/usr/local/bin/runner"]`,
		"--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin",
		"--change", "ENV AGUI_PORT=8001",
		"--change", "USER 1001",
		"--change", "LABEL io.ambient-e2e.content=" + digest,
		"--change", "LABEL io.ambient-e2e.release=v0.2.2",
		"--change", "LABEL io.ambient-e2e.component=runner",
		"-", "localhost/ambient-sim/vteam_claude_runner:v0.2.2"}
	if imp.Name != "docker" || !reflect.DeepEqual(imp.Args, want) {
		t.Fatalf("import command\n got %s %q\nwant docker %q", imp.Name, imp.Args, want)
	}

	inspect := f.commands[1]
	wantInspect := []string{"image", "inspect", "-f", `{{ index .Config.Labels "io.ambient-e2e.content" }}`, "localhost/ambient-sim/vteam_claude_runner:v0.2.2"}
	if !reflect.DeepEqual(inspect.Args, wantInspect) {
		t.Errorf("inspect args %q, want %q", inspect.Args, wantInspect)
	}

	build := f.commands[0]
	wantBuild := []string{"build", "-trimpath", "-ldflags",
		"-s -w -X github.com/ambient-e2e/upgrade-harness/fixtures/platform/release.Baked=v0.2.2",
		"-o", binaryPath(in.CacheDir, ComponentRunner, "v0.2.2", "amd64"),
		"github.com/ambient-e2e/upgrade-harness/fixtures/platform/runner"}
	if build.Name != "go" || !reflect.DeepEqual(build.Args, wantBuild) || build.Dir != in.ModuleDir {
		t.Errorf("build command %s %q in %q, want go %q in %q", build.Name, build.Args, build.Dir, wantBuild, in.ModuleDir)
	}
	if strings.Join(build.Env, " ") != "CGO_ENABLED=0 GOOS=linux GOARCH=amd64" {
		t.Errorf("build env %v, want CGO_ENABLED=0 GOOS=linux GOARCH=amd64", build.Env)
	}
	entries, _ := readLayer(t, f.imports[want[len(want)-1]])
	if entries["usr/local/bin/runner"].content != "ELF:github.com/ambient-e2e/upgrade-harness/fixtures/platform/runner" {
		t.Error("imported layer does not carry the compiled binary")
	}
}

func TestReuseDecision(t *testing.T) {
	f := newFakeEngine()
	var log bytes.Buffer
	in := testInput(t, f, &log)
	in.Releases = []string{"v0.2.0", "v0.2.2"}
	first, err := BuildSimulated(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 8 || f.count("docker import") != 8 {
		t.Fatalf("first build: %d images, %d imports; want 8 and 8", len(first), f.count("docker import"))
	}
	for _, b := range first {
		if b.Reused {
			t.Errorf("%s reused on an empty engine", b.Ref)
		}
	}
	if got := strings.Count(log.String(), "\n"); got != 8 || !strings.Contains(log.String(), " built (content sha256:") {
		t.Errorf("progress log has %d lines, want 8 'built' lines:\n%s", got, log.String())
	}

	// Same binaries: everything is reused, nothing imported.
	log.Reset()
	second, err := BuildSimulated(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if f.count("docker import") != 8 {
		t.Fatalf("second build imported again: %d imports in total, want 8", f.count("docker import"))
	}
	for i, b := range second {
		if !b.Reused || b.ContentDigest != first[i].ContentDigest {
			t.Errorf("%s: reused=%v digest %s, want reused with %s", b.Ref, b.Reused, b.ContentDigest, first[i].ContentDigest)
		}
	}
	if strings.Count(log.String(), " reused ") != 8 {
		t.Errorf("want 8 reused lines:\n%s", log.String())
	}

	// A changed runner binary rebuilds only the runner images.
	f.binaries["github.com/ambient-e2e/upgrade-harness/fixtures/platform/runner"] = []byte("ELF:runner-v2")
	third, err := BuildSimulated(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range third {
		wantReused := b.Component != ComponentRunner
		if b.Reused != wantReused {
			t.Errorf("%s: reused=%v, want %v", b.Ref, b.Reused, wantReused)
		}
		if !wantReused && b.ContentDigest == first[i].ContentDigest {
			t.Errorf("%s: digest unchanged after the binary changed", b.Ref)
		}
	}

	// An image with the tag but a stale or missing label is replaced.
	f.labels["localhost/ambient-sim/vteam_operator:v0.2.0"] = "<no value>"
	in.Releases, in.Components = []string{"v0.2.0"}, []Component{ComponentOperator}
	fourth, err := BuildSimulated(context.Background(), in)
	if err != nil || fourth[0].Reused {
		t.Fatalf("image without label: reused=%v err=%v, want re-imported", fourth[0].Reused, err)
	}
}

func TestPrefixAndValidation(t *testing.T) {
	f := newFakeEngine()
	in := testInput(t, f, io.Discard)
	in.Releases = []string{"v0.2.7"}
	in.Components = []Component{ComponentStateSync}
	in.Prefix = "registry.local:5000/team/sim/"
	built, err := BuildSimulated(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if built[0].Ref != "registry.local:5000/team/sim/vteam_state_sync:v0.2.7" {
		t.Errorf("ref %q, want the custom prefix", built[0].Ref)
	}

	bad := []struct {
		name   string
		mutate func(*BuildInput)
		want   string
	}{
		{"no releases", func(in *BuildInput) { in.Releases = nil }, "Releases and BuildInput.Refs are empty"},
		{"unknown release", func(in *BuildInput) { in.Releases = []string{"v0.2.4"} }, `"v0.2.4" is not simulated`},
		{"unknown component", func(in *BuildInput) { in.Components = []Component{"frontend"} }, `component "frontend" is not simulated`},
		{"bad prefix", func(in *BuildInput) { in.Prefix = "Local Host/x" }, "not a valid image repository prefix"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(t, newFakeEngine(), io.Discard)
			in.Releases = []string{"v0.2.2"}
			tc.mutate(&in)
			_, err := BuildSimulated(context.Background(), in)
			if err == nil || !strings.Contains(err.Error(), tc.want) || exitcode.Of(err) != exitcode.BadInput {
				t.Fatalf("err %v (code %d), want bad input containing %q", err, exitcode.Of(err), tc.want)
			}
		})
	}
}

type failingImport struct{ *fakeEngine }

func (f failingImport) Run(ctx context.Context, c Command) ([]byte, error) {
	if c.Name == "docker" && c.Args[0] == "import" {
		return nil, errors.New("docker import: exit status 1: Cannot connect to the Docker daemon")
	}
	return f.fakeEngine.Run(ctx, c)
}

func TestEngineFailureIsInfrastructure(t *testing.T) {
	in := testInput(t, nil, io.Discard)
	in.Commands = failingImport{newFakeEngine()}
	in.Releases = []string{"v0.2.2"}
	_, err := BuildSimulated(context.Background(), in)
	if err == nil || exitcode.Of(err) != exitcode.Infrastructure || !strings.Contains(err.Error(), "vteam_operator:v0.2.2") {
		t.Fatalf("err %v (code %d), want an infrastructure error naming the image", err, exitcode.Of(err))
	}
}

func TestTarFilesKeepsOrderModesAndLinks(t *testing.T) {
	raw, err := TarFiles([]File{{Path: "/etc", Dir: true, Mode: 0o755}, {Path: "/etc/x", Mode: 0o600, Data: []byte("hi")}, {Path: "/sbin/init", Link: "/usr/lib/systemd/systemd"}})
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	var got []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		got = append(got, fmt.Sprintf("%s %o %c %s", h.Name, h.Mode, h.Typeflag, h.Linkname))
	}
	want := []string{"etc/ 755 5 ", "etc/x 600 0 ", "sbin/init 0 2 /usr/lib/systemd/systemd"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestBuildFromRefsUsesEachReferencesOwnTag(t *testing.T) {
	f := newFakeEngine()
	in := testInput(t, f, io.Discard)
	// A release v0.2.7-f1 borrowing the simulated v0.2.7 state-sync and the v0.2.2 runner;
	// its quay.io backend is not simulated and left to the caller.
	in.Refs = []string{
		"localhost/ambient-sim/vteam_state_sync:v0.2.7",
		"quay.io/ambient_code/vteam_backend:v0.2.7-f1",
		"localhost/ambient-sim/vteam_claude_runner:v0.2.2",
		"localhost/ambient-sim/vteam_state_sync:v0.2.7",
	}
	built, err := BuildSimulated(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, b := range built {
		refs = append(refs, b.Ref+" "+b.Release+" "+string(b.Component))
	}
	want := []string{
		"localhost/ambient-sim/vteam_claude_runner:v0.2.2 v0.2.2 runner",
		"localhost/ambient-sim/vteam_state_sync:v0.2.7 v0.2.7 state_sync",
	}
	if !reflect.DeepEqual(refs, want) {
		t.Fatalf("built %q, want %q (each once, in release order)", refs, want)
	}
	for _, c := range f.commands {
		if c.Name == "go" && !strings.Contains(strings.Join(c.Args, " "), "release.Baked="+map[bool]string{true: "v0.2.2", false: "v0.2.7"}[strings.HasSuffix(c.Args[len(c.Args)-1], "/runner")]) {
			t.Errorf("compiled with the wrong release baked in: %q", c.Args)
		}
	}

	// A seeded fault is a tag too: its release baked in, sorted after the release.
	fe := newFakeEngine()
	fin := testInput(t, fe, io.Discard)
	fin.Refs = []string{"localhost/ambient-sim/vteam_backend:v0.2.7-fault-header-name", "localhost/ambient-sim/vteam_backend:v0.2.7", "localhost/ambient-sim/vteam_backend:v0.2.2"}
	fbuilt, err := BuildSimulated(context.Background(), fin)
	if err != nil {
		t.Fatal(err)
	}
	if len(fbuilt) != 3 || fbuilt[0].Release != "v0.2.2" || fbuilt[1].Release != "v0.2.7" || fbuilt[2].Release != "v0.2.7-fault-header-name" {
		t.Fatalf("built %+v, want v0.2.2, v0.2.7, then the fault tag", fbuilt)
	}
	baked := false
	for _, c := range fe.commands {
		baked = baked || c.Name == "go" && strings.Contains(strings.Join(c.Args, " "), "release.Baked=v0.2.7-fault-header-name")
	}
	if !baked {
		t.Error("the fault tag was not baked into its binary")
	}

	for _, tc := range []struct{ ref, want string }{
		{"localhost/ambient-sim/vteam_state_sync:v0.2.7-f1", `tag "v0.2.7-f1" is not a simulated release; valid tags: v0.2.0`},
		{"localhost/ambient-sim/vteam_state_sync:v0.2.7-fault-nosuch", `fault "nosuch" is not seeded; valid faults: header-name`},
		{"localhost/ambient-sim/vteam_frontend:v0.2.7", `"vteam_frontend" is not a simulated image under localhost/ambient-sim; valid images: vteam_operator`},
		{"localhost/ambient-sim/vteam_backend", "has no tag"},
		{"localhost/ambient-sim/vteam_backend@sha256:" + strings.Repeat("a", 64), "built by tag, not pinned by digest"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			in := testInput(t, newFakeEngine(), io.Discard)
			in.Refs = []string{"localhost/ambient-sim/vteam_operator:v0.2.7", tc.ref}
			_, err := BuildSimulated(context.Background(), in)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "BuildInput.Refs[1]") || exitcode.Of(err) != exitcode.BadInput {
				t.Fatalf("err %v (code %d), want bad input naming Refs[1] and %q", err, exitcode.Of(err), tc.want)
			}
		})
	}
}

func TestParseSimulatedRef(t *testing.T) {
	c, r, err := ParseSimulatedRef("", "localhost/ambient-sim/vteam_operator:v0.2.6")
	if err != nil || c != ComponentOperator || r != "v0.2.6" {
		t.Fatalf("got %s %s %v", c, r, err)
	}
	if _, _, err := ParseSimulatedRef("", "quay.io/ambient_code/vteam_operator:v0.2.6"); !errors.Is(err, ErrNotSimulated) {
		t.Errorf("quay.io image: err %v, want ErrNotSimulated", err)
	}
}

// elfWithInterp is a minimal x86-64 executable with one PT_INTERP program
// header, i.e. a dynamically linked binary.
func elfWithInterp(t *testing.T) string {
	t.Helper()
	p := fakeBusybox(t, "")
	b, _ := os.ReadFile(p)
	h := b[:64]
	h[32] = 64 // e_phoff
	h[56] = 1  // e_phnum
	ph := make([]byte, 56)
	ph[0] = 3 // PT_INTERP
	out := append(append(append([]byte(nil), h...), ph...), []byte("/lib64/ld-linux-x86-64.so.2\x00")...)
	if err := os.WriteFile(p, out, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeApt plays apt-get and dpkg-deb: the first download fails as on a machine
// without package lists, update fixes that, dpkg-deb -x unpacks bin/busybox.
type fakeApt struct {
	t        *testing.T
	commands []string
	updated  bool
	content  string // path of the binary the package holds
}

func (f *fakeApt) Run(_ context.Context, c Command) ([]byte, error) {
	f.commands = append(f.commands, c.String())
	switch {
	case c.Name == "apt-get" && c.Args[0] == "update":
		f.updated = true
		return nil, nil
	case c.Name == "apt-get" && c.Args[0] == "download":
		if !f.updated {
			return nil, errors.New("apt-get download: exit status 100: E: Unable to locate package busybox-static")
		}
		return nil, os.WriteFile(filepath.Join(c.Dir, "busybox-static_1.35.0-4+b1_amd64.deb"), []byte("deb"), 0o644)
	case c.Name == "dpkg-deb" && c.Args[0] == "-x":
		root := c.Args[2]
		if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
			return nil, err
		}
		b, _ := os.ReadFile(f.content)
		return nil, os.WriteFile(filepath.Join(root, "bin", "busybox"), b, 0o755)
	}
	return nil, fmt.Errorf("fake apt: unexpected command %s", c)
}

func TestEnsureBusyboxDownloadsTheStaticPackageOnce(t *testing.T) {
	cache := t.TempDir()
	apt := &fakeApt{t: t, content: fakeBusybox(t, "-static")}
	// The host has only a dynamically linked busybox (Debian's "busybox" package).
	in := EnsureBusyboxInput{CacheDir: cache, GOARCH: "amd64", Commands: apt, HostPaths: []string{elfWithInterp(t)}}
	p, err := EnsureBusybox(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(cache, "busybox", "busybox") {
		t.Errorf("path %s, want it in the cache", p)
	}
	if b, _ := os.ReadFile(p); !strings.HasSuffix(string(b), "BUSYBOX-static") {
		t.Errorf("cached binary is not the package's")
	}
	want := []string{"apt-get download -qq busybox-static", "apt-get update -qq", "apt-get download -qq busybox-static", "dpkg-deb -x"}
	if len(apt.commands) != 4 || !strings.HasPrefix(apt.commands[3], want[3]) || !reflect.DeepEqual(apt.commands[:3], want[:3]) {
		t.Errorf("commands %q, want %q", apt.commands, want)
	}
	apt.commands = nil
	if again, err := EnsureBusybox(context.Background(), in); err != nil || again != p || len(apt.commands) != 0 {
		t.Errorf("second call: %s %v with commands %q, want the cached binary and no command", again, err, apt.commands)
	}

	// A static host busybox is used as it is.
	host := fakeBusybox(t, "-host")
	if got, err := EnsureBusybox(context.Background(), EnsureBusyboxInput{CacheDir: t.TempDir(), GOARCH: "amd64", Commands: apt, HostPaths: []string{host}}); err != nil || got != host {
		t.Errorf("static host busybox: %s %v, want %s", got, err, host)
	}
}

func TestBusyboxMustBeStaticForTheImagesArch(t *testing.T) {
	for name, tc := range map[string]struct {
		path, goarch, want string
	}{
		"dynamic":    {elfWithInterp(t), "amd64", "dynamically linked"},
		"other arch": {fakeBusybox(t, ""), "arm64", "built for EM_X86_64, the images for arm64"},
	} {
		t.Run(name, func(t *testing.T) {
			in := testInput(t, newFakeEngine(), io.Discard)
			in.Releases, in.Components, in.Busybox, in.GOARCH = []string{"v0.2.2"}, []Component{ComponentRunner}, tc.path, tc.goarch
			_, err := BuildSimulated(context.Background(), in)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "BuildInput.Busybox") {
				t.Fatalf("err %v, want one naming BuildInput.Busybox and %q", err, tc.want)
			}
		})
	}
	// Images without a shell need no busybox at all.
	in := testInput(t, newFakeEngine(), io.Discard)
	in.Releases, in.Components, in.Busybox = []string{"v0.2.2"}, []Component{ComponentOperator}, "/nonexistent/busybox"
	if _, err := BuildSimulated(context.Background(), in); err != nil {
		t.Errorf("operator image without busybox: %v", err)
	}
}

func TestWithoutShellLeavesOutBusyboxUnderItsOwnTag(t *testing.T) {
	f := newFakeEngine()
	in := testInput(t, f, io.Discard)
	in.Releases, in.Components, in.WithoutShell, in.Busybox = []string{"v0.2.7"}, []Component{ComponentRunner}, true, "/nonexistent/busybox"
	built, err := BuildSimulated(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if built[0].Ref != "localhost/ambient-sim/vteam_claude_runner:v0.2.7-noshell" {
		t.Errorf("ref %s", built[0].Ref)
	}
	entries, _ := readLayer(t, f.imports[built[0].Ref])
	if _, ok := entries["bin/sh"]; ok {
		t.Error("the no-shell runner image has /bin/sh")
	}
	if _, ok := entries["usr/local/bin/runner"]; !ok {
		t.Error("the no-shell runner image lacks the runner")
	}
}

func TestBuildProbeImage(t *testing.T) {
	f := newFakeEngine()
	in := testInput(t, f, io.Discard)
	in.Releases = []string{"v0.2.2"} // ignored
	b, err := BuildProbe(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if b.Ref != "localhost/ambient-sim/uh_runner_probe:v1" || b.Component != ComponentProbe || ProbeImageRef("") != b.Ref {
		t.Fatalf("built %+v", b)
	}
	var compiled []string
	for _, c := range f.commands {
		if c.Name == "go" {
			compiled = append(compiled, c.Args[len(c.Args)-1])
		}
	}
	if len(compiled) != 1 || !strings.HasSuffix(compiled[0], "/harness/cmd/runner-probe") {
		t.Fatalf("compiled %v, want only the probe", compiled)
	}
	entries, names := readLayer(t, f.imports[b.Ref])
	if _, ok := entries["usr/local/bin/runner-probe"]; !ok {
		t.Errorf("layer lacks the probe binary: %v", names)
	}
	if _, ok := entries["bin/sh"]; ok {
		t.Error("the probe image needs no shell")
	}
	// Same content: reused, not imported again.
	again, err := BuildProbe(context.Background(), in)
	if err != nil || !again.Reused {
		t.Fatalf("second build = %+v, %v, want reused", again, err)
	}
}

func TestBuildWireImage(t *testing.T) {
	f := newFakeEngine()
	in := testInput(t, f, io.Discard)
	b, err := BuildWire(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if b.Ref != "localhost/ambient-sim/uh_wire_witness:v1" || b.Component != ComponentWire || WireImageRef("") != b.Ref {
		t.Fatalf("built %+v", b)
	}
	var compiled []string
	for _, c := range f.commands {
		if c.Name == "go" {
			compiled = append(compiled, c.Args[len(c.Args)-1])
		}
	}
	if len(compiled) != 1 || !strings.HasSuffix(compiled[0], "/harness/cmd/uh-wire") {
		t.Fatalf("compiled %v, want only the witness", compiled)
	}
	entries, names := readLayer(t, f.imports[b.Ref])
	if _, ok := entries["usr/local/bin/uh-wire"]; !ok {
		t.Errorf("layer lacks the witness binary: %v", names)
	}
	if again, err := BuildWire(context.Background(), in); err != nil || !again.Reused {
		t.Fatalf("second build = %+v, %v, want reused", again, err)
	}
}

// TestAProcessChecksWhatItBuiltByItsLabelOnly: with the real toolchain (the
// default Commands), a second build in the same process compiles nothing and
// only checks each image's content label; an image the engine lost, or whose
// label changed, is built again.
func TestAProcessChecksWhatItBuiltByItsLabelOnly(t *testing.T) {
	f := newFakeEngine()
	in := testInput(t, f, io.Discard)
	in.inProcess = true // as defaults sets it when Commands is left to the real toolchain
	in.Releases, in.Components = []string{"v0.2.0"}, []Component{ComponentOperator, ComponentBackend}
	if _, err := BuildSimulated(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if got := f.count("go build"); got != 2 {
		t.Fatalf("first build: %d go builds, want 2", got)
	}
	again, err := BuildSimulated(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.count("go build"); got != 2 {
		t.Errorf("second build in the same process compiled again: %d go builds in all, want 2", got)
	}
	for _, b := range again {
		if !b.Reused {
			t.Errorf("%s not reused", b.Ref)
		}
	}
	delete(f.labels, "localhost/ambient-sim/vteam_backend:v0.2.0") // the engine lost it
	third, err := BuildSimulated(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.count("go build"); got != 3 {
		t.Errorf("lost image: %d go builds in all, want 3 (the backend again)", got)
	}
	if third[1].Reused || f.count("docker import") != 3 {
		t.Errorf("lost image: reused=%v, %d imports in all; want it imported again (3)", third[1].Reused, f.count("docker import"))
	}

	// Without the real toolchain (a test's Commands) nothing is remembered.
	g := newFakeEngine()
	other := testInput(t, g, io.Discard)
	other.Releases, other.Components = in.Releases, in.Components
	for range 2 {
		if _, err := BuildSimulated(context.Background(), other); err != nil {
			t.Fatal(err)
		}
	}
	if got := g.count("go build"); got != 4 {
		t.Errorf("injected Commands: %d go builds, want 4 (2 a run)", got)
	}
}
