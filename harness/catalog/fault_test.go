package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/fault"
)

// A catalog's bad input names its file to errors.As (what a report or a
// caller reads without parsing the message).
func TestLoadBadInputNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("name: c\nreleases: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var b *fault.BadInput
	if !errors.As(err, &b) || b.File != path {
		t.Fatalf("Load(broken YAML) = %v; *fault.BadInput %+v, want File %s", err, b, path)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !errors.As(err, &b) || b.File == "" {
		t.Errorf("Load(missing) = %v, want a *fault.BadInput naming the file", err)
	}
}
