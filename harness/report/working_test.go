package report

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// Every report states the working level its verdicts were judged at: one
// sentence when the run used one, per cell (Verdict column) when it mixed them.
func TestReportsStateTheWorkingLevel(t *testing.T) {
	md := string(RenderMarkdown(fixtureResults(), 0, nil))
	if !strings.Contains(md, "Working level **run-finished** in every cell: a session counted as working once a run finished (RUN_FINISHED) after the upgrade.") ||
		strings.Contains(md, "pass at run-") {
		t.Errorf("summary.md of a run at one level:\n%.1200s", md)
	}
	if !strings.Contains(md, "Failed as expected (upstream #1425).\n\nWorking level: **run-finished** (a session counted as working once a run finished (RUN_FINISHED) after the upgrade).") {
		t.Errorf("summary.md cell details do not state the level:\n%s", md)
	}

	results := fixtureResults()
	results[1] = decidedPass(upgrade.Cell{Catalog: "upstream", From: "v0.2.2", To: "v0.2.7", Order: mustOrder("all-at-once"),
		Expect: verdict.Expectation{Verdict: verdict.Pass, Working: verdict.WorkingRunStarted}})
	md = string(RenderMarkdown(results, 0, nil))
	for _, want := range []string{
		"**run-started** in 1 cell (the runner accepted a run (a 2xx answer to POST / and RUN_STARTED) after the upgrade, with no RUN_ERROR)",
		"| v0.2.2 → v0.2.7 [all-at-once] (upstream) | pass | pass at run-started | ✓ as expected |",
		"| v0.2.0 → v0.2.2 [all-at-once] (simulated) | fail — upstream #1425 | fail at run-finished | ✓ as expected |",
		"| none (did not run to the end) | ⚠ infrastructure error",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary.md of a run with two levels does not say %q:\n%.2000s", want, md)
		}
	}

	w := writeAll(t, WriteInput{Results: results, Exit: exit(exitcode.Regression)})
	var doc struct {
		Results []struct {
			Working string `json:"working"`
			Cell    struct {
				Expected struct {
					Working string `json:"working"`
				} `json:"expected"`
			} `json:"cell"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(w.results), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Results) != len(results) || doc.Results[1].Working != "run-started" || doc.Results[1].Cell.Expected.Working != "run-started" || doc.Results[0].Working != "run-finished" {
		t.Errorf("results.json working levels: %+v", doc.Results)
	}
	if !strings.Contains(w.junit, `<property name="working level" value="run-started">`) {
		t.Errorf("junit.xml does not state the run-started cell's level")
	}
}
