package prepare

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
)

// TestBuildToolsTwiceAtOnce: two processes preparing the engine at once (two
// make e2e in one checkout) once made go build fail on each other's
// half-written output ("exit 3"); now each builds apart and renames.
func TestBuildToolsTwiceAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary with the go tool")
	}
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = BuildTools(context.Background(), dir, "./harness/cmd/pause")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("build %d: %v", i, err)
		}
	}
	if err := images.CheckExecutable(filepath.Join(dir, "pause")); err != nil {
		t.Errorf("the tool after three builds at once: %v", err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 {
		names := []string{}
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("dir holds %v; want only the tool (no build directory left)", names)
	}
}
