package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/ambient-e2e/upgrade-harness/fixtures/platform/release"
	"github.com/ambient-e2e/upgrade-harness/harness/bench"
	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/cell"
	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/images"
)

func init() {
	register("bench", "time each phase of a cell against its floor, the matrix scaling and memory ($ARTIFACTS/bench.json)", runBench)
}

func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	cat := fs.String("catalog", "simulated", "catalog name or file")
	catDir := fs.String("catalog-dir", "fixtures/releases", "directory of catalog files")
	from := fs.String("from", "v0.2.0", "cell to measure: from release")
	to := fs.String("to", "v0.2.2", "cell to measure: to release")
	scale := fs.String("scale", "1,2,4,6", "matrix sizes measured on one reused cluster")
	fresh := fs.String("fresh", "1,2", "matrix sizes measured with a fresh cluster per cell")
	artifacts := fs.String("artifacts", envOr("ARTIFACTS", "_artifacts"), "where bench.json goes")
	if err := badFlags(fs.Parse(args)); err != nil {
		return err
	}
	ints := func(s string) ([]int, error) {
		var out []int
		for _, p := range splitList(s) {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 {
				return nil, exitcode.BadInputErr(fmt.Errorf("%q: want positive integers, e.g. 1,2,4,6", s))
			}
			out = append(out, n)
		}
		return out, nil
	}
	sc, err := ints(*scale)
	if err != nil {
		return err
	}
	fr, err := ints(*fresh)
	if err != nil {
		return err
	}
	c, err := catalog.Open(*cat, *catDir)
	if err != nil {
		return err
	}
	t0 := time.Now()
	img, err := resolveNodeImage(ctx, "", false)
	if err != nil {
		return err
	}
	nodeT := time.Since(t0)
	if _, err := images.BuildSimulated(ctx, images.BuildInput{Releases: release.Versions(), Log: os.Stderr}); err != nil {
		return err
	}
	timing := cell.DefaultTiming()
	_, err = bench.Run(ctx, bench.Input{Catalog: c, NodeImage: img, NodeImageT: nodeT, From: *from, To: *to,
		ScaleCells: sc, FreshCells: fr, Artifacts: *artifacts, Log: os.Stderr, Timing: timing})
	if err != nil {
		return exitcode.InfraErr(err)
	}
	return nil
}
