package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/cluster"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/report/cellrun"
)

// ParallelRun is the wall time of the catalog's whole matrix (what make e2e
// runs by default) with -parallel Lanes.
type ParallelRun struct {
	Lanes int           `json:"lanes"`
	Cells int           `json:"cells"`
	Total time.Duration `json:"totalNs"`
	// Ratio is Total over the -parallel 1 run's (0 when there is none).
	Ratio float64 `json:"ratioToOneLane,omitempty"`
	// Verdicts are "cell: verdict" in selection order; SameVerdicts says
	// whether they are those of the -parallel 1 run.
	Verdicts     []string `json:"verdicts"`
	SameVerdicts bool     `json:"sameVerdictsAsOneLane"`
	ExitCode     int      `json:"exitCode"`
}

// runParallel times the catalog's matrix once per -parallel value, each on
// clusters of its own (created and deleted by the run); Run built the probe
// and wire witness images beforehand, so that no run pays for them (when
// only the probe was built here, the first run built the wire witness's
// image if it was absent). Each run's log is
// bench/parallel/<lanes>/matrix.log under the artifacts.
func runParallel(ctx context.Context, in Input) ([]ParallelRun, error) {
	if len(in.Parallel) == 0 {
		return nil, nil
	}
	var runs []ParallelRun
	for _, n := range in.Parallel {
		dir := filepath.Join(in.Artifacts, "bench", "parallel", strconv.Itoa(n))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		logf, err := os.Create(filepath.Join(dir, "matrix.log"))
		if err != nil {
			return nil, err
		}
		tm := in.Timing
		t0 := time.Now()
		out, err := matrix.Run(ctx, matrix.Input{Catalog: in.Catalog.File, NodeImage: in.NodeImage, Parallel: n,
			ClusterName: cluster.Name(fmt.Sprintf("bench-par%d", n)), Keep: matrix.KeepNever, Artifacts: dir, Log: logf, Timing: &tm, ExitCode: in.ExitCode})
		took := time.Since(t0)
		logf.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A run without verdicts times nothing worth publishing.
		if k := fault.KindOf(err); k != fault.KindNone && k != fault.KindRegression {
			return nil, fmt.Errorf("bench: matrix -parallel %d: %v (log: %s)", n, err, logf.Name())
		}
		r := ParallelRun{Lanes: n, Cells: len(out.Results), Total: took, Verdicts: verdictsOf(out.Results)}
		if in.ExitCode != nil {
			r.ExitCode = in.ExitCode(err)
		}
		runs = append(runs, r)
		fmt.Fprintf(in.Log, "[bench] matrix -parallel %d: %d cells in %s (exit %d)\n", n, r.Cells, took.Round(time.Second), r.ExitCode)
	}
	compareParallel(runs)
	return runs, nil
}

func verdictsOf(results []cellrun.Report) []string {
	out := make([]string, 0, len(results))
	for _, r := range results {
		out = append(out, fmt.Sprintf("%s: %s", r.Cell.Name(), r.Verdict))
	}
	return out
}

// compareParallel sets each run's ratio to, and verdict agreement with, the
// -parallel 1 run (none: no ratio, and verdicts agree only with themselves).
func compareParallel(runs []ParallelRun) {
	i := slices.IndexFunc(runs, func(r ParallelRun) bool { return r.Lanes == 1 })
	for k := range runs {
		if i < 0 {
			runs[k].SameVerdicts = runs[k].Lanes == 1
			continue
		}
		one := runs[i]
		if one.Total > 0 {
			runs[k].Ratio = float64(runs[k].Total) / float64(one.Total)
		}
		runs[k].SameVerdicts = slices.Equal(runs[k].Verdicts, one.Verdicts)
	}
}

// writeParallelMarkdown is the parallel section of bench.md.
func writeParallelMarkdown(w io.Writer, runs []ParallelRun) {
	if len(runs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n| matrix -parallel | cells | wall time | × -parallel 1 | verdicts as -parallel 1 | exit |\n|---|---|---|---|---|---|\n")
	for _, r := range runs {
		fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %d |\n", r.Lanes, r.Cells, r.Total.Round(time.Second), ratioText(r.Ratio), sameText(r), r.ExitCode)
	}
}

// printParallel is the parallel part of the table printed at the end.
func printParallel(w io.Writer, runs []ParallelRun) {
	if len(runs) == 0 {
		return
	}
	fmt.Fprintf(w, "\nmatrix -parallel\tcells\twall time\t× -parallel 1\tverdicts as -parallel 1\n")
	for _, r := range runs {
		fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\n", r.Lanes, r.Cells, r.Total.Round(time.Second), ratioText(r.Ratio), sameText(r))
	}
}

func ratioText(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", r)
}

// sameText says whether a run's verdicts are the one-lane run's (bench.json
// lists each run's).
func sameText(r ParallelRun) string {
	if r.SameVerdicts {
		return "identical"
	}
	return "differ"
}
