package simulated

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The harness reads the simulated platform as data (File): no package under
// harness/ imports fixtures/. Imports inside the module are all under
// harness/, so checking each file's own imports covers the whole graph.
func TestHarnessImportsNoFixtures(t *testing.T) {
	root, err := ModuleDir()
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	err = filepath.WalkDir(filepath.Join(root, "harness"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(p, ModulePath+"/fixtures/") {
				rel, _ := filepath.Rel(root, path)
				bad = append(bad, rel+" imports "+p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("harness code imports the simulated platform (read %s instead):\n%s", File, strings.Join(bad, "\n"))
	}
}
