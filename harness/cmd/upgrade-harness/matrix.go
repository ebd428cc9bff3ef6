package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/env/engine"
	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
	"github.com/ambient-e2e/upgrade-harness/harness/env/prepare"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
)

func init() {
	register(matrixCommand, runMatrix)
	register(imagesCommand, runImages)
}

var matrixCommand = &commandSpec{
	name:    "matrix",
	summary: "run the upgrade cells of a catalog and judge them (make e2e, make repro); -dry-run only checks the input",
	description: `Runs the selected cells of a catalog: each cell installs its from release on a kind
cluster (or an existing one), upgrades it in place to its to release in the cell's order
while sessions and traffic flow on every caller→runner path, and judges the cell by its
rules (a runner 401, a broken session). Every input is checked before the engine, an
image or a cluster is touched; -dry-run stops there and prints the plan.`,
	inputs:  "a catalog (-catalog), the cell selection flags, optionally a candidate release (-candidate-*), $NODE_IMAGE.",
	outputs: "the plan on stderr (stdout with -dry-run); junit.xml, summary.md, results.json and a failure bundle per failed cell in -artifacts.",
	flags: concat(cellFlagSpecs, []flagSpec{
		artifactsFlagSpec("where reports and failure bundles go"),
		keepFlag,
		kubeconfigFlag, contextFlag, existingFlag,
		clusterFlagSpec("uh-matrix"),
		{name: "repeat", kind: kindInt, def: "1", makeVar: "REPEAT", usage: "run each selected cell this many times (1–100); cells whose verdicts differ are flaky (exit 1)"},
		{name: "parallel", kind: kindInt, def: "1", makeVar: "PARALLEL",
			usage: "run the cells on this many kind clusters at once (1–8), each cell on one: the -cluster name, then NAME-1, …; more than the cell runs is clamped"},
		dryRunFlag,
		{name: "diagnose", kind: kindBool, def: "false", makeVar: "DIAGNOSE",
			usage: "after the cells, run the compatibility sweep (as the diagnose command) of every failed cell's from and to, on the same cluster"},
		{name: "probe", kind: kindBool, def: "true", makeVar: "PROBE",
			usage: "probe the runners of cells with a 401 or a failed restart to diagnose why (-probe=false: no diagnosis)"},
		{name: "junit-inconclusive", def: "failure", choices: []string{"failure", "skipped"}, makeVar: "JUNIT_INCONCLUSIVE",
			usage: "how junit.xml shows an inconclusive cell: failure (CI dashboards show it) or skipped (the old behaviour)"},
	}),
	makeTargets: []string{"e2e", "repro"},
}

// matrixInput parses the matrix command's flags into a checked matrix.Input
// and its plan. Nothing is touched: no engine, no cluster, no file written.
func matrixInput(args []string) (matrix.Input, matrix.Plan, bool, error) {
	fv := newFlagValues(matrixCommand, "matrix")
	if err := fv.parse(args); err != nil {
		return matrix.Input{}, matrix.Plan{}, false, err
	}
	in, err := cellInput(fv)
	if err != nil {
		return in, matrix.Plan{}, false, err
	}
	k, err := matrix.ParseKeep(fv.str("keep"))
	if err != nil {
		return in, matrix.Plan{}, false, fault.BadInputErr(err)
	}
	in.Keep, in.Artifacts, in.Log = k, fv.str("artifacts"), os.Stderr
	if r := fv.integer("repeat"); r < 1 || r > 100 {
		return in, matrix.Plan{}, false, fault.BadInputErr(fmt.Errorf("-repeat %d: want a count from 1 to 100", r))
	}
	in.Repeat = fv.integer("repeat")
	if n := fv.integer("parallel"); n < 1 || n > matrix.MaxParallel {
		return in, matrix.Plan{}, false, fault.BadInputErr(fmt.Errorf("-parallel %d: want a number of clusters from 1 to %d (each runs one cell at a time)", n, matrix.MaxParallel))
	}
	in.Parallel = fv.integer("parallel")
	in.Diagnose, in.SkipProbes = fv.boolean("diagnose"), !fv.boolean("probe")
	if in.JUnitInconclusive, err = report.ParseJUnitInconclusive(fv.str("junit-inconclusive")); err != nil {
		return in, matrix.Plan{}, false, fault.BadInputErr(err)
	}
	if err := targetInput(fv, &in); err != nil {
		return in, matrix.Plan{}, false, err
	}
	plan, err := matrix.Validate(in)
	if err == nil {
		err = checkRollbackPlanned(in, plan)
	}
	return in, plan, fv.boolean("dry-run"), existingContext(fv, in, err)
}

func runMatrix(ctx context.Context, args []string) error {
	in, plan, dryRun, err := matrixInput(args)
	if err != nil {
		return err
	}
	if dryRun {
		printPlan(os.Stdout, "", in, plan)
		return nil
	}
	printPlan(os.Stderr, "[matrix] ", in, plan)
	// Every lane's cluster is claimed before anything is touched: one that
	// another run holds is bad input, not a failure halfway through.
	for _, name := range matrix.LaneClusters(in, plan) {
		if err := holdCluster(name, in.Kubeconfig); err != nil {
			return err
		}
	}
	// Only now the machine is touched: engine, node image, then the cells.
	if _, err := prepare.Engine(ctx, os.Stderr); err != nil {
		return err
	}
	// From here on a dead engine ends the run (exit 3, naming it) instead of
	// leaving it hung in a docker or kind call.
	ctx, stopWatch := engine.Watch(ctx, engine.WatchInput{Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }})
	defer stopWatch()
	ctx, stopNodes := watchNodes(ctx)
	defer stopNodes()
	err = runMatrixCells(ctx, in, plan)
	if cause := watchCause(ctx); cause != nil {
		return cause
	}
	return err
}

