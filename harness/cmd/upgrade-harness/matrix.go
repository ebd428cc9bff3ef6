package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/env/engine"
	"github.com/ambient-e2e/upgrade-harness/harness/env/images"
	"github.com/ambient-e2e/upgrade-harness/harness/env/prepare"
	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
)

func init() {
	register("matrix", "run the upgrade matrix of a catalog (the main job; make e2e / make repro); -dry-run only checks the input", runMatrix)
	register("images", "build the simulated component images (localhost/ambient-sim/vteam_*:vX.Y.Z)", runImages)
}

// matrixInput parses the matrix command's flags into a checked matrix.Input
// and its plan. Nothing is touched: no engine, no cluster, no file written.
func matrixInput(args []string) (matrix.Input, matrix.Plan, bool, error) {
	fs := flag.NewFlagSet("matrix", flag.ContinueOnError)
	cf := addCellFlags(fs)
	artifacts := artifactsFlag(fs, "where reports and failure bundles go (created when missing)")
	keep := fs.String("keep", "on-failure", "keep kind clusters: on-failure, always or never")
	kubeconfig := fs.String("kubeconfig", "", "run on this existing cluster instead of kind")
	kctx := fs.String("context", "", "kubeconfig context of the existing cluster (default: its current context)")
	existing := fs.Bool("existing", false, "run on the cluster of $KUBECONFIG (or ~/.kube/config) instead of kind")
	clusterName := fs.String("cluster", "uh-matrix", "kind cluster to create or reuse")
	repeat := fs.Int("repeat", 1, "run each selected cell this many times (1–100); cells whose verdicts differ are flaky (exit 1)")
	dryRun := fs.Bool("dry-run", false, "check every input, print the plan and exit (0 valid, 2 bad input) without touching the engine or a cluster")
	diagnoseFlag := fs.Bool("diagnose", false, "after the cells, run the compatibility sweep (as `diagnose`) of every failed cell's from and to, on the same cluster")
	probe := fs.Bool("probe", true, "probe the runners of cells with a 401 or a failed restart to diagnose why (false: no diagnosis)")
	if err := parseFlags(fs, args); err != nil {
		return matrix.Input{}, matrix.Plan{}, false, err
	}
	in, err := cf.input()
	if err != nil {
		return in, matrix.Plan{}, false, err
	}
	k, err := matrix.ParseKeep(*keep)
	if err != nil {
		return in, matrix.Plan{}, false, exitcode.BadInputErr(err)
	}
	in.Keep, in.Artifacts, in.Kubeconfig, in.Context, in.Log = k, *artifacts, *kubeconfig, *kctx, os.Stderr
	if *repeat < 1 || *repeat > 100 {
		return in, matrix.Plan{}, false, exitcode.BadInputErr(fmt.Errorf("-repeat %d: want a count from 1 to 100", *repeat))
	}
	in.Repeat = *repeat
	in.Diagnose, in.SkipProbes = *diagnoseFlag, !*probe
	if *existing && in.Kubeconfig == "" {
		in.Kubeconfig = defaultKubeconfig()
	}
	if in.Kubeconfig != "" {
		if isSet(fs, "cluster") {
			return in, matrix.Plan{}, false, exitcode.BadInputErr(fmt.Errorf("-cluster %q: names a kind cluster, but -kubeconfig/-existing runs on an existing one (want one of the two)", *clusterName))
		}
	} else {
		in.ClusterName = *clusterName
		if err := checkNodeImageEnv(); err != nil {
			return in, matrix.Plan{}, false, err
		}
	}
	plan, err := matrix.Validate(in)
	if err != nil && *existing && !isSet(fs, "kubeconfig") && strings.Contains(err.Error(), in.Kubeconfig) {
		err = &exitcode.Error{Code: exitcode.Of(err), Err: fmt.Errorf("-existing (the kubeconfig of $KUBECONFIG, else ~/.kube/config): %w", err)}
	}
	return in, plan, *dryRun, err
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
	if err := holdCluster(in.ClusterName, in.Kubeconfig); err != nil {
		return err
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
	out, err := matrix.Run(ctx, in)
	if err == nil && out.ExitCode != exitcode.OK {
		err = &exitcode.Error{Code: out.ExitCode, Err: fmt.Errorf("the matrix did not match its expectations")}
	}
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

func runImages(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	releases := fs.String("releases", "", "releases to build, comma list (default: every simulated release)")
	if err := parseFlags(fs, args); err != nil {
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
	rels := splitList(*releases)
	for _, r := range rels {
		if !slices.Contains(known, r) {
			return exitcode.BadInputErr(fmt.Errorf("-releases %q: %q is not a simulated release (want one of %s)", *releases, r, strings.Join(known, ", ")))
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
