package catalog

import (
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/platform"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

func TestWorkingLevelParseErrors(t *testing.T) {
	const valid = "(want run-finished or run-started): the evidence a session needs to count as working"
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"top-level", catalogWith(map[int]string{4: "build: simulated\nworking: run-finshed"}),
			[]string{`broken.yaml:5: working: "run-finshed" is not a working level ` + valid}},
		{"per cell", catalogWith(map[int]string{22: `    - {from: v0.2.0, to: v0.2.2, expect: fail, why: "#1425", working: RUN_STARTED}`}),
			[]string{`broken.yaml:22: matrix.cells[0].working: "RUN_STARTED" is not a working level ` + valid}},
		{"per generate", catalogWith(nil, "  generate:", "    - {strategy: each-to-next, expect: pass, working: started}"),
			[]string{`broken.yaml:24: matrix.generate[0].working: "started" is not a working level ` + valid}},
		{"not a string", catalogWith(map[int]string{4: "build: simulated\nworking: [run-started]"}),
			[]string{`broken.yaml:5: working: is a list (want a string)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemLines(t, tt.content)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func loadCells(t *testing.T, content string) (*Catalog, []upgrade.Cell) {
	t.Helper()
	_, path := writeCatalog(t, content)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cells, err := c.Cells(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return c, cells
}

func levels(cells []upgrade.Cell) string {
	var s []string
	for _, c := range cells {
		s = append(s, c.Name()+"="+string(c.Expect.Working))
	}
	return strings.Join(s, " ")
}

func TestWorkingLevelOfEachCell(t *testing.T) {
	cellAtRunStarted := `    - {from: v0.2.0, to: v0.2.2, expect: fail, why: "#1425", working: run-started}`
	generated := []string{"  generate:", "    - {strategy: each-to-next, order: operator-first, expect: pass}",
		"    - {strategy: every-to-newest, order: backend-first, expect: pass, working: run-finished}"}
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"no level anywhere: run-finished", catalogWith(nil),
			"v0.2.0-v0.2.2=run-finished"},
		{"the catalog's default", catalogWith(map[int]string{4: "build: simulated\nworking: run-started"}, generated...),
			"v0.2.0-v0.2.2=run-started v0.2.0-v0.2.2-operator-first=run-started v0.2.0-v0.2.2-backend-first=run-finished"},
		{"a cell's own wins over the catalog's", catalogWith(map[int]string{4: "build: simulated\nworking: run-finished", 22: cellAtRunStarted}),
			"v0.2.0-v0.2.2=run-started"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, cells := loadCells(t, tt.content); levels(cells) != tt.want {
				t.Errorf("levels = %s, want %s", levels(cells), tt.want)
			}
		})
	}
}

func TestApplyWorkingCommandLineWins(t *testing.T) {
	c, cells := loadCells(t, catalogWith(map[int]string{4: "build: simulated\nworking: run-started", 22: `    - {from: v0.2.0, to: v0.2.2, expect: pass, working: run-finished}`}))
	adHoc := upgrade.Cell{Catalog: c.Name, From: "v0.2.0", To: "v0.2.2", Source: "ad-hoc", Expect: verdict.Expectation{Verdict: verdict.Pass}}
	all := append(cells, adHoc)
	if got := levels(c.ApplyWorking(all, "")); got != "v0.2.0-v0.2.2=run-finished v0.2.0-v0.2.2=run-started" {
		t.Errorf("without -working: %s (want the cell's own, and the catalog's for the ad hoc cell)", got)
	}
	if got := levels(c.ApplyWorking(all, verdict.WorkingRunStarted)); got != "v0.2.0-v0.2.2=run-started v0.2.0-v0.2.2=run-started" {
		t.Errorf("-working run-started: %s (want it on every cell)", got)
	}
	if all[0].Expect.Working != verdict.WorkingRunFinished {
		t.Errorf("ApplyWorking changed its input")
	}
}

// A candidate's cells (a platform PR's gate) take the catalog's level.
func TestCandidateCellsTakeTheCatalogsWorkingLevel(t *testing.T) {
	content := catalogWith(map[int]string{4: "build: simulated\nworking: run-started"})
	_, path := writeCatalog(t, content)
	c, err := Load(path, WithCandidate(Candidate{Name: "pr-1", Images: platform.Images{Backend: "localhost/pr/vteam_backend:pr-1"}}))
	if err != nil {
		t.Fatal(err)
	}
	cells, err := c.Cells(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := levels(cells); got != "v0.2.2-pr-1=run-started" && got != "v0.2.0-pr-1=run-started v0.2.2-pr-1=run-started" {
		t.Errorf("candidate cells: %s, want every one at run-started", got)
	}
}
