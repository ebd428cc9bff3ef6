package testsupport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
)

func TestSharedDirHonoursTheOverride(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(SharedDirEnv, dir)
	got, err := SharedDir()
	if err != nil || got != dir {
		t.Fatalf("SharedDir() = %q, %v; want %q", got, err, dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, UpstreamManifests), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := sharedPath(UpstreamManifests); err != nil || p != filepath.Join(dir, UpstreamManifests) {
		t.Fatalf("sharedPath = %q, %v", p, err)
	}
}

func TestSharedDirDefaultsToTheModulesSibling(t *testing.T) {
	t.Setenv(SharedDirEnv, "")
	got, err := SharedDir()
	if err != nil {
		t.Fatal(err)
	}
	root, err := images.ModuleDir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(root), "shared"); got != want {
		t.Fatalf("SharedDir() = %q, want %q (next to the module root %s)", got, want, root)
	}
}

func TestMissingSharedPathNamesItAndTheOverride(t *testing.T) {
	t.Setenv(SharedDirEnv, t.TempDir())
	_, err := sharedPath(UpstreamManifests, "kind-v0.2.0.yaml")
	if err == nil {
		t.Fatal("a missing path was found")
	}
	for _, want := range []string{"kind-v0.2.0.yaml is missing", SharedDirEnv} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
