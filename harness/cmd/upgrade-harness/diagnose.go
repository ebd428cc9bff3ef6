package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ambient-e2e/upgrade-harness/harness/catalog"
	"github.com/ambient-e2e/upgrade-harness/harness/env/prepare"
	"github.com/ambient-e2e/upgrade-harness/harness/exitcode"
	"github.com/ambient-e2e/upgrade-harness/harness/matrix"
	"github.com/ambient-e2e/upgrade-harness/harness/report"
)

func init() {
	register("diagnose", "compatibility sweep: every operator/backend/runner combination of -from and -to, which pair breaks on which call", runDiagnose)
}

// diagnoseInput parses the diagnose command's flags into a checked
// matrix.Input. Nothing is touched: no engine, no cluster, no file written.
func diagnoseInput(args []string) (matrix.Input, error) {
	fs := flag.NewFlagSet("diagnose", flag.ContinueOnError)
	cat := fs.String("catalog", "simulated", "catalog name in -catalog-dir, or a catalog file (path with / or ending in .yaml)")
	catDir := fs.String("catalog-dir", catalog.DefaultDir, "directory of catalog files")
	from := fs.String("from", "", "release A (required)")
	to := fs.String("to", "", "release B (required)")
	manifests := fs.String("manifests-dir", "", "deploy both releases from rendered manifests kind-<version>.yaml in this directory; each must have its file")
	remap := fs.String("image-remap", "", "rewrite image prefixes of every release: FROM=TO,…; each FROM must match an image")
	artifacts := artifactsFlag(fs, "where compat.json and summary.md go (created when missing)")
	keep := fs.String("keep", "on-failure", "keep the kind cluster: on-failure (a combination could not run), always or never")
	kubeconfig := fs.String("kubeconfig", "", "run on this existing cluster instead of kind")
	kctx := fs.String("context", "", "kubeconfig context of the existing cluster (default: its current context)")
	existing := fs.Bool("existing", false, "run on the cluster of $KUBECONFIG (or ~/.kube/config) instead of kind")
	clusterName := fs.String("cluster", "uh-diagnose", "kind cluster to create or reuse")
	if err := parseFlags(fs, args); err != nil {
		return matrix.Input{}, err
	}
	k, err := matrix.ParseKeep(*keep)
	if err != nil {
		return matrix.Input{}, exitcode.BadInputErr(err)
	}
	in := matrix.Input{Catalog: *cat, CatalogDir: *catDir, Artifacts: *artifacts, Keep: k, Kubeconfig: *kubeconfig, Context: *kctx,
		Log: os.Stderr, Filter: catalog.Filter{From: splitList(*from), To: splitList(*to)}}
	if strings.TrimSpace(*remap) != "" {
		if in.ImageRemap, err = catalog.ParseImageRemap(*remap); err != nil {
			return in, exitcode.BadInputErr(fmt.Errorf("-image-remap: %w", err))
		}
	}
	if *manifests != "" {
		in.ManifestOverride = &catalog.ManifestOverride{Dir: *manifests}
	}
	if *existing && in.Kubeconfig == "" {
		in.Kubeconfig = defaultKubeconfig()
	}
	if in.Kubeconfig != "" {
		if isSet(fs, "cluster") {
			return in, exitcode.BadInputErr(fmt.Errorf("-cluster %q: names a kind cluster, but -kubeconfig/-existing runs on an existing one (want one of the two)", *clusterName))
		}
	} else {
		in.ClusterName = *clusterName
		if err := checkNodeImageEnv(); err != nil {
			return in, err
		}
	}
	_, _, _, err = matrix.ValidateSweep(in)
	if err != nil && *existing && !isSet(fs, "kubeconfig") && strings.Contains(err.Error(), in.Kubeconfig) {
		err = &exitcode.Error{Code: exitcode.Of(err), Err: fmt.Errorf("-existing (the kubeconfig of $KUBECONFIG, else ~/.kube/config): %w", err)}
	}
	return in, err
}

func runDiagnose(ctx context.Context, args []string) error {
	// Bad input stops here, before any engine, image or cluster work.
	in, err := diagnoseInput(args)
	if err != nil {
		return err
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
