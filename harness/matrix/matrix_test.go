package matrix

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
)

func TestDecideOutcome(t *testing.T) {
	ok := cellrun.Report{Result: cell.Result{Matched: true}}
	bad := cellrun.Report{Result: cell.Result{Matched: false}}
	infra := cellrun.Report{Result: cell.Result{Error: "cluster gone"}}
	cases := []struct {
		name    string
		results []cellrun.Report
		flaky   []string
		err     error
		want    fault.Kind
	}{
		{"all matched", []cellrun.Report{ok, ok}, nil, nil, fault.KindNone},
		{"a mismatch is a regression", []cellrun.Report{ok, bad}, nil, nil, fault.KindRegression},
		{"a regression wins over infrastructure", []cellrun.Report{infra, bad}, nil, nil, fault.KindRegression},
		{"a cell that could not run", []cellrun.Report{ok, infra}, nil, nil, fault.KindInfrastructure},
		{"interrupted", []cellrun.Report{ok}, nil, errors.New("context canceled"), fault.KindInfrastructure},
		{"flaky repeats are a regression", []cellrun.Report{ok, ok}, []string{"c"}, nil, fault.KindRegression},
		{"infrastructure wins over flaky", []cellrun.Report{ok, infra}, []string{"c"}, nil, fault.KindInfrastructure},
	}
	for _, c := range cases {
		got := decideOutcome(c.results, c.flaky, c.err)
		if k := fault.KindOf(got); k != c.want {
			t.Errorf("%s: got %v (%v), want %v", c.name, k, got, c.want)
		}
	}
	// The kinds are what the command maps to exit codes (1, 3).
	if err := decideOutcome([]cellrun.Report{ok, infra}, nil, nil); exitcode.Of(err) != exitcode.Infrastructure || !strings.Contains(err.Error(), "could not run: cluster gone") {
		t.Errorf("could not run: %v (exit %d), want 3 naming the cause", err, exitcode.Of(err))
	}
}

