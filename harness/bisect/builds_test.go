package bisect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
)

const catalogDir = "../../fixtures/releases"

func simulated(t *testing.T) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.LoadByName(catalogDir, "simulated")
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func TestCatalogBuildsAreTheReleasesAfterFrom(t *testing.T) {
	builds, err := CatalogBuilds(simulated(t), "v0.2.0")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range builds {
		got = append(got, b.Name)
		if !b.InCatalog || b.Release.Version != b.Name {
			t.Errorf("%s: %+v", b.Name, b)
		}
	}
	if strings.Join(got, ",") != "v0.2.1,v0.2.2,v0.2.3,v0.2.6,v0.2.7" {
		t.Errorf("builds %v", got)
	}
	for _, from := range []string{"v0.2.6", "v0.9.9"} {
		if _, err := CatalogBuilds(simulated(t), from); exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "-from") {
			t.Errorf("-from %s: %v, want bad input naming -from", from, err)
		}
	}
}

// TestBuildsFileKeepsTheNewestReleasesRest: a build names only what it
// changes; the rest (images, manifests) is the newest release's.
func TestBuildsFileKeepsTheNewestReleasesRest(t *testing.T) {
	cat := simulated(t)
	builds, err := LoadBuildsFile("testdata/faults-k3.yaml", cat)
	if err != nil {
		t.Fatal(err)
	}
	if len(builds) != 5 || builds[2].Name != "build-3" || builds[2].Origin != "testdata/faults-k3.yaml:16" {
		t.Fatalf("builds %+v", builds)
	}
	b3 := builds[2].Release
	if b3.Images.Get(platform.Backend) != "localhost/ambient-sim/vteam_backend:v0.2.7-fault-websocket-no-header" ||
		b3.Images.Get(platform.Operator) != "localhost/ambient-sim/vteam_operator:v0.2.7" || b3.Version != "build-3" {
		t.Errorf("build-3 images %+v", b3.Images)
	}
	newest, _ := cat.Release("v0.2.7")
	if b3.Manifests.ResolvedPath() != newest.Manifests.ResolvedPath() || builds[2].OwnManifests {
		t.Errorf("build-3 manifests %q, want the newest release's %q", b3.Manifests.ResolvedPath(), newest.Manifests.ResolvedPath())
	}
	abs, _ := filepath.Abs("../../fixtures/manifests/v0.2.7")
	if !builds[4].OwnManifests || builds[4].Release.Manifests.ResolvedPath() != abs {
		t.Errorf("build-5 manifests %q, want %s", builds[4].Release.Manifests.ResolvedPath(), abs)
	}
}

