package catalog

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

func TestRemapRegistryRewritesOnlyThePrefix(t *testing.T) {
	c := &Catalog{Name: "t", Releases: []Release{
		{Version: "v0.2.0", Images: platform.Images{Operator: "quay.io/ambient_code/vteam_operator:v0.2.0", Backend: "quay.io/ambient_code/vteam_backend:v0.2.0",
			Runner: "quay.io/ambient_code/vteam_claude_runner:v0.2.0", StateSync: "other.io/x/vteam_state_sync:v0.2.0"}},
	}}
	n, err := c.RemapRegistry("quay.io/ambient_code", "localhost/ambient-sim/")
	if err != nil || n != 3 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	got := c.Releases[0].Images
	if got.Operator != "localhost/ambient-sim/vteam_operator:v0.2.0" || got.Runner != "localhost/ambient-sim/vteam_claude_runner:v0.2.0" {
		t.Errorf("remapped: %+v", got)
	}
	if got.StateSync != "other.io/x/vteam_state_sync:v0.2.0" {
		t.Errorf("an image outside the prefix changed: %s", got.StateSync)
	}
	if _, err := c.RemapRegistry("localhost/ambient-sim", "UPPER/Case"); exitcode.Of(err) != exitcode.BadInput {
		t.Errorf("an invalid result must be bad input, got %v", err)
	}
	if _, err := c.RemapRegistry("", "x"); exitcode.Of(err) != exitcode.BadInput {
		t.Errorf("an empty prefix must be bad input, got %v", err)
	}
}

func TestVersionsInDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "kind-v0.2.2.yaml"), []byte("{}"), 0o644)
	c := &Catalog{Releases: []Release{{Version: "v0.2.0"}, {Version: "v0.2.2"}}}
	if got := c.VersionsInDir(dir, ""); len(got) != 1 || got[0] != "v0.2.2" {
		t.Fatalf("got %v", got)
	}
}
