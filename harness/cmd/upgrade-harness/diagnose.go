package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/env/prepare"
	"github.com/ambient-e2e/upgrade-harness/harness/fault"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
)

func init() { register(diagnoseCommand, runDiagnose) }

var diagnoseCommand = &commandSpec{
	name:    "diagnose",
	summary: "compatibility sweep: every operator/backend/runner combination of -from and -to, which pair breaks on which call",
	description: `Deploys every combination of the operator, backend and runner of two releases
(-from and -to) on one cluster and sends the platform's calls between them, to find which
component pair breaks on which call. matrix -diagnose runs it for each failed cell.`,
	inputs:  "a catalog (-catalog), one release each for -from and -to, $NODE_IMAGE.",
	outputs: "a compatibility table on stdout; compat.json and summary.md in -artifacts.",
	flags: []flagSpec{
		catalogFlag, catalogDirFlag,
		{name: "from", kind: kindList, arg: "RELEASE", makeVar: "FROM", usage: "release A (required, one)"},
		{name: "to", kind: kindList, arg: "RELEASE", makeVar: "TO", usage: "release B (required, one)"},
		manifestsDirFlag, imageRemapFlag,
		artifactsFlagSpec("where compat.json and summary.md go"),
		keepFlag,
		kubeconfigFlag, contextFlag, existingFlag,
		clusterFlagSpec("uh-diagnose"),
		dryRunFlag,
	},
	makeTargets: []string{"diagnose"},
}

// diagnoseInput parses the diagnose command's flags into a checked
// matrix.Input. Nothing is touched: no engine, no cluster, no file written.
func diagnoseInput(args []string) (matrix.Input, bool, error) {
	fv := newFlagValues(diagnoseCommand, "diagnose")
	if err := fv.parse(args); err != nil {
		return matrix.Input{}, false, err
	}
	k, err := matrix.ParseKeep(fv.str("keep"))
	if err != nil {
		return matrix.Input{}, false, fault.BadInputErr(err)
	}
	in := matrix.Input{Catalog: fv.str("catalog"), CatalogDir: fv.str("catalog-dir"), Artifacts: fv.str("artifacts"), Keep: k,
		Log: os.Stderr, Filter: catalog.Filter{From: fv.list("from"), To: fv.list("to")}}
	if remap := fv.str("image-remap"); strings.TrimSpace(remap) != "" {
		if in.ImageRemap, err = catalog.ParseImageRemap(remap); err != nil {
			return in, false, fault.BadInputErr(fmt.Errorf("-image-remap: %w", err))
		}
	}
	if d := fv.str("manifests-dir"); d != "" {
		in.ManifestOverride = &catalog.ManifestOverride{Dir: d}
	}
	if err := targetInput(fv, &in); err != nil {
		return in, false, err
	}
	_, _, _, err = matrix.ValidateSweep(in)
	return in, fv.boolean("dry-run"), existingContext(fv, in, err)
}

func runDiagnose(ctx context.Context, args []string) error {
	// Bad input stops here, before any engine, image or cluster work.
	in, dryRun, err := diagnoseInput(args)
	if err != nil {
		return err
	}
	if dryRun {
		target := "kind cluster " + in.ClusterName
		if in.Kubeconfig != "" {
			target = "existing cluster " + in.Kubeconfig
		}
		fmt.Printf("compatibility sweep %s ↔ %s of catalog %s on %s; keep %s; reports in %s (input checked, nothing run)\n",
			in.Filter.From[0], in.Filter.To[0], in.Catalog, target, in.Keep, in.Artifacts)
		return nil
	}
	if err := holdCluster(in.ClusterName, in.Kubeconfig); err != nil {
		return err
	}
	if in.Kubeconfig == "" {
		img, err := resolveNodeImage(ctx, "", false)
		if err != nil {
			return err
		}
		in.NodeImage = img
	} else if _, err := prepare.Engine(ctx, os.Stderr); err != nil {
		return err
	}
	out, err := matrix.Sweep(ctx, in)
	if len(out.Compat.Combinations) > 0 {
		fmt.Print(report.CompatMarkdown(out.Compat))
	}
	return err
}