// TestBadBuildListsNameFileLineField: every problem of a bad build list is
// bad input (exit 2) naming file, line, field, the value and what is valid.
func TestBadBuildListsNameFileLineField(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top field", "builds: []\nbuild: x\n", []string{":2: build: unknown field (want apiVersion, kind or builds)"}},
		{"too few", "builds:\n  - name: b1\n    images: {backend: localhost/x/y:1}\n", []string{"builds: has 1 build(s) (want at least 2"}},
		{"bad name", "builds:\n  - name: Main_1\n    images: {backend: quay.io/x/y:1}\n  - name: b2\n    images: {backend: quay.io/x/y:2}\n",
			[]string{`:2: builds[0].name: "Main_1" is not a valid build name (want at most 63 lowercase`}},
		{"unpinned image", "builds:\n  - name: b1\n    images: {backend: quay.io/x/y}\n  - name: b2\n    images:\n      runner: quay.io/x/y:2\n      opreator: quay.io/x/y:2\n",
			[]string{`:3: builds[0].images.backend: "quay.io/x/y" has neither tag nor digest`, ":7: builds[1].images.opreator: unknown component (want operator, backend, runner or stateSync)"}},
		{"duplicate", "builds:\n  - name: b1\n    images: {backend: quay.io/x/y:1}\n  - name: b1\n    images: {backend: quay.io/x/y:2}\n",
			[]string{`:4: builds[1].name: "b1" is given twice (first at `}},
		{"a release", "builds:\n  - name: v0.2.2\n    images: {backend: quay.io/x/y:1}\n  - name: b2\n    images: {backend: quay.io/x/y:2}\n",
			[]string{`:2: builds[0].name: "v0.2.2" is a release of catalog simulated (want a build name of its own`}},
		{"no images", "builds:\n  - name: b1\n  - name: b2\n    images: {backend: quay.io/x/y:2}\n", []string{":2: builds[0].images: is required"}},
		{"unknown simulated tag", "builds:\n  - name: b1\n    images: {backend: localhost/ambient-sim/vteam_backend:v9.9.9}\n  - name: b2\n    images: {backend: quay.io/x/y:2}\n",
			[]string{":2: builds[0].images: localhost/ambient-sim/vteam_backend:v9.9.9: the simulated platform has no such release"}},
		{"missing manifests", "builds:\n  - name: b1\n    images: {backend: quay.io/x/y:1}\n    manifests: {path: nowhere}\n  - name: b2\n    images: {backend: quay.io/x/y:2}\n",
			[]string{`:4: builds[0].manifests.path: "nowhere" (resolved to `}},
		{"alias", "x: &a quay.io/x/y:1\nbuilds:\n  - name: b1\n    images: {backend: *a}\n", []string{"uses a YAML anchor or alias"}},
		{"syntax", "builds:\n  - name: [b1\n", []string{"is not valid YAML"}},
		{"not a mapping", "- b1\n- b2\n", []string{":1: is a list (want a mapping with builds:"}},
		{"two documents", "builds: []\n---\nbuilds: []\n", []string{"holds more than one YAML document"}},
		{"wrong kind", "kind: Catalog\nbuilds: []\n", []string{`:1: kind: "Catalog" is not a builds file (want kind: Builds)`}},
		{"empty", "", []string{"is empty"}},
		// Bounded before parsing, as a catalog (yamlin).
		{"too deep", "builds: " + strings.Repeat("[", 40) + "\n", []string{":1:", "collections nest more than 32 levels deep here (want at most 32: a builds file nests 3 deep"}},
		{"too many builds", "builds:\n" + strings.Repeat("  - {name: b}\n", MaxBuilds+1), []string{":2:3: this list has 1001 items (want at most 1000: a bisect halves a few dozen builds)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadBuildsFile(path, simulated(t))
			if exitcode.Of(err) != exitcode.BadInput {
				t.Fatalf("exit %d (%v), want 2", exitcode.Of(err), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if !strings.HasPrefix(err.Error(), path) && !strings.HasPrefix(err.Error(), "-builds") {
				t.Errorf("error does not start with the file: %v", err)
			}
		})
	}
	// Not a regular file, or too big: refused before it is read whole.
	for _, path := range []string{dir, "/dev/zero", filepath.Join(dir, "missing.yaml")} {
		if _, err := LoadBuildsFile(path, simulated(t)); exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "-builds "+path) {
			t.Errorf("%s: %v, want bad input naming -builds and the path", path, err)
		}
	}
}

func TestTemplateBuilds(t *testing.T) {
	dir := t.TempDir()
	ids := filepath.Join(dir, "ids.txt")
	if err := os.WriteFile(ids, []byte("# tonight's merges\nmain-aaa1\n\nmain-bbb2\nmain-ccc3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	builds, err := TemplateBuilds("quay.io/ambient_code/vteam_{component}:{id}", ids, simulated(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(builds) != 3 || builds[1].Name != "main-bbb2" || builds[1].Origin != ids+":4" ||
		builds[1].Release.Images.Get(platform.Runner) != "quay.io/ambient_code/vteam_claude_runner:main-bbb2" ||
		builds[1].Release.Images.Get(platform.StateSync) != "quay.io/ambient_code/vteam_state_sync:main-bbb2" {
		t.Fatalf("builds %+v", builds)
	}
	if err := os.WriteFile(ids, []byte("main-aaa1\nMain BAD\nmain-aaa1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = TemplateBuilds("quay.io/ambient_code/vteam_{component}:{id}", ids, simulated(t))
	for _, w := range []string{ids + `:2: id: "Main BAD" is not a valid build id`, ids + `:3: id: "main-aaa1" is given twice`} {
		if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), w) {
			t.Errorf("want exit 2 saying %q, got %v", w, err)
		}
	}
	for _, tmpl := range []string{"quay.io/ambient_code/vteam_operator:{id}", "quay.io/x/{component}"} {
		if _, err := TemplateBuilds(tmpl, ids, simulated(t)); exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "-image-template") {
			t.Errorf("%s: %v, want bad input naming -image-template", tmpl, err)
		}
	}
}
