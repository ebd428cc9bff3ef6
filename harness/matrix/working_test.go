package matrix

import (
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// -working reaches every selected cell, an ad hoc one included; without it
// each cell keeps its catalog's level.
func TestSelectGivesEveryCellItsWorkingLevel(t *testing.T) {
	dir := "../../fixtures/releases"
	adHoc := Input{Catalog: "simulated", CatalogDir: dir, Order: "runner,operator,backend", Filter: catalog.Filter{From: []string{"v0.2.0"}, To: []string{"v0.2.2"}}}
	for _, tt := range []struct {
		name string
		in   Input
		want verdict.WorkingLevel
	}{
		{"the catalog's", Input{Catalog: "simulated", CatalogDir: dir}, verdict.WorkingRunFinished},
		{"-working", Input{Catalog: "simulated", CatalogDir: dir, Working: verdict.WorkingRunStarted}, verdict.WorkingRunStarted},
		{"ad hoc, the catalog's", adHoc, verdict.WorkingRunFinished},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := Select(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range plan.Cells {
				if c.Expect.Working != tt.want {
					t.Errorf("cell %s: working %q, want %q", c.Name(), c.Expect.Working, tt.want)
				}
			}
		})
	}
	_, err := Select(Input{Catalog: "simulated", CatalogDir: dir, Working: "finished"})
	if exitcode.Of(err) != exitcode.BadInput || !strings.Contains(err.Error(), `-working: "finished" is not a working level (want run-finished or run-started)`) {
		t.Errorf("bad -working: %v, want bad input naming the flag, the value and the valid levels", err)
	}
}
