// Package testsupport finds what unit tests read from outside the module: the
// shared directory next to the project (../shared, a link to the team's
// shared files) that holds upstream's rendered manifests. A clone without it
// must still pass its unit tests, so tests that need it skip, naming it.
package testsupport

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
)

// SharedDirEnv overrides where the shared directory is.
const SharedDirEnv = "UH_SHARED_DIR"

// UpstreamManifests is the shared subdirectory with upstream's rendered kind
// overlays, kind-<version>.yaml.
const UpstreamManifests = "upstream-manifests"

// SharedDir is $UH_SHARED_DIR, or ../shared next to the module root. It does
// not check that the directory exists.
func SharedDir() (string, error) {
	if dir := os.Getenv(SharedDirEnv); dir != "" {
		return filepath.Abs(dir)
	}
	root, err := images.ModuleDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(root), "shared"), nil
}

// RequireShared returns SharedDir joined with rel and skips the test when that
// path does not exist, with a message naming it and how to provide it.
func RequireShared(t testing.TB, rel ...string) string {
	t.Helper()
	p, err := sharedPath(rel...)
	if err != nil {
		t.Skip(err.Error())
	}
	return p
}

func sharedPath(rel ...string) (string, error) {
	dir, err := SharedDir()
	if err != nil {
		return "", fmt.Errorf("shared directory not found: %v", err)
	}
	p := filepath.Join(append([]string{dir}, rel...)...)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is missing (%v): it comes from the shared directory next to the project; set %s to another copy", p, err, SharedDirEnv)
	}
	return p, nil
}
