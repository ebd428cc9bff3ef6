package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/bisect"
	"github.com/ambient-e2e/upgrade-harness/harness/cmd/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/env/engine"
	"github.com/ambient-e2e/upgrade-harness/harness/env/prepare"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
)

func init() { register(bisectCommand, runBisect) }

var bisectCommand = &commandSpec{
	name:    "bisect",
	summary: "find the first build that breaks the upgrade from -from, in about log2(N) cells (make bisect)",
	description: `Finds the first build of an ordered list that breaks the upgrade from -from, the way
git bisect finds a commit: it runs the cell from -> build (the matrix's cell: same rules,
evidence and diagnosis) on one cluster, reset between steps, first on the known-good and
known-bad builds (default the first and the last; -trust-good, -trust-bad skip them), then
halving the range. A step that stays inconclusive after one retry is skipped, and the answer
then names the range it could not narrow, never a guess. It prints "first bad build: NAME",
the steps, the first bad build's diagnosis, its repro line and the compatibility table of
the last good and the first bad build. Exit 1 when a known-bad build fails (a regression
exists: found, a range, or the known-good build already failing), 0 when the known-bad one
passes, 3 when the harness cannot tell (an end inconclusive twice, a cell that could not run).`,
	inputs: `the release to upgrade from (-from) of a catalog (-catalog), and the builds: a builds file
(-builds FILE: YAML, builds: [{name, images: {operator, backend, runner, stateSync}, manifests: {path}}],
components and manifests left out keep the newest release's), an image template with build
ids (-image-template quay.io/ambient_code/vteam_{component}:{id} -ids FILE, one id a line), or
neither: the catalog's releases after -from, in version order. $NODE_IMAGE.`,
	outputs: `the plan (with -dry-run: builds, worst-case cells and a time estimate, on stdout), then
"first bad build: NAME" and the steps on stderr; summary.md, results.json, report.html,
junit.xml, compat.json and a failure bundle per failed step in -artifacts.`,
	flags: []flagSpec{
		catalogFlag, catalogDirFlag,
		{name: "from", arg: "RELEASE", makeVar: "FROM", usage: "the release every cell upgrades from (required)"},
		{name: "builds", arg: "FILE", path: true, makeVar: "BUILDS", usage: "the builds, oldest first, as a YAML file (see inputs)"},
		{name: "image-template", arg: "TEMPLATE", makeVar: "IMAGE_TEMPLATE",
			usage: "image reference of a build with {component} (operator, backend, claude_runner, state_sync) and {id}, e.g. quay.io/ambient_code/vteam_{component}:{id}; needs -ids"},
		{name: "ids", arg: "FILE", path: true, makeVar: "IDS", usage: "the build ids of -image-template, one a line, oldest first (# comments and blank lines skipped)"},
		{name: "good", arg: "BUILD", makeVar: "GOOD", usage: "the known-good build (default the first)"},
		{name: "bad", arg: "BUILD", makeVar: "BAD", usage: "the known-bad build (default the last)"},
		{name: "trust-good", kind: kindBool, def: "false", makeVar: "TRUST_GOOD", usage: "do not run the known-good build's cell first"},
		{name: "trust-bad", kind: kindBool, def: "false", makeVar: "TRUST_BAD", usage: "do not run the known-bad build's cell first"},
		{name: "order", arg: "ORDER", makeVar: "ORDER", usage: "upgrade order of every cell (default the catalog's default order)"},
		{name: "probe", kind: kindBool, def: "true", makeVar: "PROBE",
			usage: "probe the runners of steps with a 401 or a failed restart to diagnose why (-probe=false: no diagnosis)"},
		{name: "sweep", kind: kindBool, def: "true", makeVar: "SWEEP",
			usage: "run the compatibility sweep of the last good and the first bad build after the search (-sweep=false: none)"},
		artifactsFlagSpec("where reports and failure bundles go"),
		keepFlag,
		kubeconfigFlag, contextFlag, existingFlag,
		clusterFlagSpec(bisect.DefaultClusterName),
		dryRunFlag,
	},
	makeTargets: []string{"bisect"},
}

// bisectInput parses the bisect command's flags into a checked input and its
// plan. Nothing is touched: no engine, no cluster, no file written.
func bisectInput(args []string) (bisect.Input, bisect.Plan, bool, error) {
	fv := newFlagValues(bisectCommand, "bisect")
	if err := fv.parse(args); err != nil {
		return bisect.Input{}, bisect.Plan{}, false, err
	}
	k, err := matrix.ParseKeep(fv.str("keep"))
	if err != nil {
		return bisect.Input{}, bisect.Plan{}, false, fault.BadInputErr(err)
	}
	in := bisect.Input{ExitCode: exitcode.Of, Catalog: fv.str("catalog"), CatalogDir: fv.str("catalog-dir"), From: strings.TrimSpace(fv.str("from")),
		BuildsFile: fv.str("builds"), ImageTemplate: strings.TrimSpace(fv.str("image-template")), IDsFile: fv.str("ids"),
		Good: strings.TrimSpace(fv.str("good")), Bad: strings.TrimSpace(fv.str("bad")), TrustGood: fv.boolean("trust-good"), TrustBad: fv.boolean("trust-bad"),
		Order: strings.TrimSpace(fv.str("order")), SkipProbes: !fv.boolean("probe"), SkipSweep: !fv.boolean("sweep"),
		Artifacts: fv.str("artifacts"), Keep: k, Log: os.Stderr}
	// The target flags are the matrix's: read them through its input.
	var where matrix.Input
	if err := targetInput(fv, &where); err != nil {
		return in, bisect.Plan{}, false, err
	}
	in.Kubeconfig, in.Context, in.ClusterName = where.Kubeconfig, where.Context, where.ClusterName
	plan, err := bisect.Validate(in)
	return in, plan, fv.boolean("dry-run"), existingContext(fv, where, err)
}

func runBisect(ctx context.Context, args []string) error {
	// Bad input stops here, before any engine, image or cluster work.
	in, plan, dryRun, err := bisectInput(args)
	if err != nil {
		return err
	}
	if dryRun {
		bisect.PrintPlan(os.Stdout, "", in, plan)
		fmt.Println("(input checked, nothing run)")
		return nil
	}
	if err := holdCluster(in.ClusterName, in.Kubeconfig); err != nil {
		return err
	}
	if _, err := prepare.Engine(ctx, os.Stderr); err != nil {
		return err
	}
	ctx, stopWatch := engine.Watch(ctx, engine.WatchInput{Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }})
	defer stopWatch()
	ctx, stopNodes := watchNodes(ctx)
	defer stopNodes()
	if in.Kubeconfig == "" {
		img, err := prepare.NodeImage(ctx, os.Stderr, "", false)
		if err != nil {
			return err
		}
		in.NodeImage = img
	}
	in.ExitCode = reportedExit(ctx)
	out, err := bisect.Run(ctx, in)
	if cause := watchCause(ctx); cause != nil {
		return cause
	}
	// The answer's first line on stdout too, for scripts: "first bad build: NAME".
	if out.Section.Status != "" {
		fmt.Println(out.Section.Headline())
	}
	return err
}
