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

	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
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
	return BuildInput{CacheDir: t.TempDir(), ModuleDir: t.TempDir(), Commands: f, Log: log, GOARCH: "amd64"}
}

type layerEntry struct {
	typ      byte
	mode     int64
	uid, gid int
	content  string
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
		entries[hdr.Name] = layerEntry{typ: hdr.Typeflag, mode: hdr.Mode, uid: hdr.Uid, gid: hdr.Gid, content: string(body)}
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
			if err := spec.writeLayer(&buf, []byte("BINARY")); err != nil {
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
			_ = spec.writeLayer(&again, []byte("BINARY"))
			if !bytes.Equal(buf.Bytes(), again.Bytes()) {
				t.Error("layer is not byte-identical across two writes")
			}
		})
	}
}

func TestContentDigest(t *testing.T) {
	runner, _ := specFor(ComponentRunner)
	operator, _ := specFor(ComponentOperator)
	base := runner.contentDigest("v0.2.2", []byte("binary-1"))
	if !strings.HasPrefix(base, "sha256:") || len(base) != len("sha256:")+64 {
		t.Fatalf("digest %q, want sha256:<64 hex>", base)
	}
	if again := runner.contentDigest("v0.2.2", []byte("binary-1")); again != base {
		t.Errorf("digest not stable: %s vs %s", base, again)
	}
	changed := map[string]string{
		"binary changes":    runner.contentDigest("v0.2.2", []byte("binary-2")),
		"release changes":   runner.contentDigest("v0.2.7", []byte("binary-1")),
		"component changes": operator.contentDigest("v0.2.2", []byte("binary-1")),
	}
	modified := runner
	modified.User = 0
	changed["user changes"] = modified.contentDigest("v0.2.2", []byte("binary-1"))
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
		{"no releases", func(in *BuildInput) { in.Releases = nil }, "Releases is empty"},
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
