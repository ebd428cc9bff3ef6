package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestParallelFiguresCompareWithOneLane: each -parallel run's wall time is
// set against the -parallel 1 run's, and its verdicts are compared cell by cell.
func TestParallelFiguresCompareWithOneLane(t *testing.T) {
	runs := []ParallelRun{
		{Lanes: 1, Cells: 2, Total: 20 * time.Minute, Verdicts: []string{"a: pass", "b: fail"}},
		{Lanes: 2, Cells: 2, Total: 12 * time.Minute, Verdicts: []string{"a: pass", "b: fail"}},
		{Lanes: 3, Cells: 2, Total: 10 * time.Minute, Verdicts: []string{"a: pass", "b: inconclusive"}, ExitCode: 1},
	}
	compareParallel(runs)
	if runs[0].Ratio != 1 || runs[1].Ratio != 0.6 || runs[2].Ratio != 0.5 {
		t.Errorf("ratios %v %v %v, want 1, 0.6, 0.5", runs[0].Ratio, runs[1].Ratio, runs[2].Ratio)
	}
	if !runs[0].SameVerdicts || !runs[1].SameVerdicts || runs[2].SameVerdicts {
		t.Errorf("same verdicts %v %v %v, want true, true, false", runs[0].SameVerdicts, runs[1].SameVerdicts, runs[2].SameVerdicts)
	}
	var md bytes.Buffer
	WriteMarkdown(&md, &Report{Parallel: runs})
	for _, want := range []string{"| 1 | 2 | 20m0s | 1.00 | identical | 0 |", "| 2 | 2 | 12m0s | 0.60 | identical | 0 |", "| 3 | 2 | 10m0s | 0.50 | differ | 1 |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("bench.md lacks %q:\n%s", want, md.String())
		}
	}
	var table bytes.Buffer
	PrintTable(&table, &Report{Parallel: runs})
	if !strings.Contains(table.String(), "0.60") || !strings.Contains(table.String(), "differ") {
		t.Errorf("table lacks the parallel figures:\n%s", table.String())
	}
	// Without a one-lane run there is nothing to compare with.
	alone := []ParallelRun{{Lanes: 2, Total: time.Minute, Verdicts: []string{"a: pass"}}}
	compareParallel(alone)
	if alone[0].Ratio != 0 || alone[0].SameVerdicts {
		t.Errorf("without -parallel 1: ratio %v same %v, want none", alone[0].Ratio, alone[0].SameVerdicts)
	}
}