func runMatrixCells(ctx context.Context, in matrix.Input, plan matrix.Plan) error {
	if in.Kubeconfig == "" {
		// A candidate's localhost/ images come from the local store: checked
		// before the node image (which may take minutes to build).
		if err := matrix.CheckCandidateImages(ctx, plan.Catalog); err != nil {
			return err
		}
		img, err := prepare.NodeImage(ctx, os.Stderr, "", false)
		if err != nil {
			return err
		}
		in.NodeImage = img
	}
	in.ExitCode = reportedExit(ctx)
	_, err := matrix.Run(ctx, in) // its error is the run's outcome (nil: every cell as expected)
	return err
}

// printPlan says what a run with this input does, before anything is touched.
func printPlan(w io.Writer, prefix string, in matrix.Input, plan matrix.Plan) {
	images := "pulled from their registries"
	if plan.Simulated {
		built := plan.Releases
		if cand := plan.Catalog.Candidate; cand != nil {
			// The images a candidate kept are its newest release's.
			for _, v := range plan.Catalog.ReleasesOfImages(cand.Images.List()) {
				if !slices.Contains(built, v) {
					built = append(slices.Clone(built), v)
				}
			}
		}
		images = "simulated, built for " + strings.Join(built, ", ")
	}
	if len(in.ImageRemap) > 0 {
		images += " (remapped " + catalog.FormatImageRemap(in.ImageRemap) + ")"
	}
	if in.ManifestOverride != nil {
		images += "; manifests from " + in.ManifestOverride.Dir
	}
	target := "kind cluster " + in.ClusterName
	if lanes := matrix.LaneClusters(in, plan); len(lanes) > 1 {
		target = fmt.Sprintf("%d kind clusters at once (%s)", len(lanes), strings.Join(lanes, ", "))
	}
	if in.Kubeconfig != "" {
		target = "existing cluster " + in.Kubeconfig
		if in.Context != "" {
			target += " context " + in.Context
		}
	}
	diag := "runner probe of cells with a 401 or a failed restart"
	if in.SkipProbes {
		diag = "no runner probe"
	}
	if in.Diagnose {
		diag += ", compatibility sweep of each failed cell's from → to"
	}
	fmt.Fprintf(w, "%scatalog %s (%s): %d cell(s); images %s; on %s; keep %s; diagnosis: %s; reports in %s\n",
		prefix, plan.Catalog.Name, plan.Catalog.File, len(plan.Cells), images, target, in.Keep, diag, in.Artifacts)
	if note := matrix.ParallelNote(in, plan); note != "" {
		fmt.Fprintf(w, "%s%s\n", prefix, note)
	}
	if cand := plan.Catalog.Candidate; cand != nil {
		manifests := cand.Manifests.ResolvedPath()
		if g := cand.Manifests.Git; manifests == "" && g != nil {
			manifests = g.URL + "@" + g.Ref + " " + g.Path
		}
		fmt.Fprintf(w, "%scandidate %s: images %s; manifests %s (%s)\n", prefix, cand.Version, strings.Join(cand.Images.List(), ", "),
			manifests, cand.Notes)
		if own := plan.Catalog.CandidateOwnImages(); len(own) > 0 && in.Kubeconfig == "" {
			fmt.Fprintf(w, "%s  its own images are loaded into kind from the local Docker store (localhost/ ones are never pulled): %s\n", prefix, strings.Join(own, ", "))
		}
	}
	for _, c := range plan.Cells {
		exp := string(c.Expect.Verdict)
		if c.Expect.Why != "" {
			exp += ": " + c.Expect.Why
		}
		over := ""
		if !c.Overrides.IsZero() {
			over = " overrides " + report.FormatOverrides(c.Overrides)
		}
		fmt.Fprintf(w, "%s  %-34s order %-14s%s expect %s\n", prefix, c.Name(), c.Order.Text, over, exp)
	}
}

var imagesCommand = &commandSpec{
	name:    "images",
	summary: "build the simulated component images (localhost/ambient-sim/vteam_*:vX.Y.Z)",
	description: `Builds the images of the harness's simulated platform releases into the local
Docker store, preparing the engine first. matrix builds the ones its cells need itself;
this is for building them ahead of time.`,
	inputs:      "the releases to build (-releases).",
	outputs:     "images localhost/ambient-sim/vteam_*:RELEASE in the local Docker store; progress on stderr.",
	flags:       []flagSpec{{name: "releases", kind: kindList, arg: "RELEASES", noMake: "make images builds every release", usage: "releases to build (default: every simulated release)"}},
	makeTargets: []string{"images"},
}

func runImages(ctx context.Context, args []string) error {
	fv := newFlagValues(imagesCommand, "images")
	if err := fv.parse(args); err != nil {
		return err
	}
	// The simulated releases are what the simulated catalog lists.
	sim, err := catalog.LoadByName(catalog.DefaultDir, "simulated")
	if err != nil {
		return err
	}
	var known []string
	for _, r := range sim.Releases {
		known = append(known, r.Version)
	}
	rels := fv.list("releases")
	for _, r := range rels {
		if !slices.Contains(known, r) {
			return fault.BadInputErr(fmt.Errorf("-releases %q: %q is not a simulated release (want one of %s)", cut(fv.raw("releases")), cut(r), strings.Join(known, ", ")))
		}
	}
	if len(rels) == 0 {
		rels = known
	}
	if _, err := prepare.Engine(ctx, os.Stderr); err != nil {
		return err
	}
	_, err = images.BuildSimulated(ctx, images.BuildInput{Releases: rels, Log: os.Stderr})
	return err
}