func TestParseKeep(t *testing.T) {
	for _, s := range []string{"on-failure", "always", "never"} {
		if _, err := ParseKeep(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := ParseKeep("sometimes"); err == nil {
		t.Error("want an error naming the valid values")
	}
}

func TestSelectCellsErrorsAreBadInput(t *testing.T) {
	_, err := Select(Input{Catalog: "nope", CatalogDir: "../../fixtures/releases"})
	if exitcode.Of(err) != exitcode.BadInput {
		t.Fatalf("unknown catalog: want exit 2, got %v", err)
	}
	_, err = Select(Input{Catalog: "simulated", CatalogDir: "../../fixtures/releases", Order: "sideways"})
	if exitcode.Of(err) != exitcode.BadInput {
		t.Fatalf("bad order: want exit 2, got %v", err)
	}
	plan, err := Select(Input{Catalog: "simulated", CatalogDir: "../../fixtures/releases", Order: "backend-first"})
	if err == nil || exitcode.Of(err) != exitcode.BadInput {
		t.Fatalf("an order without one from/to and no such cell: want bad input, got %v (%d cells)", err, len(plan.Cells))
	}
}

// TestSelectReproOptions: the repro line names the catalog the way make repro
// finds it again, and the options that changed the cells.
func TestSelectReproOptions(t *testing.T) {
	dir := "../../fixtures/releases"
	remap := map[string]string{"quay.io/ambient_code": "localhost/ambient-sim"}
	manifests := t.TempDir()
	for _, v := range []string{"v0.2.0", "v0.2.2"} {
		if err := os.WriteFile(filepath.Join(manifests, "kind-"+v+".yaml"), []byte(platformManifests), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		in   Input
		want report.ReproOptions
	}{
		{"by name", Input{Catalog: "simulated"}, report.ReproOptions{Catalog: "simulated"}},
		{"by name in the default dir", Input{Catalog: "simulated", CatalogDir: "fixtures/releases/"}, report.ReproOptions{Catalog: "simulated"}},
		{"by name elsewhere", Input{Catalog: "simulated", CatalogDir: dir}, report.ReproOptions{Catalog: filepath.Join(dir, "simulated.yaml")}},
		{"by path", Input{Catalog: dir + "/upstream.yaml"}, report.ReproOptions{Catalog: dir + "/upstream.yaml"}},
		{"remap and manifests", Input{Catalog: dir + "/upstream.yaml", ImageRemap: remap, ManifestOverride: &catalog.ManifestOverride{Dir: manifests},
			Filter: catalog.Filter{From: []string{"v0.2.0"}, To: []string{"v0.2.2"}}},
			report.ReproOptions{Catalog: dir + "/upstream.yaml", ImageRemap: remap, ManifestsDir: manifests}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !catalog.IsPath(tt.in.Catalog) && (tt.in.CatalogDir == "" || tt.in.CatalogDir == "fixtures/releases/") {
				t.Chdir("../..") // the default catalog dir is relative to the repository root
			}
			plan, err := Select(tt.in)
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if !reflect.DeepEqual(plan.Repro, tt.want) {
				t.Fatalf("repro options %+v, want %+v", plan.Repro, tt.want)
			}
		})
	}
}

func TestSelectManifestsDirNamesEveryMissingRelease(t *testing.T) {
	manifests := t.TempDir()
	if err := os.WriteFile(filepath.Join(manifests, "kind-v0.2.0.yaml"), []byte(platformManifests), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Select(Input{Catalog: "upstream", CatalogDir: "../../fixtures/releases", ManifestOverride: &catalog.ManifestOverride{Dir: manifests},
		Filter: catalog.Filter{From: []string{"v0.2.0"}}})
	if exitcode.Of(err) != exitcode.BadInput {
		t.Fatalf("want bad input, got %v", err)
	}
	msg := err.Error()
	// The cells from v0.2.0 go to v0.2.1, v0.2.2, v0.2.3 and v0.2.7: each is named, v0.2.0 is not.
	for _, v := range []string{"v0.2.1", "v0.2.2", "v0.2.3", "v0.2.7"} {
		if !strings.Contains(msg, "release "+v+": "+filepath.Join(manifests, "kind-"+v+".yaml")+" does not exist") {
			t.Errorf("%s not named:\n%s", v, msg)
		}
	}
	if strings.Contains(msg, "release v0.2.0:") || !strings.Contains(msg, "holds the manifests of v0.2.0 only") {
		t.Errorf("message:\n%s", msg)
	}
}

func TestCheckArtifactsDir(t *testing.T) {
	d := t.TempDir()
	file := filepath.Join(d, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{d, filepath.Join(d, "new", "deeper")} {
		if err := CheckArtifactsDir(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for dir, want := range map[string]string{"": "-artifacts is empty", file: "is a file", filepath.Join(file, "x"): file + " is a file, so the directory cannot be created"} {
		if err := CheckArtifactsDir(dir); exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want bad input saying %q", dir, err, want)
		}
	}
	if entries, _ := os.ReadDir(d); len(entries) != 1 {
		t.Errorf("the check created something: %v", entries)
	}
}

func TestCandidateCellsBuildsAndRepro(t *testing.T) {
	cand := &catalog.Candidate{Name: "pr-1", Manifests: "../../fixtures/manifests/v0.2.3",
		Images: platform.Images{Backend: "localhost/pr/vteam_backend:pr-1"}, From: []string{"v0.2.0", "v0.2.2"}}
	plan, err := Select(Input{Catalog: "simulated", CatalogDir: "../../fixtures/releases", Candidate: cand,
		Filter: catalog.Filter{From: []string{"v0.2.0", "v0.2.2"}}})
	if err != nil {
		t.Fatal(err)
	}
	cat, cells := plan.Catalog, plan.Cells
	if len(cells) != 2 || cells[0].Name() != "v0.2.0-pr-1" || cells[1].Name() != "v0.2.2-pr-1" {
		t.Fatalf("cells = %v, want v0.2.0-pr-1 and v0.2.2-pr-1", cells)
	}
	if !slices.Equal(plan.Releases, []string{"v0.2.0", "v0.2.2"}) {
		t.Errorf("plan releases = %v, want the catalog releases v0.2.0 and v0.2.2 (the candidate is none)", plan.Releases)
	}
	// Operator, runner and state-sync stay v0.2.7's: those are built, the PR's backend is not.
	refs, err := simulatedRefs(cat, cells)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"localhost/ambient-sim/vteam_operator:v0.2.7", "localhost/ambient-sim/vteam_backend:v0.2.0", "localhost/ambient-sim/vteam_backend:v0.2.2"} {
		if !slices.Contains(refs, want) {
			t.Errorf("simulated refs %v lack %s", refs, want)
		}
	}
	if slices.Contains(refs, "localhost/pr/vteam_backend:pr-1") || slices.Contains(refs, "localhost/ambient-sim/vteam_backend:v0.2.7") {
		t.Errorf("simulated refs %v: the candidate's own backend replaces v0.2.7's and is not built", refs)
	}
	ro := plan.Repro
	ro.NodeImage = "kindest/node:x"
	line := report.ReproCommand(cells[0], ro)
	for _, want := range []string{"FROM=v0.2.0", "TO=pr-1", "CANDIDATE_NAME=pr-1", "CANDIDATE_IMAGES=backend=localhost/pr/vteam_backend:pr-1", "CANDIDATE_MANIFESTS=/"} {
		if !strings.Contains(line, want) {
			t.Errorf("repro line %q lacks %q", line, want)
		}
	}
	_, err = Select(Input{Catalog: "simulated", CatalogDir: "../../fixtures/releases",
		Candidate: &catalog.Candidate{Images: platform.Images{Backend: "localhost/pr/vteam_backend"}}})
	if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "-candidate-images.backend") {
		t.Errorf("unpinned candidate image: want bad input naming -candidate-images.backend, got %v", err)
	}
	_, err = Select(Input{Catalog: "simulated", CatalogDir: "../../fixtures/releases", Candidate: cand,
		Filter: catalog.Filter{To: []string{"v0.2.3"}}})
	if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), `-to "v0.2.3": with a candidate every cell goes to it`) {
		t.Errorf("-to another release with a candidate: want bad input, got %v", err)
	}
	// The repro line's TO is the candidate: it selects its cells.
	if _, err = Select(Input{Catalog: "simulated", CatalogDir: "../../fixtures/releases", Candidate: cand, Order: "all-at-once",
		Filter: catalog.Filter{From: []string{"v0.2.0"}, To: []string{"pr-1"}}}); err != nil {
		t.Errorf("-to the candidate: %v", err)
	}
}

// A candidate that keeps the newest release's manifests keeps them from
// -manifests-dir too, which must then hold the newest release's file.
func TestSelectCandidateWithManifestsDir(t *testing.T) {
	manifests := t.TempDir()
	for _, v := range []string{"v0.2.6", "v0.2.7"} {
		if err := os.WriteFile(filepath.Join(manifests, "kind-"+v+".yaml"), []byte(platformManifests), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in := Input{Catalog: "upstream", CatalogDir: "../../fixtures/releases", ManifestOverride: &catalog.ManifestOverride{Dir: manifests},
		Candidate: &catalog.Candidate{Name: "pr-9", Images: platform.Images{Backend: "quay.io/pr/vteam_backend:pr-9"}, From: []string{"v0.2.6"}},
		Filter:    catalog.Filter{From: []string{"v0.2.6"}}}
	plan, err := Select(in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan.Catalog.Candidate.Manifests.ResolvedPath(), filepath.Join(manifests, "kind-v0.2.7.yaml"); got != want {
		t.Errorf("candidate manifests %s, want the newest release's from the dir %s", got, want)
	}
	if err := os.Remove(filepath.Join(manifests, "kind-v0.2.7.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, err := Select(in); exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), "release v0.2.7: ") {
		t.Errorf("without the newest release's file: want bad input naming v0.2.7, got %v", err)
	}
}

func TestValidateSweep(t *testing.T) {
	dir := "../../fixtures/releases"
	for _, tc := range []struct {
		in   Input
		want string
	}{
		{Input{Catalog: "simulated", CatalogDir: dir, Filter: catalog.Filter{From: []string{"v0.2.0"}}}, "exactly one -from and one -to"},
		{Input{Catalog: "simulated", CatalogDir: dir, Filter: catalog.Filter{From: []string{"v0.2.0", "v0.2.1"}, To: []string{"v0.2.2"}}}, "exactly one -from and one -to"},
		{Input{Catalog: "simulated", CatalogDir: dir, Filter: catalog.Filter{From: []string{"v0.2.0"}, To: []string{"v0.2.9"}}}, `-to "v0.2.9": not a release of catalog simulated (want one of v0.2.0,`},
		{Input{Catalog: "simulated", CatalogDir: dir, Filter: catalog.Filter{From: []string{"v0.2.2"}, To: []string{"v0.2.2"}}}, `-to "v0.2.2": the same release as -from`},
		{Input{Catalog: "simulated", CatalogDir: dir, Artifacts: "matrix_test.go", Filter: catalog.Filter{From: []string{"v0.2.0"}, To: []string{"v0.2.2"}}}, "-artifacts matrix_test.go: is a file"},
		{Input{Catalog: "nope", CatalogDir: dir, Filter: catalog.Filter{From: []string{"v0.2.0"}, To: []string{"v0.2.2"}}}, `catalog "nope"`},
		{Input{Catalog: "upstream", CatalogDir: dir, ManifestOverride: &catalog.ManifestOverride{Dir: t.TempDir()}, Filter: catalog.Filter{From: []string{"v0.2.0"}, To: []string{"v0.2.2"}}}, "holds no manifest file"},
	} {
		_, _, _, err := ValidateSweep(tc.in)
		if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ValidateSweep(%+v) = %v, want bad input containing %q", tc.in.Filter, err, tc.want)
		}
	}
	plan, from, to, err := ValidateSweep(Input{Catalog: "faults", CatalogDir: dir, Artifacts: t.TempDir(), Filter: catalog.Filter{From: []string{"v0.2.7"}, To: []string{"v0.2.7-fault-header-name"}}})
	if err != nil || plan.Catalog.Name != "faults" || !plan.Simulated || from.Version != "v0.2.7" || to.Images.Backend != "localhost/ambient-sim/vteam_backend:v0.2.7-fault-header-name" {
		t.Fatalf("ValidateSweep(faults) = %v, %+v, %v", from, to, err)
	}
}

// platformManifests is the least a manifests file must hold to pass the input
// check: the platform's two Deployments.
const platformManifests = `apiVersion: apps/v1
kind: Deployment
metadata: {name: agentic-operator, namespace: ambient-code}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: backend-api, namespace: ambient-code}
`
