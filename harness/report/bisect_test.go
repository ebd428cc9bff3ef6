package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/diagnose"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
	"github.com/ambient-e2e/upgrade-harness/harness/upgrade"
	"github.com/ambient-e2e/upgrade-harness/harness/verdict"
)

// TestBisectSectionHeadsEveryReport: a bisect's answer is the first thing
// summary.md and report.html say, and "bisect" in results.json, with the
// steps, the repro line, the diagnosis and the compatibility table.
func TestBisectSectionHeadsEveryReport(t *testing.T) {
	dir := t.TempDir()
	step := func(to string, v verdict.Verdict) cellrun.Report {
		return cellrun.Report{Result: cell.Result{Cell: upgrade.Cell{Catalog: "simulated", From: "v0.2.0", To: to, Order: upgrade.Order{Text: "all-at-once"},
			Expect: verdict.Expectation{Verdict: verdict.Pass}}, Verdict: v, Matched: v == verdict.Pass, Duration: 90 * time.Second}}
	}
	results := []cellrun.Report{step("v0.2.1", verdict.Pass), step("v0.2.7", verdict.Fail), step("v0.2.3", verdict.Fail), step("v0.2.2", verdict.Fail)}
	s := BisectSection{Catalog: "simulated", From: "v0.2.0", Builds: []string{"v0.2.1", "v0.2.2", "v0.2.3", "v0.2.6", "v0.2.7"}, Status: "found",
		Sentence: "first bad build: v0.2.2 (last good build: v0.2.1)", LastGood: "v0.2.1", FirstBad: "v0.2.2", Cells: 4, WorstCase: 4, LinearCells: 2,
		Took: 7 * time.Minute, Repro: "make repro FROM=v0.2.0 TO=v0.2.2 ORDER=all-at-once CATALOG=simulated",
		Diagnosis: []string{"backend v0.2.2 sends no valid token to runner"},
		Steps: []BisectStep{{Build: "v0.2.1", Role: "verify good", Attempt: 1, Verdict: "pass"}, {Build: "v0.2.7", Role: "verify bad", Attempt: 1, Verdict: "fail"},
			{Build: "v0.2.3", Role: "halve", Attempt: 1, Verdict: "fail"}, {Build: "v0.2.2", Role: "halve", Attempt: 1, Verdict: "fail", Runner: "backend /: 12"}}}
	compat := diagnose.Compat{Catalog: "simulated", From: "v0.2.1", To: "v0.2.2", Sentence: "runner v0.2.2 started by operator v0.2.2 rejects backend v0.2.1"}
	if err := WriteAll(WriteInput{Dir: dir, Results: results, Bisect: &s, Compat: []diagnose.Compat{compat}, Exit: exit(1), Getenv: func(string) string { return "" }}); err != nil {
		t.Fatal(err)
	}
	summary, _ := os.ReadFile(filepath.Join(dir, SummaryFile))
	if !strings.HasPrefix(string(summary), "## Bisect: first bad build: v0.2.2\n") {
		t.Errorf("summary.md does not start with the answer:\n%.300s", summary)
	}
	for _, w := range []string{"- Last good build: v0.2.1", "- Cells: 4 run (worst case 4; a linear scan of the same builds: 2)",
		"`make repro FROM=v0.2.0 TO=v0.2.2 ORDER=all-at-once CATALOG=simulated`", "- Diagnosis: backend v0.2.2 sends no valid token",
		"| 4 | v0.2.2 | halve | fail | backend /: 12 |", "## Compatibility v0.2.1 → v0.2.2 (simulated)"} {
		if !strings.Contains(string(summary), w) {
			t.Errorf("summary.md lacks %q", w)
		}
	}
	var doc struct {
		Bisect *BisectSection `json:"bisect"`
	}
	js, _ := os.ReadFile(filepath.Join(dir, ResultsFile))
	if err := json.Unmarshal(js, &doc); err != nil || doc.Bisect == nil || doc.Bisect.FirstBad != "v0.2.2" || len(doc.Bisect.Steps) != 4 {
		t.Errorf("results.json bisect: %+v (%v)", doc.Bisect, err)
	}
	page, _ := os.ReadFile(filepath.Join(dir, HTMLFile))
	for _, w := range []string{"first bad build: v0.2.2", "Bisect from v0.2.0", "First bad build v0.2.2", "Compatibility v0.2.1 → v0.2.2"} {
		if !strings.Contains(string(page), w) {
			t.Errorf("report.html lacks %q", w)
		}
	}
}
