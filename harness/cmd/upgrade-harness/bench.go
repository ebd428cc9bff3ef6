package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/ambient-e2e/upgrade-harness/harness/bench"
	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
)

func init() {
	register("bench", "time each phase of a cell against its floor, the matrix scaling and memory ($ARTIFACTS/bench.json)", runBench)
}

func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	cat := fs.String("catalog", "simulated", "catalog name or file")
	catDir := fs.String("catalog-dir", catalog.DefaultDir, "directory of catalog files")
	from := fs.String("from", "v0.2.0", "cell to measure: from release")
	to := fs.String("to", "v0.2.2", "cell to measure: to release")
	scale := fs.String("scale", "1,2,4,6", "matrix sizes measured on one reused cluster")
	fresh := fs.String("fresh", "1,2", "matrix sizes measured with a fresh cluster per cell")
	artifacts := artifactsFlag(fs, "where bench.json goes")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ints := func(flag, s string) ([]int, error) {
		var out []int
		for _, p := range splitList(s) {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 {
				return nil, exitcode.BadInputErr(fmt.Errorf("-%s %q: %q is not a positive integer (want a comma list such as 1,2,4,6, or empty to skip)", flag, s, p))
			}
			out = append(out, n)
		}
		return out, nil
	}
	sc, err := ints("scale", *scale)
	if err != nil {
		return err
	}
	fr, err := ints("fresh", *fresh)
	if err != nil {
		return err
	}
	// The measured cell is the catalog's all-at-once cell from→to.
	plan, err := matrix.Select(matrix.Input{Catalog: *cat, CatalogDir: *catDir,
		Filter: catalog.Filter{From: []string{*from}, To: []string{*to}}, Order: "all-at-once"})
	if err != nil {
		return err
	}
	if plan.Cells[0].Source == "ad-hoc" {
		return exitcode.BadInputErr(fmt.Errorf("-from %s -to %s: catalog %s has no all-at-once cell %s→%s to measure (want one of its cells, e.g. -from v0.2.0 -to v0.2.2)", *from, *to, plan.Catalog.Name, *from, *to))
	}
	if err := matrix.CheckArtifactsDir(*artifacts); err != nil {
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
	_, err = bench.Run(ctx, bench.Input{Catalog: plan.Catalog, NodeImage: img, NodeImageT: nodeT, From: *from, To: *to,
		ScaleCells: sc, FreshCells: fr, Artifacts: *artifacts, Log: os.Stderr, Timing: timing})
	if err != nil {
		return exitcode.InfraErr(err)
	}
	return nil
}
