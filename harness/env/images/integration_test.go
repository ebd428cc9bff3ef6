package images

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// realGoFakeDocker compiles for real and fakes only the container engine.
type realGoFakeDocker struct{ fake *fakeEngine }

func (r realGoFakeDocker) Run(ctx context.Context, c Command) ([]byte, error) {
	if c.Name == "go" {
		return ExecRunner{}.Run(ctx, c)
	}
	return r.fake.Run(ctx, c)
}

// TestCompileRealBinaries runs the real go build (no docker): the package paths
// and ldflags must be right, the binary static ELF with its release baked in,
// and a rebuild must give the same digest so images are reused.
func TestCompileRealBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles two binaries; skipped with -short")
	}
	fake := newFakeEngine()
	in := BuildInput{
		Releases:   []string{"v0.2.2"},
		Components: []Component{ComponentRunner, ComponentStateSync},
		CacheDir:   t.TempDir(),
		Commands:   realGoFakeDocker{fake},
		Busybox:    fakeBusybox(t, ""),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	first, err := BuildSimulated(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range first {
		bin, err := os.ReadFile(binaryPath(in.CacheDir, b.Component, "v0.2.2", goarchOrHost(in.GOARCH)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(bin, []byte("\x7fELF")) || !bytes.Contains(bin, []byte("v0.2.2")) {
			t.Errorf("%s: binary is not an ELF with v0.2.2 baked in", b.Component)
		}
		entries, _ := readLayer(t, fake.imports[b.Ref])
		for _, name := range map[Component][]string{ComponentRunner: {"runner"}, ComponentStateSync: {"hydrate.sh", "sync.sh"}}[b.Component] {
			if entries["usr/local/bin/"+name].content != string(bin) {
				t.Errorf("%s: layer's /usr/local/bin/%s is not the compiled binary", b.Ref, name)
			}
		}
	}
	second, err := BuildSimulated(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range second {
		if !b.Reused || b.ContentDigest != first[i].ContentDigest {
			t.Errorf("%s: rebuild not reproducible (reused=%v, %s vs %s)", b.Ref, b.Reused, b.ContentDigest, first[i].ContentDigest)
		}
	}
}

func goarchOrHost(goarch string) string {
	if goarch != "" {
		return goarch
	}
	in, _ := BuildInput{Releases: []string{"v0.2.0"}, ModuleDir: "."}.withDefaults()
	return in.GOARCH
}

// TestBuildWithDocker really imports images. It needs a docker engine and is
// opt-in: AMBIENT_E2E_DOCKER_TESTS=1 go test ./harness/env/images/ -run TestBuildWithDocker
func TestBuildWithDocker(t *testing.T) {
	if testing.Short() || os.Getenv("AMBIENT_E2E_DOCKER_TESTS") != "1" {
		t.Skip("set AMBIENT_E2E_DOCKER_TESTS=1 to build images with the local docker engine")
	}
	var log bytes.Buffer
	in := BuildInput{Releases: []string{"v0.2.2"}, Components: []Component{ComponentRunner, ComponentStateSync},
		Prefix: "localhost/ambient-sim-test", Log: io.MultiWriter(&log, os.Stderr)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := BuildSimulated(ctx, in); err != nil {
		t.Fatal(err)
	}
	again, err := BuildSimulated(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range again {
		if !b.Reused {
			t.Errorf("%s not reused on the second build", b.Ref)
		}
		label, err := imageContentLabel(ctx, BuildInput{Docker: "docker", Commands: ExecRunner{}}, b.Ref)
		if err != nil || label != b.ContentDigest {
			t.Errorf("%s: label %q (%v), want %s", b.Ref, label, err, b.ContentDigest)
		}
	}
	if !strings.Contains(log.String(), " reused ") {
		t.Errorf("no reused line in:\n%s", log.String())
	}
}
