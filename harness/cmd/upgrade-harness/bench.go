package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/bench"
	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
)

func init() { register(benchCommand, runBench) }

const benchNoMake = "make bench measures the default cell; run bin/upgrade-harness bench for others"

var benchCommand = &commandSpec{
	name:    "bench",
	summary: "time each phase of a cell against its floor, the matrix scaling and memory ($ARTIFACTS/bench.json)",
	description: `Measures the harness: the node image, each phase of one cell (-from → -to, the
catalog's all-at-once cell without rollback, run as the matrix runs it and timed by the
phases its pipeline recorded) against its floor, the reset after that cell, the matrix on
one reused cluster for each size in -scale and with a fresh cluster per cell for each size
in -fresh, the wall time of the catalog's whole matrix for each -parallel value, and memory.`,
	inputs:  "a catalog and one of its all-at-once cells without rollback (-from, -to).",
	outputs: "bench.json in -artifacts; progress on stderr.",
	flags: []flagSpec{
		{name: "catalog", def: "simulated", arg: "NAME|FILE", path: true, noMake: benchNoMake, usage: catalogFlag.usage},
		{name: "catalog-dir", def: catalogDirFlag.def, arg: "DIR", path: true, noMake: benchNoMake, usage: catalogDirFlag.usage},
		{name: "from", def: "v0.2.0", arg: "RELEASE", noMake: benchNoMake, usage: "cell to measure: from release"},
		{name: "to", def: "v0.2.2", arg: "RELEASE", noMake: benchNoMake, usage: "cell to measure: to release"},
		{name: "scale", kind: kindList, def: "1,2,4,6", arg: "SIZES", noMake: benchNoMake, usage: "matrix sizes measured on one reused cluster (empty: skip)"},
		{name: "fresh", kind: kindList, def: "1,2", arg: "SIZES", noMake: benchNoMake, usage: "matrix sizes measured with a fresh cluster per cell (empty: skip)"},
		{name: "parallel", kind: kindList, def: "1,2", arg: "LANES", noMake: benchNoMake, usage: "matrix -parallel values the catalog's whole matrix is timed with, wall time each (empty: skip)"},
		artifactsFlagSpec("where bench.json goes"),
	},
	makeTargets: []string{"bench"},
}

func runBench(ctx context.Context, args []string) error {
	fv := newFlagValues(benchCommand, "bench")
	if err := fv.parse(args); err != nil {
		return err
	}
	from, to, artifacts := fv.str("from"), fv.str("to"), fv.str("artifacts")
	ints := func(flag string) ([]int, error) {
		var out []int
		s := fv.raw(flag)
		for _, p := range fv.list(flag) {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 {
				return nil, fault.BadInputErr(fmt.Errorf("-%s %q: %q is not a positive integer (want a comma list such as 1,2,4,6, or empty to skip)", flag, cut(s), cut(p)))
			}
			out = append(out, n)
		}
		return out, nil
	}
	sc, err := ints("scale")
	if err != nil {
		return err
	}
	fr, err := ints("fresh")
	if err != nil {
		return err
	}
	par, err := ints("parallel")
	if err != nil {
		return err
	}
	for _, n := range par {
		if n > matrix.MaxParallel {
			return fault.BadInputErr(fmt.Errorf("-parallel %q: %d is more than %d clusters (want values from 1 to %d, e.g. 1,2)", cut(fv.raw("parallel")), n, matrix.MaxParallel, matrix.MaxParallel))
		}
	}
	// The measured cell is the catalog's plain all-at-once cell from→to.
	plain := false
	plan, err := matrix.Select(matrix.Input{Catalog: fv.str("catalog"), CatalogDir: fv.str("catalog-dir"),
		Filter: catalog.Filter{From: []string{from}, To: []string{to}, Rollback: &plain}, Order: "all-at-once"})
	if err != nil {
		return err
	}
	if _, err := bench.MeasuredCell(plan.Catalog, from, to); err != nil {
		return err
	}
	if err := matrix.CheckArtifactsDir(artifacts); err != nil {
		return err
	}
	if err := checkNodeImageEnv(); err != nil {
		return err
	}
	t0 := time.Now()
	img, err := resolveNodeImage(ctx, "", false)
	if err != nil {
		return err
	}
	nodeT := time.Since(t0)
	// The simulated images of the catalog's releases (a pull catalog's come from their registries).
	if plan.Simulated {
		var rels []string
		for _, r := range plan.Catalog.Releases {
			rels = append(rels, r.Version)
		}
		if _, err := images.BuildSimulated(ctx, images.BuildInput{Releases: rels, Log: os.Stderr}); err != nil {
			return err
		}
	}
	timing := cell.DefaultTiming()
	_, err = bench.Run(ctx, bench.Input{Catalog: plan.Catalog, NodeImage: img, NodeImageT: nodeT, From: from, To: to,
		ScaleCells: sc, FreshCells: fr, Parallel: par, Artifacts: artifacts, Log: os.Stderr, Timing: timing, ExitCode: reportedExit(ctx)})
	if err != nil {
		return fault.InfraErr(err)
	}
	return nil
}
